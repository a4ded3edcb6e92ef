"""Building blocks of the JSCC transforms: GDN and a residual block.

GDN (generalised divisive normalisation, Ballé et al., ICLR 2016/2017) is the normalisation of
learned image codecs: ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (inverse GDN multiplies
instead of dividing).  It Gaussianises the local statistics of natural images better than
ReLU/BatchNorm at the same width, which matters when the latent itself is the channel input.
No package that runs beside our CPU torch provides it (compressai needs torchvision), so the
few lines are here; ``beta`` and ``gamma`` are reparametrised as squares so they stay positive.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GDN(nn.Module):
    """GDN over the channels of (B, C, H, W) features (``inverse=True``: IGDN, for synthesis)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse, self.beta_min = inverse, beta_min
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter((gamma_init * torch.eye(channels)).sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt.pow(2) + self.beta_min
        gamma = self.gamma_sqrt.pow(2)
        norm = F.conv2d(x.pow(2), gamma[:, :, None, None], beta).sqrt()
        return x * norm if self.inverse else x / norm


class ResBlock(nn.Module):
    """x + conv3x3(GELU(conv3x3(GELU(x)))) at constant width."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.GELU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GELU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
