"""Burst synchronisation: STF autocorrelation detection, coarse CFO (STF), fine timing (LTF
cross-correlation) and fine CFO (LTF).

Detection statistic (Schmidl & Cox, normalised): with lag L = n_fft/4 (the STF period) and window
W = 8 L, M(d) = |sum x[d+m+L] x*[d+m]|^2 / (sum |x[d+m]|^2 * sum |x[d+m+L]|^2), m = 0..W-1. For
white Gaussian noise M is the squared sample correlation of W complex pairs, Beta(1, W-1)
distributed: P(M > t) = (1 - t)^(W-1). The threshold is set from a target false-alarm probability
per sample, not tuned to any signal. A second, independent test on the LTF (normalised
cross-correlation with the known two-symbol LTF, same Beta law with 2 n_fft samples, threshold set
for a false-alarm probability over the search window) confirms the burst and gives its timing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phy.params import OfdmParams
from phy.preamble import ltf_symbol, stf_period

STF_WINDOW_PERIODS = 8


def beta_threshold(n_samples: int, false_alarm_prob: float) -> float:
    """t with P(M > t) = false_alarm_prob for M ~ Beta(1, n_samples - 1) (squared sample
    correlation of ``n_samples`` complex white-noise pairs)."""
    return float(1.0 - false_alarm_prob ** (1.0 / (n_samples - 1)))


def stf_span(params: OfdmParams) -> tuple[int, int]:
    """(lag L, window W) of the STF autocorrelation, samples."""
    lag = stf_period(params)
    return lag, STF_WINDOW_PERIODS * lag


def stf_detect(x: np.ndarray, params: OfdmParams, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions where the normalised STF autocorrelation M of x (complex (n,)) exceeds ``threshold``.

    Tested as |P|^2 > threshold * E1 * E2 (no division; windows without energy never pass), with
    window sums from running sums in float64, in one compiled pass (``phy.kernels.stf_scan``).
    Returns (indices int64 (k,) into x of the windows' first samples, their autocorrelation P
    complex128 (k,)); empty when x is shorter than W + L.
    """
    from phy.kernels import stf_scan

    lag, w = stf_span(params)
    return stf_scan(np.asarray(x, dtype=np.complex64), lag, w, float(threshold))


def coarse_cfo_hz(autocorr: complex, params: OfdmParams) -> float:
    """CFO in Hz from an STF autocorrelation value, unambiguous in ±fs / (2 L) = ±fs/32 at n_fft 64."""
    lag, _ = stf_span(params)
    return float(np.angle(autocorr) / (2 * np.pi * lag) * params.sample_rate_hz)


@dataclass(frozen=True)
class LtfSync:
    """Result of the LTF search.

    Attributes:
        first_ltf: index (in the searched array) of the first sample of the first LTF symbol
            (after the LTF guard interval), samples.
        cfo_hz: total CFO estimate (coarse + fine), Hz.
        metric: normalised correlation peak in [0, 1].
    """

    first_ltf: int
    cfo_hz: float
    metric: float


@lru_cache(maxsize=8)
def _ltf_template(params: OfdmParams) -> tuple[np.ndarray, float]:
    """(one LTF symbol in time, complex128 (n_fft,); the energy of both symbols)."""
    sym = np.ascontiguousarray(ltf_symbol(params), dtype=np.complex128)
    sym.flags.writeable = False
    return sym, 2 * float(np.sum(np.abs(sym) ** 2))


def ltf_search(x: np.ndarray, lo: int, hi: int, cfo_candidates_hz: list[float], params: OfdmParams,
               false_alarm_prob: float, first_path_fraction: float = 0.5) -> LtfSync | None:
    """Find the LTF whose first symbol starts in [lo, hi) of x (needs x up to hi + 2 n_fft).

    Each CFO hypothesis (Hz) derotates the segment; the hypothesis with the highest normalised
    correlation wins. The timing is the earliest position within n_cp/2 before the peak whose metric
    reaches ``first_path_fraction`` of the peak (the first strong path). Returns None when the peak
    stays under the false-alarm threshold.
    """
    from phy.kernels import ltf_peak

    n = params.n_fft
    sym, e_tpl = _ltf_template(params)
    seg = x[lo: hi + 2 * n].astype(np.complex128, copy=False)
    if seg.size < 2 * n + 1:
        return None
    best = None
    for f in cfo_candidates_hz:
        peak, k, fine, n_pos = ltf_peak(seg, -2 * np.pi * f / params.sample_rate_hz, sym, e_tpl,
                                        first_path_fraction, params.n_cp // 2, params.n_cp // 4)
        if best is None or peak > best[0]:
            best = (peak, k, fine, f)
    peak, k, fine, f = best
    if peak < beta_threshold(2 * n, false_alarm_prob / n_pos):
        return None
    return LtfSync(first_ltf=lo + k, cfo_hz=f + fine / (2 * np.pi * n) * params.sample_rate_hz, metric=peak)
