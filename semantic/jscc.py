"""JSCC encoders and direct decoders (diffusers ModelMixin/ConfigMixin).

The encoder maps an RGB image (B, 3, H, W) in [0, 1] (H, W multiples of the tile) to a real latent
map (B, latent_channels, H/downsample, W/downsample), power-normalised so every tile's block of it
has unit mean square per real value.  The direct decoder takes what arrived, the received values and
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

from semantic.latent_channel import transmit
from semantic.layers import GDN, ResBlock


def tilewise_normalize(zmap: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """Scale every (h, w) = ``block`` tile of a latent map (B, C, H, W) to unit mean square per real value."""
    b, c, hh, ww = zmap.shape
    h, w = block
    if hh % h or ww % w:
        raise ValueError(f"latent map {hh}x{ww} is not a whole number of {h}x{w} tiles")
    t = zmap.reshape(b, c, hh // h, h, ww // w, w)
    ms = t.pow(2).mean((1, 3, 5), keepdim=True).clamp_min(1e-12)
    return (t / ms.sqrt()).reshape(b, c, hh, ww)


def reliability(y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LMMSE estimate and reliability of unit-variance values seen through y = z + n.

    Returns ``(w*y, w)`` with ``w = 1/(1+noise_var)``; values with infinite (or NaN) variance, or a
    non-finite y, get ``w = 0`` and estimate 0, so whatever y holds there cannot leak through.
    """
    ok = torch.isfinite(noise_var) & torch.isfinite(y)
    w = torch.where(ok, 1.0 / (1.0 + noise_var.clamp_min(0).nan_to_num(0.0)), torch.zeros_like(y))
    return torch.where(ok, y, torch.zeros_like(y)) * w, w


class _TileLatentCodec:
    """What both JSCC architectures share: tile-wise latents, the reliability input, the training path.

    Subclasses build ``self.encoder`` (RGB in [-1, 1] -> latent map) and ``self.decoder``
    ((w*y, w) map -> logits of RGB) and register ``tile``, ``latent_channels`` and ``downsample``.
    """

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one tile's latent."""
        s = self.config.tile // self.config.downsample
        return (self.config.latent_channels, s, s)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1], H and W multiples of ``tile`` -> latent map (B, C, H/ds, W/ds).

        The encoder sees the whole image; each tile's (C, h, w) block of the map is then scaled to
        unit mean square on its own, so a tile's values can be sent (and lost) independently.
        """
        return tilewise_normalize(self.encoder(x * 2.0 - 1.0), self.latent_shape[1:])

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """Received latent map (B, C, H, W) and its noise variance (inf = missing) -> (B, 3, H*ds, W*ds) in [0, 1]."""
        zhat, w = reliability(y, noise_var)
        return torch.sigmoid(self.decoder(torch.cat([zhat, w], dim=1)))

    def forward(self, x: torch.Tensor, noise_var: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode, pass through y = z + n with the given variance, decode (training path)."""
        return self.decode(transmit(self.encode(x), noise_var, generator), noise_var)


class JSCC(_TileLatentCodec, ModelMixin, ConfigMixin):
    """The first architecture (GELU residual convs, 4x downsampling, 4 x 16 x 16 latents per tile):
    the shipped default until a trained :class:`GdnJSCC` replaces it.

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
        enc: list[nn.Module] = [nn.Conv2d(3, hidden, 5, stride=2, padding=2), ResBlock(hidden)]
        for _ in range(n_down - 1):
            enc += [nn.GELU(), nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), ResBlock(hidden)]
        enc += [nn.GELU(), nn.Conv2d(hidden, latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(2 * latent_channels, hidden, 3, padding=1), ResBlock(hidden)]
        for k in range(n_down):
            out = hidden if k < n_down - 1 else hidden // 2
            dec += [nn.GELU(), nn.Conv2d(hidden, 4 * out, 3, padding=1), nn.PixelShuffle(2), ResBlock(out)]
        dec += [nn.GELU(), nn.Conv2d(hidden // 2, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)


class GdnJSCC(_TileLatentCodec, ModelMixin, ConfigMixin):
    """Analysis/synthesis transforms with GDN, fully convolutional over the whole image.

    Encoder: ``log2(downsample)`` stages of (3x3 stride-2 conv, GDN, residual block), the first a 5x5
    conv, then a 3x3 conv to ``latent_channels``; a 64x64 tile becomes (64, 4, 4) with the
    defaults (16x downsampling: every latent value sees a wide neighbourhood, so the 1024 reals of
    a tile describe its content in context rather than its pixels).  Decoder: the mirror image with
    sub-pixel upsampling and inverse GDN, fed the LMMSE estimate ``w*y`` and the reliability ``w``
    of every received value (``w = 0`` for a lost one), so one network serves every SNR, every
    fading state and lost tiles.  Residual blocks sit only at 1/4 resolution and coarser, and the two
    finest decoder stages are narrower (``hidden // 2``, ``hidden // 3``), to keep the CPU cost down.

    Args:
        tile: tile size in pixels (a multiple of ``downsample``).
        latent_channels: channels C of the latent.
        downsample: spatial reduction, a power of two (>= 4).
        hidden: feature channels of the coarse stages.
    """

    @register_to_config
    def __init__(self, tile: int = 64, latent_channels: int = 64, downsample: int = 16, hidden: int = 96):
        super().__init__()
        n = int(math.log2(downsample))
        if 2 ** n != downsample or n < 2 or tile % downsample:
            raise ValueError(f"downsample={downsample} must be a power of two >= 4 dividing tile={tile}")
        # decoder width after upsampling stage k (coarse to fine): the two finest stages are narrower
        widths = [hidden if k < n - 2 else hidden // 2 if k == n - 2 else hidden // 3 for k in range(n)]
        enc: list[nn.Module] = []
        c_in = 3
        for k in range(n):
            enc += [nn.Conv2d(c_in, hidden, 5 if k == 0 else 3, stride=2, padding=2 if k == 0 else 1),
                    GDN(hidden)]
            if k > 0:  # no residual block at half resolution, where it would cost most
                enc += [ResBlock(hidden)]
            c_in = hidden
        enc += [nn.Conv2d(hidden, latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(2 * latent_channels, hidden, 3, padding=1), ResBlock(hidden)]
        c_in = hidden
        for k in range(n):
            dec += [nn.Conv2d(c_in, 4 * widths[k], 3, padding=1), nn.PixelShuffle(2),
                    GDN(widths[k], inverse=True)]
            if k < n - 2:
                dec += [ResBlock(widths[k])]
            c_in = widths[k]
        dec += [nn.Conv2d(c_in, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)


#: JSCC classes by the ``_class_name`` their saved config carries.
JSCC_CLASSES = {"JSCC": JSCC, "GdnJSCC": GdnJSCC}
