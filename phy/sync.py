"""Burst synchronisation: STF autocorrelation detection, coarse CFO (STF), fine timing (LTF
cross-correlation) and fine CFO (LTF), and the DC offset of a burst.

Detection statistic (Schmidl & Cox, normalised, made blind to a constant and to one tone): with lag
L = n_fft/4 (the STF period), H = L/2 and window W = 8 L, P_L(d) = sum x[d+m+L] x*[d+m] and
P_H(d) = sum x[d+m+H] x*[d+m], m = 0..W-1, E1, E2 the energies of x[d..d+W) and x[d+L..d+L+W); the
test is T(d) = (|P_L|^2 - |P_H|^2) / (E1 E2) > t. The STF's lines are on every fourth subcarrier
with as many odd as even multiples, so its lag-H autocorrelation is zero and T = |P_L|^2 / (E1 E2)
(the classic metric). A complex tone A exp(j w n) (a DC offset or LO leakage is the tone w = 0, a CW
spur any other) is periodic at every lag: it adds W |A|^2 to both |P_L| and |P_H|, and its cross
terms with the noise are the same samples in both sums but for the window's H-sample edges, so a
tone cancels in T instead of passing the test on every sample (the classic metric does: M = 1/4 for
a tone at the noise power, far above t). For white Gaussian noise |P_L|^2 / (E1 E2) and
|P_H|^2 / (E1 E2) are nearly independent, each Beta(1, W - 1) ~ Exp(W - 1): their difference is
Laplace, P(T > t) = (1 - t)^(W-1) / 2, and t is set from a target false-alarm probability per
sample, not tuned to any signal. A second, independent test on the LTF (normalised
cross-correlation with the known two-symbol LTF, Beta law with 2 n_fft samples, threshold set for a
false-alarm probability over the search window) confirms the burst and gives its timing.

Coarse CFO: the angle of P_L is unambiguous in
±fs / (2 L); a wider search range adds the aliases f + k fs / L as hypotheses that the LTF test
decides between (``cfo_hypotheses``).

DC offset: the transmitter ends every burst with ``params.idle_gap`` zero samples, so the mean of the
received samples in that gap before a burst is its DC offset (noise averaged over the gap);
``gap_dc`` estimates it, the FFT windows remove it, and the LTF search and the header remove the
previous burst's estimate (a DC offset or LO leakage changes slowly).
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


def stf_threshold(params: OfdmParams, false_alarm_prob: float) -> float:
    """t with P(T > t) = false_alarm_prob for white Gaussian noise (module docstring)."""
    _, w = stf_span(params)
    return beta_threshold(w, min(2 * false_alarm_prob, 0.5))


STF_BLOCK = 2048
"""The STF scan's running sums restart every STF_BLOCK windows (stream positions), samples."""


def stf_detect(x: np.ndarray, params: OfdmParams, threshold: float, first: int = 0, offset: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Positions d >= ``first`` where the STF statistic T of x (complex (n,)) exceeds ``threshold``
    (module docstring).

    Tested as |P_L|^2 - |P_H|^2 > threshold * E1 * E2 (no division; windows without energy never
    pass), with window sums from running sums in float64, in one compiled pass
    (``phy.kernels.stf_scan``), restarted at every stream position (x[0] is stream index ``offset``)
    that is a multiple of STF_BLOCK, so x must hold the one at or before ``first``. Returns (indices int64 (k,) into x of the windows' first samples,
    their autocorrelation P_L complex128 (k,)); empty when x is shorter than first + W + L.
    """
    from phy.kernels import stf_scan

    lag, w = stf_span(params)
    return stf_scan(np.asarray(x, dtype=np.complex64), int(first), lag, w, float(threshold), int(offset), STF_BLOCK)


def coarse_cfo_hz(autocorr: complex, params: OfdmParams) -> float:
    """CFO in Hz from an STF autocorrelation value, unambiguous in ±fs / (2 L) = ±fs/32 at n_fft 64."""
    lag, _ = stf_span(params)
    return float(np.angle(autocorr) / (2 * np.pi * lag) * params.sample_rate_hz)


def cfo_hypotheses(autocorr: complex, params: OfdmParams, max_cfo_hz: float | None) -> list[float]:
    """CFO hypotheses (Hz) for the LTF test from an STF autocorrelation value.

    ``max_cfo_hz`` None: the coarse estimate f0 (range ±fs / (2 L)), and its nearest alias
    f0 ∓ fs / L when |f0| is beyond 0.3 fs / L (near the edge of the range noise may have wrapped
    it). A number: every alias f0 + k fs / L within ±(max_cfo_hz + fs / (4 L)), nearest to f0 first.
    """
    f0 = coarse_cfo_hz(autocorr, params)
    lag, _ = stf_span(params)
    alias = params.sample_rate_hz / lag
    if max_cfo_hz is None:
        return [f0] + ([f0 - np.sign(f0) * alias] if abs(f0) > 0.3 * alias else [])
    reach = max_cfo_hz + alias / 4
    k_max = int(np.ceil((reach + abs(f0)) / alias))
    cands = [f0 + k * alias for k in range(-k_max, k_max + 1) if abs(f0 + k * alias) <= reach]
    return sorted(cands, key=lambda f: abs(f - f0)) or [f0]


def gap_dc(x: np.ndarray, gap_start: int, burst_start: int, params: OfdmParams) -> complex | None:
    """DC offset (x's units) before the burst starting at index ``burst_start`` of x: the mean of x
    over the transmitter's idle gap, [max(burst_start - idle_gap, gap_start) + n_cp, burst_start - n_cp)
    clipped to x (``gap_start``: where the previous burst ended). None when that holds fewer than
    n_fft / 2 samples (bursts back to back, or the stream starts there)."""
    lo = max(burst_start - params.idle_gap, gap_start, 0) + params.n_cp
    hi = min(burst_start - params.n_cp, x.size)
    if hi - lo < params.n_fft // 2:
        return None
    return complex(np.mean(x[lo:hi], dtype=np.complex128))


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
               false_alarm_prob: float, first_path_fraction: float = 0.5, *, dc: complex = 0j) -> LtfSync | None:
    """Find the LTF whose first symbol starts in [lo, hi) of x (needs x up to hi + 2 n_fft), the DC
    offset ``dc`` (x's units) removed.

    Each CFO hypothesis (Hz) derotates the segment; the hypothesis with the highest normalised
    correlation wins. The timing is the earliest position within n_cp/2 before the peak whose metric
    reaches ``first_path_fraction`` of the peak (the first strong path). Returns None when the peak
    stays under the false-alarm threshold.
    """
    from phy.kernels import ltf_peak

    n = params.n_fft
    sym, e_tpl = _ltf_template(params)
    seg = x[lo: hi + 2 * n].astype(np.complex128) - dc
    if seg.size < 2 * n + 1:
        return None
    best = None
    for f in cfo_candidates_hz:
        peak, k, fine, n_pos = ltf_peak(seg, -2 * np.pi * f / params.sample_rate_hz, sym, e_tpl,
                                        first_path_fraction, params.n_cp // 2, params.n_cp // 4)
        if best is None or peak > best[0]:
            best = (peak, k, fine, f)
    peak, k, fine, f = best
    if peak < beta_threshold(2 * n, false_alarm_prob / (n_pos * len(cfo_candidates_hz))):
        return None
    return LtfSync(first_ltf=lo + k, cfo_hz=f + fine / (2 * np.pi * n) * params.sample_rate_hz, metric=peak)
