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
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phy.known import KnownEntries
from phy.ofdm import used_subcarriers
from phy.params import OfdmParams

PHASE_WINDOW = 8
"""Half-width (symbols) of the moving average that tracks common phase beyond the linear fit."""


@lru_cache(maxsize=8)
def smoother(params: OfdmParams) -> tuple[np.ndarray, np.ndarray, int]:
    """(projection onto delay-limited channels, complex (n_used, n_used); its diagonal, float (n_used,);
    its rank)."""
    k = used_subcarriers(params)
    pre = params.n_cp // 4
    taps = np.arange(-pre, params.n_cp + pre)
    f = np.exp(-2j * np.pi * np.outer(k, taps) / params.n_fft)
    proj = f @ np.linalg.pinv(f)
    return proj, np.real(np.diag(proj)).copy(), taps.size


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

    def rotation(self, params: OfdmParams, rows: slice, cols: np.ndarray | None = None) -> np.ndarray:
        """Unit factors that undo the model, complex (B, n_rows, n_cols) (all used subcarriers when
        ``cols`` is None)."""
        u = _subcarrier_phase(params)
        if cols is not None:
            u = u[cols]
        return np.exp(-1j * (self.phase[:, rows, None] + self.delay[:, rows, None] * u))

    def error_var(self, params: OfdmParams, rows: slice, cols: np.ndarray) -> np.ndarray:
        """Variance of the rotation's phase error, rad^2, float (B, n_rows, n_cols)."""
        u = _subcarrier_phase(params)[cols]
        return self.phase_var[:, rows, None] + self.delay_var[:, rows, None] * (u * u)


def _centered_sums(v: np.ndarray, half: int) -> np.ndarray:
    """Sums of v over [i - half, i + half] clipped to the last axis, same shape as v (..., n)."""
    n = v.shape[-1]
    cs = np.zeros(v.shape[:-1] + (n + 1,), dtype=v.dtype)
    np.cumsum(v, axis=-1, out=cs[..., 1:])
    i = np.arange(n)
    return cs[..., np.minimum(i + half + 1, n)] - cs[..., np.maximum(i - half, 0)]


def _unwrap(phase: np.ndarray) -> np.ndarray:
    """Phase (rad, (..., n)) with jumps larger than pi between neighbours along the last axis
    removed (as ``np.unwrap``)."""
    out = phase.copy()
    out[..., 1:] -= 2 * np.pi * np.cumsum(np.round(np.diff(phase, axis=-1) / (2 * np.pi)), axis=-1)
    return out


def _linear_fit(y: np.ndarray, w: np.ndarray, t_basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares y ≈ a + b t per row: y, w (B, n), t_basis (n, 3) columns 1, t, t^2
    → a, b (B,), from the normal equations."""
    s0, s1, s2 = (w @ t_basis).T
    y0, y1 = ((w * y) @ t_basis[:, :2]).T
    den = s0 * s2 - s1 * s1
    b = np.divide(s0 * y1 - s1 * y0, den, out=np.zeros_like(den), where=den > 0)
    return (y0 - b * s1) / s0, b


@lru_cache(maxsize=8)
def _subcarrier_phase(params: OfdmParams) -> np.ndarray:
    """Phase per sample of delay on each used subcarrier k, 2 pi k / n_fft, rad (n_used,)."""
    u = 2 * np.pi * used_subcarriers(params) / params.n_fft
    u.flags.writeable = False
    return u


def track_phase(r: np.ndarray, known: KnownEntries, noise_var: np.ndarray, h: np.ndarray) -> PhaseTrack:
    """Fit common phase and timing drift to the known entries of B frames' symbol grids (frames of
    equal size, vectorised over the batch).

    Args:
        r: complex (B, n_known) Y * conj(X) * conj(H_ref) at the known entries (``known``).
        noise_var: float (B,) sigma^2 per subcarrier; h: complex (B, n_used) reference channels.
    """
    t, tb, tk, u, row_start = known.t, known.t_basis, known.tk, known.u, known.row_start
    # inverse variance of each observation's phase: 2 |H|^2 / sigma^2
    info = (2 * (h.real ** 2 + h.imag ** 2) / noise_var[:, None])[:, known.cols]
    z = np.add.reduceat(r, row_start, axis=1)
    a, b = _linear_fit(_unwrap(np.angle(z)), np.abs(z), tb)
    # timing drift: residual phase across subcarriers ≈ (c + d t) u, weighted least squares
    psi = np.angle(r * np.exp(-1j * (a[:, None] + b[:, None] * t))[:, known.rows])
    iu = info * u
    iut = iu * tk
    m00, m01, m11 = iu @ u, iut @ u, (iut * tk) @ u
    v0, v1 = (iu * psi).sum(axis=1), (iut * psi).sum(axis=1)
    det = m00 * m11 - m01 ** 2
    ok = det > 0
    inv = np.divide(1.0, det, out=np.zeros_like(det), where=ok)
    c00, c01, c11 = m11 * inv, -m01 * inv, m00 * inv         # covariance of (c, d); 0 when singular
    c = c00 * v0 + c01 * v1
    d = c01 * v0 + c11 * v1
    z2 = np.add.reduceat(r * np.exp(-1j * (c[:, None] + d[:, None] * tk) * u), row_start, axis=1)
    a, b = _linear_fit(_unwrap(np.angle(z2)), np.abs(z2), tb)
    fit = a[:, None] + b[:, None] * t
    phi = fit + np.angle(_centered_sums(z2 * np.exp(-1j * fit), PHASE_WINDOW))
    cpe_var = 1.0 / np.maximum(_centered_sums(np.add.reduceat(info, row_start, axis=1), PHASE_WINDOW), 1e-30)
    delay_var = c00[:, None] + 2 * c01[:, None] * t + c11[:, None] * t * t
    return PhaseTrack(phi, c[:, None] + d[:, None] * t, cpe_var, delay_var, -d * 1e6)


def track_common_phase(r: np.ndarray, known: KnownEntries, noise_var: np.ndarray, h: np.ndarray) -> PhaseTrack:
    """The first stage of ``track_phase`` alone: a common phase a + b t per frame (residual CFO), no
    timing drift and no smoothing. Fewer parameters, so steadier on a few symbols at low SNR (the
    header's first pass). Arguments as for ``track_phase``."""
    info = (2 * (h.real ** 2 + h.imag ** 2) / noise_var[:, None])[:, known.cols]
    z = np.add.reduceat(r, known.row_start, axis=1)
    a, b = _linear_fit(_unwrap(np.angle(z)), np.abs(z), known.t_basis)
    phase = a[:, None] + b[:, None] * known.t
    phase_var = np.broadcast_to(1.0 / np.maximum(info.sum(axis=1), 1e-30)[:, None], phase.shape)
    zeros = np.zeros_like(phase)
    return PhaseTrack(phase, zeros, phase_var, zeros, np.zeros(phase.shape[0]))


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

    @property
    def snr_per_subcarrier(self) -> np.ndarray:
        """Bias-corrected |H|^2 / sigma^2 per used subcarrier, linear, (B, n_used)."""
        return np.maximum(np.abs(self.h) ** 2 - self.h_err_var, 0) / self.noise_var[:, None]

    @property
    def snr_db(self) -> np.ndarray:
        """In-band SNR estimates: mean bias-corrected |H|^2 over sigma^2, dB, (B,)."""
        return 10 * np.log10(np.maximum(np.mean(self.snr_per_subcarrier, axis=-1), 1e-12))


def estimate_channel(y: np.ndarray, x: np.ndarray, params: OfdmParams) -> ChannelEstimate:
    """Fit the channels of B frames to their fully known symbols.

    Args:
        y: complex (B, n_known, n_used) received, phase-corrected symbols.
        x: float/complex (B or 1, n_known, n_used) or (n_known, n_used): the unit-modulus symbols sent.
    """
    proj, diag, rank = smoother(params)
    n = y.shape[1]
    yx = y * (np.conj(x) if np.iscomplexobj(x) else x)      # |x| = 1: y conj(x) = h + noise
    h = (yx.sum(axis=1) / n) @ proj.T
    d = yx - h[:, None, :]
    per_sc = (d.real * d.real + d.imag * d.imag).sum(axis=1)
    noise_var = per_sc.sum(axis=1) / max(n * y.shape[2] - rank, 1)
    return ChannelEstimate(h, noise_var[:, None] * diag / n, np.maximum(noise_var, 1e-30), per_sc / max(n - 1, 1))


def equalize(y: np.ndarray, rotation: np.ndarray, phase_var: np.ndarray, est: ChannelEstimate,
             cols: np.ndarray, symbol_energy: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased equalisation of the used subcarriers ``cols`` (int (n_cols,)) of B frames.

    Args:
        y: complex (B, n_sym, n_cols) received symbols; rotation, phase_var: (B, n_sym, n_cols) their
            phase correction and its error variance (``PhaseTrack``).
        symbol_energy: mean |X|^2 of the sent symbols (for the estimate-error terms).
    Returns:
        (equalised symbols complex (B, n_sym, n_cols), their complex error variance float (B, n_sym, n_cols)).
    """
    h = est.h[:, cols]
    hsq = np.maximum(h.real ** 2 + h.imag ** 2, 1e-30)
    eq = y * rotation * (np.conj(h) / hsq)[:, None, :]
    var = ((est.noise_var[:, None] + est.h_err_var[:, cols] * symbol_energy) / hsq)[:, None, :] \
        + phase_var * symbol_energy
    return eq, var
