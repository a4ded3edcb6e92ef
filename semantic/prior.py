"""Diffusion prior over the JSCC latent map: a small diffusers ``UNet2DModel`` and its DDPM schedule.

The UNet predicts ``v`` (v-prediction) on latents x_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps,
with z the encoder's unit mean-square latent, under a ``squaredcos_cap_v2`` DDPM schedule of 1000
steps.  It is unconditional: what arrived enters only at sampling time (``semantic.samplers``), so
one prior serves every channel and SNR.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel


def make_prior(latent_channels: int = 64, block_out_channels: tuple[int, ...] = (96, 160),
               sample_size: int = 16) -> UNet2DModel:
    """A small UNet2DModel over latent MAPS (B, latent_channels, H, W): fully convolutional (with
    self-attention at the coarser levels), so it runs on the stitched map of a whole image and a
    lost tile is generated from its neighbours.  ``sample_size`` is the training map size (H, W
    must be even at each down-sampling level, which whole tiles of 4x4 latents are)."""
    n = len(block_out_channels)
    return UNet2DModel(
        sample_size=sample_size, in_channels=latent_channels, out_channels=latent_channels, layers_per_block=1,
        block_out_channels=tuple(block_out_channels),
        down_block_types=("DownBlock2D",) + ("AttnDownBlock2D",) * (n - 1),
        up_block_types=("AttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
        norm_num_groups=32, attention_head_dim=32,
    )


def make_scheduler() -> DDPMScheduler:
    """The training schedule (1000 steps, cosine betas, v-prediction)."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=False)


def diffusion_loss(unet: UNet2DModel, scheduler: DDPMScheduler, z: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM training loss (MSE on v) for clean latents z (B, C, h, w)."""
    t = torch.randint(0, scheduler.config.num_train_timesteps, (z.shape[0],),
                      generator=generator).to(z.device)
    eps = torch.randn(z.shape, generator=generator).to(z.device)
    xt = scheduler.add_noise(z, eps, t)
    target = scheduler.get_velocity(z, eps, t)
    return F.mse_loss(unet(xt, t).sample, target)
