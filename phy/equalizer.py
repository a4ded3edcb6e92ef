"""Channel estimation, pilot phase tracking and equalisation of a frame's OFDM symbols, vectorised
over a batch of B frames of equal size (the receiver decodes the payloads found in one call together;
a single frame is a batch of one).

Model per OFDM symbol n (FFT window starting at time t_n, samples) and used subcarrier k:
    Y[n,k] = H[k] * exp(j (phi(t_n) + 2 pi k tau(t_n) / n_fft)) * X[n,k] + W[n,k],  E|W|^2 = sigma^2,
phi: common phase (residual CFO, phase noise), tau: timing drift (sampling-rate offset), both fitted
from the known symbols (LTF, decoded header) and the pilots. The channel estimate is the
least-squares fit of a delay-limited impulse response (taps -n_cp/4..n_cp+n_cp/4) to the
per-subcarrier averages of the known symbols, which removes most of the estimation noise while
following frequency-selective channels. Equalisation is unbiased (zero-forcing per subcarrier, equal
to unbiased MMSE for one stream), and each equalised symbol's error variance counts the noise, the
channel-estimate error and the phase-estimate error.

Phase fit per frame: the known entries' products Y conj(X) conj(H_ref) summed per symbol give a
common phase, fitted by a weighted straight line over t (residual CFO); what it leaves across the
subcarriers is fitted as a timing drift c + d t (weighted least squares, weights 2 |H|^2 / sigma^2);
with the drift removed, the common phase is fitted again and a moving average over
2 * PHASE_WINDOW + 1 symbols follows what the line misses (phase noise). The fit and the channel
estimate alternate. The arithmetic runs in one compiled pass per batch (``phy.kernels``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from phy.known import KnownEntries
from phy.ofdm import layout, used_subcarriers
from phy.params import OfdmParams

PHASE_WINDOW = 8
"""Half-width (symbols) of the moving average that tracks common phase beyond the linear fit."""


@lru_cache(maxsize=8)
def smoother(params: OfdmParams) -> tuple[np.ndarray, np.ndarray, int]:
    """(the transpose of the projection P onto delay-limited channels, complex (n_used, n_used),
    C-contiguous: row j holds P[:, j], so that the fit P @ m runs along rows; P's diagonal, float
    (n_used,); its rank)."""
    k = used_subcarriers(params)
    pre = params.n_cp // 4
    taps = np.arange(-pre, params.n_cp + pre)
    f = np.exp(-2j * np.pi * np.outer(k, taps) / params.n_fft)
    proj = f @ np.linalg.pinv(f)
    return np.ascontiguousarray(proj.T), np.real(np.diag(proj)).copy(), taps.size


@lru_cache(maxsize=8)
def _kernel_smoother(params: OfdmParams) -> tuple:
    """(``smoother`` as ``phy.kernels.track_equalize`` reads it, a ``phy.kernels.Smoother``; the data
    subcarriers' positions among the used ones, int64 (n_data,)), built once per numerology."""
    from phy.kernels import Smoother

    proj_t, diag, rank = smoother(params)
    _, data_pos, _ = layout(params)
    return Smoother(used_subcarriers(params), params.n_fft, proj_t, diag, rank), data_pos


@dataclass
class PhaseTrack:
    """Per-symbol phase model of a batch of B frames of equal size: on used subcarrier k, symbol n
    of frame b is rotated by phase[b, n] + 2 pi k delay[b, n] / n_fft relative to the reference
    channel.

    Attributes:
        phase: float (B, n_sym) common phase, rad.
        delay: float (B, n_sym) timing offset, samples.
        phase_var, delay_var: float (B, n_sym) error variances of phase (rad^2) and delay (samples^2).
        sro_ppm: float (B,) fitted timing drift in ppm of the sample rate (positive: receiver clock fast).
    """

    phase: np.ndarray
    delay: np.ndarray
    phase_var: np.ndarray
    delay_var: np.ndarray
    sro_ppm: np.ndarray


@dataclass
class ChannelEstimate:
    """Channel and noise estimates of a batch of B frames.

    Attributes:
        h: complex (B, n_used) channel per used subcarrier (includes the transmitter's scaling).
        h_err_var: float (B, n_used) variance of the error of ``h``.
        noise_var: float (B,) pooled complex noise variance per subcarrier, sigma^2.
        noise_var_per_subcarrier: float (B, n_used) residual variance per subcarrier (diagnostic).
    """

    h: np.ndarray
    h_err_var: np.ndarray
    noise_var: np.ndarray
    noise_var_per_subcarrier: np.ndarray

    @cached_property
    def snr_per_subcarrier(self) -> np.ndarray:
        """Bias-corrected |H|^2 / sigma^2 per used subcarrier, linear, (B, n_used) (computed once:
        the receiver reads it and ``snr_db``)."""
        return np.maximum(np.abs(self.h) ** 2 - self.h_err_var, 0) / self.noise_var[:, None]

    @property
    def snr_db(self) -> np.ndarray:
        """In-band SNR estimates: mean bias-corrected |H|^2 over sigma^2, dB, (B,)."""
        return 10 * np.log10(np.maximum(np.mean(self.snr_per_subcarrier, axis=-1), 1e-12))


@dataclass
class Equalized:
    """What an equaliser gives for a batch of B frames of equal size.

    Attributes:
        track: the phase model (``PhaseTrack``).
        estimate: the channel and noise estimates (``ChannelEstimate``).
        received: complex (B, n_eq, n_data) the equalised rows' data subcarriers before equalisation.
        equalized: complex (B, n_eq, n_data) unbiased equalised data symbols.
        error_var: float (B, n_eq, n_data) complex error variance of each equalised symbol.
    """

    track: PhaseTrack
    estimate: ChannelEstimate
    received: np.ndarray
    equalized: np.ndarray
    error_var: np.ndarray


@dataclass(frozen=True)
class Equalizer:
    """Phase tracking, channel estimation and equalisation of B frames of equal size, configured by
    name (the receiver holds one instance per use), in one compiled pass
    (``phy.kernels.track_equalize``).

    Attributes:
        params: the numerology.
        passes: 0: the LTF channel and a common phase a + b t per frame only (residual CFO; steadier
            on a few symbols at low SNR: the header's first pass); negative: the LTF channel alone,
            no phase fit (the header's CFO search, where the CFO hypothesis stands in for the
            phase line, which 4 pilots per symbol fit poorly below 0 dB); else that many alternations of
            the full phase/drift fit and the channel fit to the fully known symbols (LTF and, when
            the known entries have them, the headers).
        first: first row of y to equalise (2: the first symbol after the LTF).
    """

    params: OfdmParams
    passes: int
    first: int

    def __call__(self, y: np.ndarray, known: KnownEntries) -> Equalized:
        """Equalise rows ``first``.. of y: complex (B, 2 + n_sym, n_used) FFTs of the LTF and the
        frames' OFDM symbols, with their known entries (``phy.known.known_entries``)."""
        from phy.kernels import KnownArrays, track_equalize

        x = known.x if known.x.ndim == 2 else known.x[None]
        xf = known.x_full if known.x_full.ndim == 3 else known.x_full[None]
        sm, data_pos = _kernel_smoother(self.params)
        out = track_equalize(np.ascontiguousarray(y, dtype=np.complex128),
                             KnownArrays(known.rows, known.cols, known.row_start, x, xf, known.n_full, known.t),
                             sm, self.passes, PHASE_WINDOW, self.first, data_pos)
        phase, delay, phase_var, delay_var, sro, h, h_err, nv, nv_sc, raw, eq, var = out
        return Equalized(PhaseTrack(phase, delay, phase_var, delay_var, sro), ChannelEstimate(h, h_err, nv, nv_sc),
                         raw, eq, var)
