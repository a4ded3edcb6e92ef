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

import cmath
import math

import numpy as np
import scipy.fft

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


TRIGGER_GAP_PERIODS = 4
"""Triggers are at least this many STF periods apart (64 samples at n_fft 64): an STF passes the test
over up to W + L + its length windows, one LTF search per trigger covers W + 2 L + 2 n_cp LTF
positions, so a few triggers per STF are enough (one per L would make ~15 at 20 dB)."""

STF_BLOCK = 2048
"""The STF scan's running sums restart every STF_BLOCK windows (stream positions), samples."""


def stf_detect(x: np.ndarray, params: OfdmParams, threshold: float, first: int = 0, offset: int = 0,
               after: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Triggers: positions d >= ``first`` where the STF statistic T of x (complex (n,)) exceeds
    ``threshold`` (module docstring), the first at or after ``after`` and then each at least
    TRIGGER_GAP_PERIODS L after the one before.

    Tested as |P_L|^2 - |P_H|^2 > threshold * E1 * E2 (no division; windows without energy never
    pass), with window sums from running sums in float64, in one compiled pass
    (``phy.kernels.stf_scan``), restarted at every stream position (x[0] is stream index
    ``offset``) that is a multiple of STF_BLOCK, so x must hold the one at or before ``first``.
    Returns (indices int64 (k,) into x of the windows' first samples, their autocorrelation P_L
    complex128 (k,)); empty when x is shorter than first + W + L.
    """
    from phy.kernels import stf_scan

    lag, w = stf_span(params)
    return stf_scan(np.asarray(x, dtype=np.complex64), int(first), lag, w, float(threshold), int(offset), STF_BLOCK,
                    int(after), TRIGGER_GAP_PERIODS * lag)


SPUR_RATIO = 10.0
"""The strongest line of the running mean of the blocks' normalised spectra counts as a spur (and is
notched) above this many times the mean (10 dB). Measured (100 dense analog frames at 20 and 35 dB):
without a spur the largest line stays under 8.6 once a few blocks are averaged; with a spur at the
noise power it stays above 10.5 even when every block holds a burst (a single block cannot tell:
a burst's own bins reach 8-20 times the mean)."""

SPUR_AVERAGING = 0.125
"""Weight of each analysed block in that running mean (about eight of them, 128 ms at 2 MS/s)."""

SPUR_EVERY = 16
"""The spur search analyses the first SPUR_WARMUP blocks of a stream, then every SPUR_EVERY-th
(stream-aligned): one 2048-point FFT per 32768 samples (16 ms at 2 MS/s) costs under 1 ns per
sample instead of ~10 for every block."""

SPUR_WARMUP = 4
"""Over a stream's first SPUR_WARMUP blocks a line must stand SPUR_RATIO * SPUR_WARMUP / (blocks
averaged) above the mean (40 times in the first block alone, whose largest line reaches ~23 without
a spur when a burst fills it; a spur at the noise power in noise stands ~100 times above)."""

NOTCH_RHO = 0.99
"""Pole radius of the DC blocker and the spur notch (3 dB width (1 - rho) fs / (2 pi), 3.2 kHz at 2 MS/s)."""


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    """Hann window, float32 (n,) (read-only)."""
    w = np.hanning(n).astype(np.float32)
    w.flags.writeable = False
    return w


class FrontEnd:
    """The detection path's front end: a DC blocker and a notch that follows the strongest CW spur,
    applied to the samples the STF test sees (the LTF search, the FFTs and the equalisers read the
    samples as received).

    The STF test is already blind to a constant or one tone in expectation (module docstring), but
    their cross terms with the noise at the window edges still pass it on ~1 % of windows at the
    noise power, and every such trigger costs an LTF search. Both filters are IIR pole-zero pairs
    (``phy.kernels.notch_filter``): a zero on the unit circle (at DC; at the spur) and a pole at
    radius NOTCH_RHO behind it, so white noise stays nearly white and the STF (lines on every
    fourth subcarrier, periodic in L) keeps its periodicity. The spur's frequency is the strongest
    line of the running mean (SPUR_AVERAGING) of the filtered samples' normalised power spectra (Hann
    window, parabolic interpolation of the log power) over the first SPUR_WARMUP complete STF_BLOCKs
    of stream samples and then every SPUR_EVERY-th; the
    notch moves there for the next block when that line stands SPUR_RATIO above the mean (one spur
    at a time: of two, the stronger is notched; a notch left where a spur was is harmless).
    Blocks are aligned to stream indices, so the output does not depend on how the stream is cut
    into calls.
    """

    def __init__(self, block: int) -> None:
        self.block = block
        self.state = np.zeros(3, np.complex128)
        self.notch = 0j
        self._pending: list[np.ndarray] = []     # the analysed block's filtered samples so far
        self._spectrum = None                    # running mean of the blocks' normalised power spectra
        self._analysed = 0                       # blocks in it so far
        self._window = _hann(block)

    def __call__(self, x: np.ndarray, stream_index: int, out: np.ndarray | None = None) -> np.ndarray:
        """Filter complex64 x (n,) whose first sample has ``stream_index``; complex64 (n,), written
        into ``out`` (complex64 (n,), contiguous) when given. One compiled call per run of samples
        between analysed blocks (the notch changes only there)."""
        from phy.kernels import notch_filter

        out = np.empty(x.size, np.complex64) if out is None else out
        pos, size = 0, self.block
        while pos < x.size:
            blk = (stream_index + pos) // size
            if self._analysed >= SPUR_WARMUP:
                blk = -(-blk // SPUR_EVERY) * SPUR_EVERY          # the next analysed block
            lo, hi = blk * size - stream_index, (blk + 1) * size - stream_index
            end = min(x.size, hi)
            notch_filter(x[pos:end], out[pos:end], self.state, self.notch, NOTCH_RHO)
            if end > lo:
                self._pending.append(out[max(pos, lo):end].copy())
            if end == hi:
                self._analyse()
            pos = end
        return out

    def _analyse(self) -> None:
        """At the end of an analysed block: if it is whole (the stream may start inside one),
        update the spectrum and move the notch where a line stands out (else keep it: a notch
        hides its own spur)."""
        blk = np.concatenate(self._pending) if self._pending else np.zeros(0, np.complex64)
        self._pending = []
        if blk.size < self.block:
            return
        f = scipy.fft.fft(blk * self._window, overwrite_x=True)
        spec = f.real * f.real + f.imag * f.imag
        mean = float(np.mean(spec))
        if not 0 < mean < np.inf:                # silence, or samples beyond float32's range
            return
        spec /= mean
        self._analysed += 1
        if self._spectrum is None:
            self._spectrum = spec
        else:                                    # the plain mean of the first 1 / SPUR_AVERAGING blocks
            self._spectrum += max(SPUR_AVERAGING, 1 / self._analysed) * (spec - self._spectrum)
        spec = self._spectrum
        k = int(np.argmax(spec))
        if spec[k] < SPUR_RATIO * SPUR_WARMUP / min(self._analysed, SPUR_WARMUP):
            return
        lo, mid, hi = np.log(np.maximum(spec[[k - 1, k, (k + 1) % spec.size]], 1e-30))
        den = lo - 2 * mid + hi
        frac = 0.5 * (lo - hi) / den if den < 0 else 0.0
        self.notch = complex(np.exp(2j * np.pi * (k + frac) / self.block))


def coarse_cfo_hz(autocorr: complex, params: OfdmParams) -> float:
    """CFO in Hz from an STF autocorrelation value, unambiguous in ±fs / (2 L) = ±fs/32 at n_fft 64."""
    return cmath.phase(autocorr) / (2 * math.pi * stf_period(params)) * params.sample_rate_hz


def cfo_hypotheses(autocorr: complex, params: OfdmParams, max_cfo_hz: float | None) -> list[float]:
    """CFO hypotheses (Hz) for the LTF test from an STF autocorrelation value.

    ``max_cfo_hz`` None: the coarse estimate f0 (range ±fs / (2 L)), and its nearest alias
    f0 ∓ fs / L when |f0| is beyond 0.3 fs / L (near the edge of the range noise may have wrapped
    it). A number: every alias f0 + k fs / L within ±(max_cfo_hz + fs / (4 L)), nearest to f0 first.
    """
    f0 = coarse_cfo_hz(autocorr, params)
    alias = params.sample_rate_hz / stf_period(params)
    if max_cfo_hz is None:
        return [f0] + ([f0 - math.copysign(alias, f0)] if abs(f0) > 0.3 * alias else [])
    reach = max_cfo_hz + alias / 4
    k_max = int(math.ceil((reach + abs(f0)) / alias))
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
    return complex(x[lo:hi].sum(dtype=np.complex128)) / (hi - lo)


POWER_DROP = 0.5
"""``power_drops``: fraction of the STF window's power below which the LTF search region's counts as a drop."""


def power_drops(x: np.ndarray, d: int, w: int, lo: int, hi: int) -> bool:
    """Whether the mean power of x over the LTF search region [lo, hi) is under POWER_DROP times
    that over the STF test's window [d, d + w) (indices into x, complex (n,)). The STF and the LTF
    are sent at the same power, so a trigger on an STF (or on noise before one) never sees the
    power drop; a trigger on the last samples of a burst (where the STF test's window still holds
    signal and the noise follows) does, at any SNR above ~3 dB, and needs no LTF search."""
    a, b = x[d: d + w], x[lo: hi]
    e_win = float(np.vdot(a, a).real) / max(a.size, 1)
    return float(np.vdot(b, b).real) / max(b.size, 1) < POWER_DROP * e_win


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
    stays under the false-alarm threshold, or lies in the range's last n_cp/4 positions (a trigger
    that fired early, e.g. on noise just before the STF, sees only the LTF's leading part there: the
    next trigger, on the STF itself, searches where the whole LTF is).
    """
    from phy.kernels import ltf_peak

    n = params.n_fft
    sym, e_tpl = _ltf_template(params)
    seg = x[lo: hi + 2 * n]
    if seg.size < 2 * n + 1:
        return None
    best = None
    for f in cfo_candidates_hz:
        peak, k, fine, n_pos, at = ltf_peak(seg, dc, -2 * np.pi * f / params.sample_rate_hz, sym, e_tpl,
                                            first_path_fraction, params.n_cp // 2, params.n_cp // 4)
        if best is None or peak > best[0]:
            best = (peak, k, fine, f, at)
    peak, k, fine, f, at = best
    if peak < beta_threshold(2 * n, false_alarm_prob / (n_pos * len(cfo_candidates_hz))):
        return None
    if at >= n_pos - params.n_cp // 4:
        return None          # still rising at the range's end: the LTF lies beyond it (an early trigger)
    return LtfSync(first_ltf=lo + k, cfo_hz=f + fine / (2 * np.pi * n) * params.sample_rate_hz, metric=peak)
