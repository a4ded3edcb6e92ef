"""Burst synchronisation: STF matched-filter detection, coarse CFO (STF), fine timing (LTF
cross-correlation) and fine CFO (LTF; for weak bursts refined on the whole known preamble,
``known_preamble_cfo``), the LTF's SNR, and the DC offset of a burst.

Detection runs two tests on the STF and takes the triggers of both: the autocorrelation test for
bursts well above the noise floor (cheap) and the matched-filter test for weak bursts (sensitive), the
latter only where the mean power over the window is at most FLOOR_GATE times the noise floor
(FloorTracker: the least mean power of 128-sample pieces, each STF_BLOCK folded in, allowed to rise
by FLOOR_RISE per block). Each is set for half the false-alarm probability.

Autocorrelation test (Schmidl & Cox, normalised, made blind to a constant and to one tone): with lag
L = n_fft/4 (the STF period), H = L/2 and window W = 8 L, P_L(d) = sum x[d+m+L] x*[d+m] and
P_H(d) = sum x[d+m+H] x*[d+m], m = 0..W-1, E1, E2 the energies of x[d..d+W) and x[d+L..d+L+W); the
test is T(d) = (|P_L|^2 - |P_H|^2) / (E1 E2) > t. The STF's lines are on every fourth subcarrier
with as many odd as even multiples, so its lag-H autocorrelation is zero and T = |P_L|^2 / (E1 E2)
(the classic metric). A complex tone A exp(j w n) is periodic at every lag: it adds W |A|^2 to both
|P_L| and |P_H| and cancels in T. For white Gaussian noise |P_L|^2 / (E1 E2) and |P_H|^2 / (E1 E2)
are nearly independent, each Beta(1, W - 1) ~ Exp(W - 1): their difference is Laplace,
P(T > t) = (1 - t)^(W-1) / 2, and t is set from the target false-alarm probability per sample.

Matched-filter test (a matched filter over one STF period, integrated coherently over the periods):
with L = n_fft/4 (the STF period), K = STF_PERIODS periods and the template s (one period of the
transmitted STF, energy E_s), y(t) = sum_m x[t + m] conj(s[m]) (m < L). At a window j whose K L
samples lie in the STF, y(j + k L) = a exp(j phi k) + noise (k < K): the CFO f turns the periods by
phi = 2 pi f L / fs, and multipath only changes a. The test is the largest bin of the DFT over the
periods (zero-padded to STF_BINS bins), C(j) = max_b |sum_k y(j + k L) exp(-2 pi j b k / M)|^2 /
(K sigma^2), with sigma^2 = E_s N and N the mean power of x over the window, less the same bin
half a period later, |sum_k y(j + L/2 + k L) exp(-2 pi j b k / M)|^2 / (K sigma^2): the STF's
periodic autocorrelation is zero at L/2 (its lines are on every fourth subcarrier, as many odd as
even multiples), so this removes nothing from an aligned STF, while a tone (a DC offset, a spur, a
filter's ringing) has the same magnitude there and cancels, as in the autocorrelation test. For white Gaussian
noise the y(j + k L) are independent (their windows do not overlap), each bin is CN(0, K sigma^2)
and C per bin is Exp(1) given N; over the Gamma(K L) spread of the power estimate and the union of
the M bins P(C > t) <= M (1 + t / (K L))^(-K L), which sets t from the target false-alarm probability
per sample (conservative: the bins are correlated, N grows with the bins it shares samples with, and
the subtracted term only lowers C).
Against the autocorrelation (Schmidl & Cox) test over the same 144 samples, whose deflection at
per-sample SNR rho is about 128 rho^2, the coherent sum has K L rho: at -5 dB in-band SNR 4 dB more,
at -8 dB 7 dB more. A differential pre-test |D|^2 > t_D (K - 1) sigma^4, D = sum_k y(j + (k + 1) L)
conj(y(j + k L)) (k < K - 1; about CN(0, (K - 1) sigma^4) on noise and on non-periodic signals such
as OFDM data, t_D = -ln STF_PRE_PASS), keeps the DFT to few windows: one complex product and two
running sums per sample. The DFT is evaluated only on the STF_REACH bins each side of the bin of
arg D (D's phase is the differential estimate of phi: within a bin or two wherever the pre-test
passes), and only on that bin (and its neighbours, for the parabola) where |D|^2 passes the
pre-test 16 times over (at high SNR, also on OFDM data: within one symbol its content on every
fourth subcarrier is periodic in L too), so the coherent test costs 3 to 2 STF_REACH + 3 times K
products per window that passes the pre-test. Last, the best bin must hold STF_COHERENCE of the
periods' energy, |S|^2 >= STF_COHERENCE K sum_k |y(j + k L)|^2 (Cauchy-Schwarz bounds it by 1): an STF
at per-period SNR g gives about g / (1 + g), over 0.6 wherever the coherent test passes, while OFDM
data, whose content on every fourth subcarrier is periodic in L within one symbol, gives about 0.45
at high SNR with its periodic runs broken at every symbol boundary; data that strong is above the
power gate anyway, and each trigger on data would cost an LTF search. A constant or a tone is
removed first by the detection path's DC blocker and spur notch (``FrontEnd``), and what is left of
it cancels in the half-period difference.
A second, independent test on the LTF (normalised cross-correlation with the known two-symbol LTF,
Beta law with 2 n_fft samples, threshold set for a false-alarm probability over the search window)
confirms the burst and gives its timing.

Coarse CFO: phi (the best bin, refined by a parabola through its neighbours) is unambiguous in
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
from phy.preamble import ltf_symbol, preamble, stf_length, stf_period

STF_WINDOW_PERIODS = 8
"""W = STF_WINDOW_PERIODS L: the trigger geometry (a window spans W + L = STF_PERIODS L samples)."""
STF_PERIODS = STF_WINDOW_PERIODS + 1
"""K: STF periods the matched filter's outputs are integrated over (9 of the STF's 10)."""
STF_BINS = 2 * STF_PERIODS
"""M: bins of the DFT over the periods (zero-padded twice: at most 0.9 dB lost between two bins)."""
STF_COHERENCE = 0.4
"""Fraction of the periods' matched-filter energy the best bin must hold (module docstring)."""
STF_REACH = 2
"""Bins of the DFT over the periods tested each side of the differential phase estimate's."""
STF_PRE_PASS = 0.01
"""Fraction of noise windows that pass the differential pre-test (the DFT runs only on those)."""


def beta_threshold(n_samples: int, false_alarm_prob: float) -> float:
    """t with P(M > t) = false_alarm_prob for M ~ Beta(1, n_samples - 1) (squared sample
    correlation of ``n_samples`` complex white-noise pairs)."""
    return float(1.0 - false_alarm_prob ** (1.0 / (n_samples - 1)))


def stf_span(params: OfdmParams) -> tuple[int, int]:
    """(lag L, window W) of the STF test, samples: a window reads W + L samples."""
    lag = stf_period(params)
    return lag, STF_WINDOW_PERIODS * lag


def stf_threshold(params: OfdmParams, false_alarm_prob: float) -> tuple[float, float, float]:
    """The STF tests' thresholds (module docstring), each for half of ``false_alarm_prob`` per sample:
    (the autocorrelation test's t, with (1 - t)^(W-1) / 2 = false_alarm_prob / 2; the matched-filter
    differential pre-test's -ln STF_PRE_PASS; its coherent test's t, with
    M (1 + t / (K L))^(-K L) = false_alarm_prob / 2)."""
    _, w = stf_span(params)
    n = STF_PERIODS * stf_period(params)
    t_coherent = n * ((2 * STF_BINS / false_alarm_prob) ** (1.0 / n) - 1.0)
    return beta_threshold(w, min(false_alarm_prob, 0.5)), float(-np.log(STF_PRE_PASS)), float(t_coherent)


FLOOR_GATE = 3.0
"""The matched-filter test runs where the window's mean power is at most this many times the noise
floor (an in-band SNR under about 4 dB; above, the autocorrelation test detects every burst)."""
FLOOR_RISE = 1.1
"""Factor by which the noise floor may rise per STF_BLOCK (a gain change is followed within ~20 ms)."""
FLOOR_PIECE = 128
"""Samples per piece whose mean power the noise floor takes the least of (idle gaps hold several)."""


class FloorTracker:
    """The noise floor the matched-filter test's gate reads: state float64 (2,) (the floor in x's
    power units, inf before the first whole block; the stream index of the next block to fold in),
    updated by ``phy.kernels.stf_mf_scan`` once per whole STF_BLOCK in stream order, so that it does
    not depend on how the stream is cut into calls."""

    def __init__(self) -> None:
        self.state = np.array([np.inf, 0.0])

    def copy(self) -> "FloorTracker":
        """A tracker with the same state (a second look at scanned samples leaves this one as it is)."""
        out = FloorTracker()
        out.state[:] = self.state
        return out


@lru_cache(maxsize=8)
def stf_template(params: OfdmParams) -> tuple[np.ndarray, np.ndarray]:
    """(one STF period as transmitted, complex128 (L,); the DFT over the periods, complex128 (M, K))
    (read-only)."""
    tpl = np.ascontiguousarray(preamble(params)[: stf_period(params)], dtype=np.complex128)
    lag = tpl.size
    if not np.allclose(tpl[(lag - np.arange(lag)) % lag], 1j * np.conj(tpl)):   # what the compiled filter relies on
        raise ValueError("the STF period lacks the symmetry s[L - n] = j conj(s[n]) of the 802.11a STF")
    k = np.arange(STF_PERIODS)
    twiddle = np.exp(-2j * np.pi * np.arange(STF_BINS)[:, None] * k[None, :] / STF_BINS)
    tpl.flags.writeable = False
    twiddle.flags.writeable = False
    return tpl, twiddle


TRIGGER_GAP_PERIODS = 4
"""Triggers are at least this many STF periods apart (64 samples at n_fft 64): an STF passes the test
over up to W + L + its length windows, one LTF search per trigger covers W + 2 L + 2 n_cp LTF
positions, so a few triggers per STF are enough (one per L would make ~15 at 20 dB)."""

STF_BLOCK = 2048
"""The STF scan's running sums restart every STF_BLOCK windows (stream positions), samples."""


def stf_detect(x: np.ndarray, params: OfdmParams, threshold: tuple[float, float, float], first: int = 0,
               offset: int = 0, after: int = 0, floor: FloorTracker | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Triggers: positions d >= ``first`` where either STF test of x (complex (n,)) passes (module
    docstring; ``threshold`` from ``stf_threshold``), the first at or after ``after`` and then each at
    least TRIGGER_GAP_PERIODS L after the one before.

    Each test is one compiled pass (``phy.kernels.stf_scan``, ``phy.kernels.stf_mf_scan``) whose
    running sums restart at every stream position (x[0] is stream index ``offset``) that is a multiple
    of STF_BLOCK, so x must hold the one at or before ``first``. ``floor``: the stream's noise floor,
    updated here (inf until the stream's first whole STF_BLOCK: every window is tested; None: the
    autocorrelation test alone). Returns (indices int64 (k,) into x of the windows' first samples, complex128 (k,) whose
    phase is the per-period phase advance (the coarse CFO, ``coarse_cfo_hz``)); empty when x is
    shorter than first + W + L.
    """
    from phy.kernels import stf_mf_scan, stf_scan

    lag, w = stf_span(params)
    tpl, twiddle = stf_template(params)
    t_auto, t_pre, t_coherent = threshold
    x = np.asarray(x, dtype=np.complex64)
    gap = TRIGGER_GAP_PERIODS * lag
    h1, v1 = stf_scan(x, int(first), lag, w, float(t_auto), int(offset), STF_BLOCK, int(after), gap)
    if floor is None:
        return h1, v1
    state = floor.state
    h2, v2 = stf_mf_scan(x, int(first), tpl, STF_PERIODS, float(t_pre), float(t_coherent), STF_COHERENCE, twiddle,
                         STF_REACH, int(offset), STF_BLOCK, int(after), gap, state, FLOOR_GATE, FLOOR_RISE,
                         FLOOR_PIECE)
    if not h2.size:
        return h1, v1
    hits, vals = np.concatenate([h1, h2]), np.concatenate([v1, v2])
    order = np.argsort(hits, kind="stable")
    keep, last = [], -gap
    for i in order.tolist():
        if hits[i] >= last + gap:
            keep.append(i)
            last = int(hits[i])
    return hits[keep], vals[keep]


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

    A constant or a tone is periodic in L like the STF, so without these filters the STF test would
    fire on it at every window (each trigger costing an LTF search). Both filters are IIR pole-zero pairs
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
        self._pending = np.empty(block, np.complex64)   # the analysed block's filtered samples so far ...
        self._filled = 0                                 # ... in its first _filled entries
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
                start = max(pos, lo)
                self._pending[self._filled: self._filled + end - start] = out[start:end]
                self._filled += end - start
            if end == hi:
                self._analyse()
            pos = end
        return out

    def _analyse(self) -> None:
        """At the end of an analysed block: if it is whole (the stream may start inside one),
        update the spectrum and move the notch where a line stands out (else keep it: a notch
        hides its own spur)."""
        filled, self._filled = self._filled, 0
        if filled < self.block:
            return
        f = scipy.fft.fft(self._pending * self._window, overwrite_x=True)
        spec = f.real * f.real + f.imag * f.imag
        total = np.add.reduce(spec)              # np.mean's float32 sum and division, without its wrapper
        mean = float(total.dtype.type(total / np.intp(spec.size)))
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
        # k is the peak, so the vertex lies within half a bin of it
        frac = _vertex(np.log(np.maximum(spec[[k - 1, k, (k + 1) % spec.size]], 1e-30)))
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
    return complex(np.add.reduce(x[lo:hi], dtype=np.complex128)) / (hi - lo)


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
    cfo = f + fine / (2 * np.pi * n) * params.sample_rate_hz
    return LtfSync(first_ltf=lo + k, cfo_hz=preamble_cfo(x, lo + k, cfo, params, dc), metric=peak)


PREAMBLE_SKIP = 8
"""``preamble_cfo``: samples left out at the start of the STF and of the LTF's guard interval (the
channel's response to what came before them, and the timing's error)."""


def preamble_cfo(x: np.ndarray, first_ltf: int, cfo_hz: float, params: OfdmParams, dc: complex = 0j) -> float:
    """The CFO (Hz) refined over the whole preamble: the STF (ten periods of n_fft/4) and the LTF with
    its guard interval (n_fft/2 + 2 n_fft) are each periodic in n_fft, so the lag-n_fft products
    x[i + n_fft] conj(x[i]) over both, less PREAMBLE_SKIP samples at the start of each, give the phase
    turned in n_fft samples from 2 (3 n_fft/2 - PREAMBLE_SKIP) products instead of the n_fft of the
    two LTF symbols alone (``phy.kernels.ltf_peak``): at n_fft 64 176 products instead of 64
    (measured, 40 AWGN bursts at 2 MS/s: standard deviation 1.67 -> 1.27 kHz at -5 dB in-band,
    0.69 -> 0.53 kHz at 0 dB), so fewer headers are lost to a residual CFO. ``first_ltf``: index into x (complex (m,)) of the first
    LTF symbol's first sample (after its guard interval); ``cfo_hz``: the estimate so far, whose
    residual is taken within ±fs / (2 n_fft) of it; the DC offset ``dc`` (x's units) removed. Returns
    ``cfo_hz`` where x does not hold the whole preamble."""
    n = params.n_fft
    gi = first_ltf - n // 2
    stf0 = gi - stf_length(params)
    if stf0 + PREAMBLE_SKIP < 0 or first_ltf + 2 * n > x.size:
        return cfo_hz
    from phy.kernels import lag_products

    fs = params.sample_rate_hz
    spans = ((stf0 + PREAMBLE_SKIP, stf0 + stf_length(params) - n), (gi + PREAMBLE_SKIP, first_ltf + n))
    acc = lag_products(np.asarray(x, dtype=np.complex64), spans, n, complex(dc))
    if acc == 0:
        return cfo_hz
    turn = cmath.exp(-2j * math.pi * cfo_hz * n / fs)
    return cfo_hz + cmath.phase(acc * turn) / (2 * math.pi * n) * fs


def ltf_snr_db(x: np.ndarray, first_ltf: int, params: OfdmParams, dc: complex = 0j) -> float:
    """In-band SNR (dB per used subcarrier, as ``phy.channel`` defines it) of a burst from its LTF's
    two identical symbols, whatever the channel and CFO: with rho = |sum x2 conj(x1)| / sqrt(E1 E2)
    over the two n_fft windows from n_cp/4 before ``first_ltf`` (index into x, complex (m,); the DC
    offset ``dc`` removed), the SNR per sample is rho / (1 - rho) and the in-band SNR that over the
    occupied fraction. It depends on the burst's samples alone, not on how the stream was cut into
    calls. -inf where x does not hold the LTF or the windows carry no energy."""
    n = params.n_fft
    start = first_ltf - params.n_cp // 4
    if start < 0 or start + 2 * n > x.size:
        return -math.inf
    w1 = np.asarray(x[start: start + n], dtype=np.complex128) - dc
    w2 = np.asarray(x[start + n: start + 2 * n], dtype=np.complex128) - dc
    energy = math.sqrt(float(np.vdot(w1, w1).real) * float(np.vdot(w2, w2).real))
    if energy <= 0.0:
        return -math.inf
    rho = min(abs(complex(np.vdot(w1, w2))) / energy, 1.0 - 1e-12)
    return 10.0 * math.log10(rho / (1.0 - rho) / params.occupied_fraction) if rho > 0.0 else -math.inf


KNOWN_CFO_REACH = 0.25
"""``known_preamble_cfo``: the search reaches ±KNOWN_CFO_REACH subcarrier spacings around the
estimate it refines (±7.8 kHz at 2 MS/s, n_fft 64: six standard deviations of ``preamble_cfo``'s
error at -5 dB in-band)."""
KNOWN_CFO_STEP = 1 / 64
"""``known_preamble_cfo``: grid step in subcarrier spacings (488 Hz at 2 MS/s, n_fft 64), a
thirteenth of the metric's main lobe (fs / preamble length wide to its first zero)."""


@lru_cache(maxsize=8)
def _known_preamble_basis(params: OfdmParams) -> tuple[np.ndarray, np.ndarray]:
    """(the conjugate of Q, complex128 (m, n_taps): an orthonormal basis of the span of the preamble
    delayed by each tap -n_cp/4..n_cp+n_cp/4 (as in ``phy.equalizer.smoother``), i.e. of the received
    preambles a delay-limited channel can make, over the preamble's first m = length - n_cp/4
    samples, which hold no unknown (header) sample for any tap; the grid's phase turns, complex128
    (m, n_hyp), column k = exp(-2 pi i f_k t / fs) for the grid's offsets f_k, Hz)."""
    pre = preamble(params)
    lead = params.n_cp // 4
    taps = np.arange(-lead, params.n_cp + lead)
    t = np.arange(pre.size - lead)
    src = t[:, None] - taps[None, :]
    mat = np.where((src >= 0) & (src < pre.size), pre[np.clip(src, 0, pre.size - 1)], 0)
    q, _ = np.linalg.qr(mat)
    spacing = params.sample_rate_hz / params.n_fft
    k = np.arange(-round(KNOWN_CFO_REACH / KNOWN_CFO_STEP), round(KNOWN_CFO_REACH / KNOWN_CFO_STEP) + 1)
    turns = np.exp(-2j * np.pi * np.outer(t, k * KNOWN_CFO_STEP * spacing) / params.sample_rate_hz)
    for a in (q, turns):
        a.flags.writeable = False
    return np.ascontiguousarray(q.conj()), turns


def known_preamble_cfo(x: np.ndarray, first_ltf: int, cfo_hz: float, params: OfdmParams, dc: complex = 0j) -> float:
    """The CFO (Hz) that best explains the received preamble as the known one through an unknown
    channel of taps -n_cp/4..n_cp+n_cp/4 (timing error and delay spread): the maximum-likelihood
    estimate for white noise, argmax_f ||Q^H (x_t exp(-2 pi i f t / fs))||^2 with Q an orthonormal
    basis of the delayed preambles (``_known_preamble_basis``), searched on a grid of KNOWN_CFO_STEP
    subcarrier spacings within ±KNOWN_CFO_REACH of ``cfo_hz`` and refined by a parabola through the
    best point and its neighbours, then by one through points a tenth of a step apart around that
    vertex (noise-free the estimate is then exact to within 0.01 Hz).

    Unlike ``preamble_cfo``, which compares the preamble with itself one n_fft later (noise times
    noise), this compares it with what was sent, over the whole preamble (320 samples at n_fft 64): near
    the control plane's limit its error is a third to two fifths of theirs (rms at -5 dB in-band,
    AWGN 1.26 -> 0.37 kHz, TDL-C 1.85 -> 0.67 kHz: ``experiments/known_preamble_cfo.py``,
    ``docs/results/known_preamble_cfo.json``), for 0.1-0.15 ms of CPU per burst. ``first_ltf``:
    index into x (complex (m,)) of the first LTF symbol's first sample; the DC offset ``dc`` (x's
    units) removed. Returns ``cfo_hz`` where x does not hold the whole preamble or the best point
    lies on the grid's edge (no peak within reach).
    """
    q_conj, turns = _known_preamble_basis(params)
    start = first_ltf - params.n_fft // 2 - stf_length(params)
    m = q_conj.shape[0]
    if start < 0 or start + m > x.size:
        return cfo_hz
    t = np.arange(m)
    r = (np.asarray(x[start: start + m], dtype=np.complex128) - dc) \
        * np.exp(-2j * np.pi * cfo_hz * t / params.sample_rate_hz)
    basis_r = q_conj * r[:, None]                                   # (m, n_taps)
    metric = np.sum(np.abs(turns.T @ basis_r) ** 2, axis=1)
    k = int(np.argmax(metric))
    if k in (0, metric.size - 1):
        return cfo_hz
    step = KNOWN_CFO_STEP * params.sample_rate_hz / params.n_fft
    offset = (k - metric.size // 2 + _vertex(metric[k - 1: k + 2])) * step
    # the main lobe is a parabola only near its top: once more, a tenth of a step either side
    near = offset + np.array([-0.1, 0.0, 0.1]) * step
    fine = np.exp(-2j * np.pi * np.outer(t, near) / params.sample_rate_hz)
    metric = np.sum(np.abs(fine.T @ basis_r) ** 2, axis=1)
    return cfo_hz + offset + 0.1 * step * _vertex(metric)


def _vertex(y: np.ndarray) -> float:
    """Abscissa of the vertex of the parabola through (-1, y[0]), (0, y[1]), (1, y[2]), clipped to
    [-1, 1]; 0 where the three points do not bend down."""
    curve = y[0] - 2 * y[1] + y[2]
    return float(np.clip(0.5 * (y[0] - y[2]) / curve, -1.0, 1.0)) if curve < 0 else 0.0
