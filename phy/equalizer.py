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
    """Per-symbol phase model: on used subcarrier k, symbol n is rotated by
    phase[n] + 2 pi k delay[n] / n_fft relative to the reference channel.

    Attributes:
        phase: float (n_sym,) common phase, rad.
        delay: float (n_sym,) timing offset, samples.
        phase_var, delay_var: float (n_sym,) error variances of phase (rad^2) and delay (samples^2).
        sro_ppm: fitted timing drift in ppm of the sample rate (positive: receiver clock fast).
    """

    phase: np.ndarray
    delay: np.ndarray
    phase_var: np.ndarray
    delay_var: np.ndarray
    sro_ppm: float

    def rotation(self, params: OfdmParams, rows: slice, cols: np.ndarray | None = None) -> np.ndarray:
        """Unit factors that undo the model, complex (n_rows, n_cols) (all used subcarriers when
        ``cols`` is None)."""
        ramp = subcarrier_ramp(self.delay[rows], params)
        return np.exp(-1j * self.phase[rows])[:, None] * (ramp if cols is None else ramp[:, cols])

    def error_var(self, params: OfdmParams, rows: slice, cols: np.ndarray) -> np.ndarray:
        """Variance of the rotation's phase error, rad^2, float (n_rows, n_cols)."""
        u = _subcarrier_tables(params)[0][cols]
        return self.phase_var[rows, None] + np.outer(self.delay_var[rows], u * u)


def _centered_sums(v: np.ndarray, half: int) -> np.ndarray:
    """Sums of v over [i - half, i + half] clipped to the array, same shape as v (n,)."""
    cs = np.concatenate([[0], np.cumsum(v)])
    i = np.arange(v.size)
    return cs[np.minimum(i + half + 1, v.size)] - cs[np.maximum(i - half, 0)]


def _unwrap(phase: np.ndarray) -> np.ndarray:
    """Phase (rad, (n,)) with jumps larger than pi between neighbours removed (as ``np.unwrap``)."""
    jumps = np.round(np.diff(phase) / (2 * np.pi))
    out = phase.copy()
    out[1:] -= 2 * np.pi * np.cumsum(jumps)
    return out


def _linear_fit(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares y ≈ a + b t."""
    sw = w.sum()
    tm, ym = (w @ t) / sw, (w @ y) / sw
    dt = t - tm
    wdt = w * dt
    den = wdt @ dt
    b = (wdt @ (y - ym)) / den if den > 0 else 0.0
    return ym - b * tm, b


@lru_cache(maxsize=8)
def _subcarrier_tables(params: OfdmParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """For the used subcarriers k: (phase per sample of delay 2 pi k / n_fft, rad (n_used,);
    column |k| - 1 of a power table (clipped at 0); k < 0; k == 0; largest |k|)."""
    k = used_subcarriers(params)
    return 2 * np.pi * k / params.n_fft, np.maximum(np.abs(k) - 1, 0), k < 0, k == 0, int(np.max(np.abs(k)))


def subcarrier_ramp(delay: np.ndarray, params: OfdmParams) -> np.ndarray:
    """exp(-2 pi j k delay[n] / n_fft) for every used subcarrier k: complex (n, n_used); undoes a
    timing offset of ``delay`` (float (n,), samples). Built from powers of one factor per row (a
    cumulative product) rather than n * n_used complex exponentials."""
    _, col, neg, dc, kmax = _subcarrier_tables(params)
    base = np.exp(-2j * np.pi / params.n_fft * np.asarray(delay, dtype=np.float64))
    powers = np.cumprod(np.broadcast_to(base[:, None], (base.size, kmax)), axis=1)
    out = powers[:, col]
    out[:, neg] = np.conj(out[:, neg])
    out[:, dc] = 1.0
    return out


def track_phase(r: np.ndarray, rows: np.ndarray, cols: np.ndarray, row_start: np.ndarray,
                t: np.ndarray, params: OfdmParams, noise_var: float, h: np.ndarray) -> PhaseTrack:
    """Fit common phase and timing drift to the known entries of a frame's symbol grid.

    Args:
        r: complex (n_known,) Y * conj(X) * conj(H_ref) at the known entries, row-major (every
            symbol has at least one known entry: its pilots).
        rows, cols: int (n_known,) symbol and used-subcarrier index of each entry.
        row_start: int (n_sym,) index in ``r`` of each symbol's first entry.
        t: float (n_sym,) FFT window start of each symbol, samples.
        noise_var: sigma^2 per subcarrier; h: complex (n_used,) reference channel.
    """
    u_all = _subcarrier_tables(params)[0]
    u = u_all[cols]
    # inverse variance of each observation's phase: 2 |H|^2 / sigma^2
    info = (2 * (h.real ** 2 + h.imag ** 2) / noise_var)[cols]
    z = np.add.reduceat(r, row_start)
    a, b = _linear_fit(_unwrap(np.angle(z)), t, np.abs(z))
    # timing drift: residual phase across subcarriers ≈ (c + d t) u, weighted least squares
    tk = t[rows]
    psi = np.angle(r * np.exp(-1j * (a + b * t))[rows])
    iu = info * u
    iut = iu * tk
    m00, m01, m11 = iu @ u, iut @ u, (iut * tk) @ u
    v0, v1 = iu @ psi, iut @ psi
    det = m00 * m11 - m01 ** 2
    c00, c01, c11 = (m11 / det, -m01 / det, m00 / det) if det > 0 else (0.0, 0.0, 0.0)   # covariance of (c, d)
    c = c00 * v0 + c01 * v1
    d = c01 * v0 + c11 * v1
    z2 = np.add.reduceat(r * np.exp(-1j * (c + d * tk) * u), row_start)
    a, b = _linear_fit(_unwrap(np.angle(z2)), t, np.abs(z2))
    smooth = _centered_sums(z2 * np.exp(-1j * (a + b * t)), PHASE_WINDOW)
    phi = a + b * t + np.angle(smooth)
    cpe_var = 1.0 / np.maximum(_centered_sums(np.add.reduceat(info, row_start), PHASE_WINDOW), 1e-30)
    delay_var = c00 + 2 * c01 * t + c11 * t * t
    return PhaseTrack(phi, c + d * t, cpe_var, delay_var, float(-d * 1e6))


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
    yx = y * (np.conj(x) if np.iscomplexobj(x) else x)      # |x| = 1: y conj(x) = h + noise
    h = proj @ (yx.sum(axis=0) / n)
    d = yx - h
    resid = d.real * d.real + d.imag * d.imag
    per_sc = resid.sum(axis=0)
    noise_var = float(per_sc.sum() / max(n * y.shape[1] - rank, 1))
    return ChannelEstimate(h, noise_var * diag / n, max(noise_var, 1e-30), per_sc / max(n - 1, 1))


def equalize(y: np.ndarray, rotation: np.ndarray, phase_var: np.ndarray, est: ChannelEstimate,
             cols: np.ndarray, symbol_energy: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased equalisation of the used subcarriers ``cols`` (int (n_cols,)).

    Args:
        y: complex (n_sym, n_cols) received symbols; rotation, phase_var: (n_sym, n_cols) their
            phase correction and its error variance (``PhaseTrack`` columns).
        symbol_energy: mean |X|^2 of the sent symbols (for the estimate-error terms).
    Returns:
        (equalised symbols complex (n_sym, n_cols), their complex error variance float (n_sym, n_cols)).
    """
    h = est.h[cols]
    hsq = np.maximum(h.real ** 2 + h.imag ** 2, 1e-30)
    eq = y * rotation * (np.conj(h) / hsq)[None, :]
    var = ((est.noise_var + est.h_err_var[cols] * symbol_energy) / hsq)[None, :] + phase_var * symbol_energy
    return eq, var
