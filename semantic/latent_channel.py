"""The simulated latent channel y = z + n with per-value noise variance (no PHY).

This mirrors what the OFDM receiver hands to the decoder: equalised, unbiased estimates of the sent
real values with each one's noise variance.  With unit mean-square latents, ``snr_db`` is the
per-real-value SNR, so the noise variance is ``10**(-snr_db/10)``.  Fading is modelled as an OFDM
receiver sees it after zero-forcing equalisation on a Rayleigh/TDL channel: each complex symbol
(two consecutive real values) has a gain |h|^2 ~ Exp(1), and its noise variance is
``sigma^2 / |h|^2``.  ``inf`` marks a missing value (a lost frame).
"""
from __future__ import annotations

import torch

#: Channel kinds understood by :func:`noise_variance`.
CHANNELS = ("awgn", "rayleigh")
#: Largest finite variance produced (a deep fade below this is kept as a huge but finite value).
MAX_VAR = 1e4


def noise_variance(shape: tuple[int, ...], snr_db: torch.Tensor | float, channel: str,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-value noise variance, float32 of ``shape`` (batch first).

    Args:
        shape: latent shape (B, C, h, w); C*h*w must be even (real pairs form complex symbols).
        snr_db: per-real-value SNR in dB, a float or a tensor of shape (B,).
        channel: ``'awgn'`` (same variance everywhere) or ``'rayleigh'`` (per complex symbol
            |h|^2 ~ Exp(1), variance sigma^2/|h|^2, clipped at :data:`MAX_VAR`).
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown latent channel {channel!r}; use one of {', '.join(CHANNELS)}")
    snr = torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1, *([1] * (len(shape) - 1)))
    var = torch.ones(shape) * 10.0 ** (-snr / 10.0)
    if channel == "rayleigh":
        n = var[0].numel()
        gain = torch.empty(shape[0], n // 2).exponential_(1.0, generator=generator)
        gain = gain.repeat_interleave(2, dim=1).reshape(shape)
        var = (var / gain).clamp(max=MAX_VAR)
    return var


def transmit(z: torch.Tensor, noise_var: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Received values y = z + n, n ~ N(0, noise_var) per value; inf variance gives NaN (missing).

    Differentiable in ``z`` and ``noise_var`` with finite gradients (a lost value's variance gets none).
    """
    n = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    ok = torch.isfinite(noise_var)
    y = z + n * torch.where(ok, noise_var, torch.ones_like(noise_var)).sqrt()
    return torch.where(ok, y, torch.full_like(y, float("nan")))
