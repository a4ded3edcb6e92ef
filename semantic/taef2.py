"""The tiny latent autoencoder TAEF2 (MIT licence, madebyollin/taesd), written from its layer layout.

Images are RGB in [0, 1], (B, 3, H, W) with H and W multiples of 8; latents are (B, 32, H/8, W/8).
The modules' parameter names match the published state dicts (``taef2_encoder.pth``,
``taef2_decoder.pth``: ``nn.Sequential`` indices), so :func:`load_taef2` loads them as they are.

Layout (three stride-2 stages each way, 64 channels throughout):
- encoder: 3x3 conv 3->64; a residual block; three times (stride-2 3x3 conv without bias, three
  blocks); a 3x3 conv 64->32.  The last stage's three blocks carry a pooling branch.
- decoder: soft clamp 3*tanh(x/3); 3x3 conv 32->64, ReLU; three times (three blocks, 2x nearest
  upsampling, 3x3 conv without bias); one block; 3x3 conv 64->3.  The first stage's three blocks
  carry a pooling branch.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: Latent channels and spatial reduction of TAEF2.
LATENT_CHANNELS, DOWNSAMPLE = 32, 8


def _conv(c_in: int, c_out: int, **kw) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, **kw)


class Block(nn.Module):
    """Residual block relu(x' + conv(x')), conv = three 3x3 convs with ReLU between; with ``pool``,
    x' = x + (1x1 conv 64->256, GroupNorm(4), ReLU, 1x1 conv 256->64)(x), else x' = x."""

    def __init__(self, channels: int = 64, pool: bool = False):
        super().__init__()
        self.conv = nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels), nn.ReLU(),
                                  _conv(channels, channels))
        self.pool = nn.Sequential(nn.Conv2d(channels, 4 * channels, 1, bias=False), nn.GroupNorm(4, 4 * channels),
                                  nn.ReLU(), nn.Conv2d(4 * channels, channels, 1, bias=False)) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return torch.relu(self.conv(x) + x)


class SoftClamp(nn.Module):
    """3 * tanh(x / 3): keeps latents (and a noisy estimate of them) in the range the decoder knows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 * torch.tanh(x / 3.0)


def taef2_encoder() -> nn.Sequential:
    """TAEF2 encoder: image (B, 3, H, W) in [0, 1] -> latents (B, 32, H/8, W/8)."""
    layers: list[nn.Module] = [_conv(3, 64), Block()]
    for stage in range(3):
        layers += [_conv(64, 64, stride=2, bias=False)] + [Block(pool=stage == 2) for _ in range(3)]
    layers.append(_conv(64, LATENT_CHANNELS))
    return nn.Sequential(*layers)


def taef2_decoder() -> nn.Sequential:
    """TAEF2 decoder: latents (B, 32, h, w) -> image (B, 3, 8h, 8w), about [0, 1] (not clamped)."""
    layers: list[nn.Module] = [SoftClamp(), _conv(LATENT_CHANNELS, 64), nn.ReLU()]
    for stage in range(3):
        layers += [Block(pool=stage == 0) for _ in range(3)]
        layers += [nn.Upsample(scale_factor=2), _conv(64, 64, bias=False)]
    layers += [Block(), _conv(64, 3)]
    return nn.Sequential(*layers)


def load_taef2(folder: str | Path) -> tuple[nn.Sequential, nn.Sequential]:
    """Encoder and decoder (float32, eval mode) from ``folder``/taef2_{encoder,decoder}.pth.

    Raises FileNotFoundError naming a missing file, and RuntimeError (from ``load_state_dict``) when
    a file does not hold the TAEF2 layout.
    """
    folder = Path(folder)
    out = []
    for name, build in (("encoder", taef2_encoder), ("decoder", taef2_decoder)):
        path = folder / f"taef2_{name}.pth"
        if not path.is_file():
            raise FileNotFoundError(f"no {path.name} in {str(folder)!r}; point at the folder holding the TAEF2 "
                                    "state dicts (taef2_encoder.pth, taef2_decoder.pth)")
        module = build()
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict({k: v.float() for k, v in state.items()})
        out.append(module.eval())
    return out[0], out[1]
