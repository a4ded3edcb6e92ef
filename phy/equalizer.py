"""Channel estimation, pilot phase tracking and equalisation of one frame's OFDM symbols.

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
    """Per-symbol phase correction.

    Attributes:
        rotation: complex (n_sym, n_used) unit factors that undo the phase model.
        phase_var: float (n_sym, n_used) variance of the phase correction's error, rad^2.
        sro_ppm: fitted timing drift in ppm of the sample rate (positive: receiver clock fast).
    """

    rotation: np.ndarray
    phase_var: np.ndarray
    sro_ppm: float


def _centered_sums(v: np.ndarray, half: int) -> np.ndarray:
    """Sums of v over [i - half, i + half] clipped to the array, same shape as v (n,)."""
    cs = np.concatenate([[0], np.cumsum(v)])
    i = np.arange(v.size)
    return cs[np.minimum(i + half + 1, v.size)] - cs[np.maximum(i - half, 0)]


def _linear_fit(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares y ≈ a + b t."""
    sw = w.sum()
    tm, ym = (w * t).sum() / sw, (w * y).sum() / sw
    den = (w * (t - tm) ** 2).sum()
    b = (w * (t - tm) * (y - ym)).sum() / den if den > 0 else 0.0
    return ym - b * tm, b


def track_phase(r: np.ndarray, known: np.ndarray, t: np.ndarray, params: OfdmParams,
                noise_var: float, h: np.ndarray) -> PhaseTrack:
    """Fit common phase and timing drift.

    Args:
        r: complex (n_sym, n_used), Y * conj(X) * conj(H_ref) where X is known (else anything).
        known: bool (n_sym, n_used), where X is known.
        t: float (n_sym,) FFT window start of each symbol, samples.
        noise_var: sigma^2 per subcarrier; h: complex (n_used,) reference channel.
    """
    u = 2 * np.pi * used_subcarriers(params) / params.n_fft
    r = np.where(known, r, 0)
    # inverse variance of each observation's phase: 2 |H|^2 / sigma^2
    info = known * (2 * np.abs(h) ** 2 / noise_var)[None, :]
    z = r.sum(axis=1)
    a, b = _linear_fit(np.unwrap(np.angle(z)), t, np.abs(z))
    # timing drift: residual phase across subcarriers ≈ (c + d t) u, weighted least squares
    psi = np.angle(r * np.exp(-1j * (a + b * t))[:, None])
    g1 = np.broadcast_to(u[None, :], r.shape)
    g2 = g1 * t[:, None]
    m = np.array([[(info * g1 * g1).sum(), (info * g1 * g2).sum()],
                  [(info * g1 * g2).sum(), (info * g2 * g2).sum()]])
    v = np.array([(info * g1 * psi).sum(), (info * g2 * psi).sum()])
    det = m[0, 0] * m[1, 1] - m[0, 1] ** 2
    cov = np.array([[m[1, 1], -m[0, 1]], [-m[0, 1], m[0, 0]]]) / det if det > 0 else np.zeros((2, 2))
    c, d = cov @ v
    slope = np.exp(-1j * (c + d * t)[:, None] * u[None, :])
    slope_var = u[None, :] ** 2 * (cov[0, 0] + 2 * cov[0, 1] * t[:, None] + cov[1, 1] * t[:, None] ** 2)
    z2 = (r * slope).sum(axis=1)
    a, b = _linear_fit(np.unwrap(np.angle(z2)), t, np.abs(z2))
    smooth = _centered_sums(z2 * np.exp(-1j * (a + b * t)), PHASE_WINDOW)
    phi = a + b * t + np.angle(smooth)
    cpe_var = 1.0 / np.maximum(_centered_sums(info.sum(axis=1), PHASE_WINDOW), 1e-30)
    return PhaseTrack(np.exp(-1j * phi)[:, None] * slope, cpe_var[:, None] + slope_var, float(-d * 1e6))


@dataclass
class ChannelEstimate:
    """Channel and noise estimate of one frame.

    Attributes:
        h: complex (n_used,) channel per used subcarrier (includes the transmitter's scaling).
        h_err_var: float (n_used,) variance of the error of ``h``.
        noise_var: pooled complex noise variance per subcarrier, sigma^2.
        noise_var_per_subcarrier: float (n_used,) residual variance per subcarrier (diagnostic).
    """

    h: np.ndarray
    h_err_var: np.ndarray
    noise_var: float
    noise_var_per_subcarrier: np.ndarray

    @property
    def snr_per_subcarrier(self) -> np.ndarray:
        """Bias-corrected |H|^2 / sigma^2 per used subcarrier, linear."""
        return np.maximum(np.abs(self.h) ** 2 - self.h_err_var, 0) / self.noise_var

    @property
    def snr_db(self) -> float:
        """In-band SNR estimate: mean bias-corrected |H|^2 over sigma^2, dB."""
        return float(10 * np.log10(max(np.mean(self.snr_per_subcarrier), 1e-12)))


def estimate_channel(y: np.ndarray, x: np.ndarray, params: OfdmParams) -> ChannelEstimate:
    """Fit the channel to fully known symbols.

    Args:
        y: complex (n_known, n_used) received, phase-corrected symbols.
        x: float/complex (n_known, n_used) the unit-modulus symbols that were sent.
    """
    proj, diag, rank = smoother(params)
    n = y.shape[0]
    raw = (y * np.conj(x)).mean(axis=0)
    h = proj @ raw
    resid = np.abs(y - h[None, :] * x) ** 2
    noise_var = float(resid.sum() / max(n * y.shape[1] - rank, 1))
    per_sc = resid.sum(axis=0) / max(n - 1, 1)
    return ChannelEstimate(h, noise_var * diag / n, max(noise_var, 1e-30), per_sc)


def equalize(y: np.ndarray, track: PhaseTrack, est: ChannelEstimate,
             symbol_energy: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased equalisation.

    Args:
        y: complex (n_sym, n_used) received symbols; track: their phase correction.
        symbol_energy: mean |X|^2 of the sent symbols (for the estimate-error terms).
    Returns:
        (equalised symbols complex (n_sym, n_used), their complex error variance float (n_sym, n_used)).
    """
    hsq = np.maximum(np.abs(est.h) ** 2, 1e-30)
    eq = y * track.rotation / est.h[None, :]
    var = (est.noise_var + est.h_err_var * symbol_energy)[None, :] / hsq[None, :] \
        + track.phase_var * symbol_energy
    return eq, var
