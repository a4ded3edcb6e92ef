"""DeepJSCC-style encoder and direct decoder (diffusers ModelMixin/ConfigMixin).

The encoder maps an RGB tile (B, 3, tile, tile) in [0, 1] to a real latent
(B, latent_channels, tile/downsample, tile/downsample), power-normalised so every tile's latent has
unit mean square per real value.  The direct decoder takes what arrived, the received values and
their per-value noise variance (inf = missing), and returns the tile in [0, 1].  It sees the
LMMSE estimate ``w*y`` and the reliability ``w = 1/(1+var)`` (unit-variance prior), so one network
serves every SNR and fading state; ``w = 0`` for a missing value.
"""
from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


class _ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.GELU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GELU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def power_normalize(z: torch.Tensor) -> torch.Tensor:
    """Scale each sample of (B, ...) to unit mean square per real value."""
    ms = z.pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return z / ms.sqrt().reshape(-1, *([1] * (z.ndim - 1)))


def reliability(y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LMMSE estimate and reliability of unit-variance values seen through y = z + n.

    Returns ``(w*y, w)`` with ``w = 1/(1+noise_var)``; values with infinite (or NaN) variance, or a
    non-finite y, get ``w = 0`` and estimate 0, so whatever y holds there cannot leak through.
    """
    ok = torch.isfinite(noise_var) & torch.isfinite(y)
    w = torch.where(ok, 1.0 / (1.0 + noise_var.clamp_min(0).nan_to_num(0.0)), torch.zeros_like(y))
    return torch.where(ok, y, torch.zeros_like(y)) * w, w


class JSCC(ModelMixin, ConfigMixin):
    """Conv encoder + direct decoder.

    Args:
        tile: tile size in pixels (a multiple of ``downsample``).
        latent_channels: channels C of the latent.
        downsample: spatial reduction, a power of two (64x64 tile -> 16x16 latent with 4).
        hidden: feature channels at the latent resolution; halved at each finer resolution
            in the decoder's last stage to keep the CPU cost low.
    """

    @register_to_config
    def __init__(self, tile: int = 64, latent_channels: int = 4, downsample: int = 4, hidden: int = 64):
        super().__init__()
        n_down = int(math.log2(downsample))
        if 2 ** n_down != downsample or tile % downsample:
            raise ValueError(f"downsample={downsample} must be a power of two dividing tile={tile}")
        enc: list[nn.Module] = [nn.Conv2d(3, hidden, 5, stride=2, padding=2), _ResBlock(hidden)]
        for _ in range(n_down - 1):
            enc += [nn.GELU(), nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), _ResBlock(hidden)]
        enc += [nn.GELU(), nn.Conv2d(hidden, latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(2 * latent_channels, hidden, 3, padding=1), _ResBlock(hidden)]
        for k in range(n_down):
            out = hidden if k < n_down - 1 else hidden // 2
            dec += [nn.GELU(), nn.Conv2d(hidden, 4 * out, 3, padding=1), nn.PixelShuffle(2), _ResBlock(out)]
        dec += [nn.GELU(), nn.Conv2d(hidden // 2, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one tile's latent."""
        s = self.config.tile // self.config.downsample
        return (self.config.latent_channels, s, s)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, tile, tile) in [0, 1] -> latent (B, C, h, w) with unit mean square per tile."""
        return power_normalize(self.encoder(x * 2.0 - 1.0))

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """Received latents (B, C, h, w) and their noise variance (inf = missing) -> (B, 3, tile, tile) in [0, 1]."""
        zhat, w = reliability(y, noise_var)
        return torch.sigmoid(self.decoder(torch.cat([zhat, w], dim=1)))

    def forward(self, x: torch.Tensor, noise_var: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode, pass through y = z + n with the given variance, decode (training path)."""
        z = self.encode(x)
        n = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        y = z + n * torch.where(torch.isfinite(noise_var), noise_var, torch.zeros_like(noise_var)).sqrt()
        return self.decode(y, noise_var)
