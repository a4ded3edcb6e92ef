"""Transmitter-side latent refinement: gradient steps on one image's latent map through the decoder
and the latent channel, so that what is sent decodes better at the SNR the transmitter plans for.

The encoder is amortised (one forward pass serves every image); for one image, a few dozen Adam
steps on its latents close part of that gap (the "amortisation gap" of learned compression).  The
decoder, the channel and the receiver are unchanged, so any receiver of the same model benefits,
and every tile keeps the mean power the encoder gave it.  The cost is
``steps`` forward and backward passes of the decoder over the image at the transmitter.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from semantic.latent_channel import noise_variance, transmit

#: Adam step size on the sent values (unit mean power).
DEFAULT_LR = 0.03


@dataclass(frozen=True)
class RefineSettings:
    """How :func:`refine_latents` refines.

    Attributes:
        steps: Adam steps, each one forward and backward pass of the decoder (0: no refinement).
        snr_db: the SNR (dB per real latent value) to refine for, or a (low, high) range in dB: each
            step draws one SNR per image uniformly in dB, for a transmitter that does not know its channel.
        lr: Adam step size on the sent values (unit mean power).
        seed: seeds the channel noise of the steps.
    """

    steps: int = 0
    snr_db: float | tuple[float, float] = (0.0, 15.0)
    lr: float = DEFAULT_LR
    seed: int = 0


def tile_power(zmap: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """Mean square per (h, w) = ``block`` tile of a map (B, C, H, W): (B, 1, H/h, 1, W/w, 1)."""
    b, c, hh, ww = zmap.shape
    h, w = block
    return zmap.reshape(b, c, hh // h, h, ww // w, w).pow(2).mean((1, 3, 5), keepdim=True)


def _to_power(zmap: torch.Tensor, power: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """``zmap`` with every tile scaled to mean square ``power`` (as returned by :func:`tile_power`)."""
    b, c, hh, ww = zmap.shape
    h, w = block
    t = zmap.reshape(b, c, hh // h, h, ww // w, w)
    return (t * (power / tile_power(zmap, block).clamp_min(1e-12)).sqrt()).reshape(b, c, hh, ww)


def refine_latents(model, x: torch.Tensor, zmap: torch.Tensor, settings: RefineSettings, *, block: tuple[int, int],
                   valid: tuple[int, int] | None = None) -> torch.Tensor:
    """Refine the sent values of an image for AWGN at ``settings.snr_db``.

    Args:
        model: the codec's network (its ``decode(y, noise_var)``); not modified.
        x: float (B, 3, H, W) in [0, 1], the image(s) the values stand for.
        zmap: float (B, C, H/d, W/d) the values the encoder would send for ``x``.
        settings: steps (0 returns ``zmap`` unchanged), SNR or SNR range, Adam step size and noise
            seed (:class:`RefineSettings`).
        block: (h, w) of one transmission tile in the map; each keeps its mean power.
        valid: (H, W) of the image inside ``x`` (the rest is tile padding, left out of the loss).

    Returns:
        float (B, C, H/d, W/d) refined values, each tile at its original mean power (no gradient attached).
    """
    steps, snr_db = settings.steps, settings.snr_db
    if steps <= 0:
        return zmap
    lo, hi = (snr_db, snr_db) if isinstance(snr_db, (int, float)) else snr_db
    if hi < lo:
        raise ValueError(f"refine SNR range ({lo:g}, {hi:g}) dB has its high end below its low end")
    power = tile_power(zmap, block)
    h, w = valid if valid is not None else x.shape[-2:]
    g = torch.Generator().manual_seed(settings.seed)
    u = zmap.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=settings.lr)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in tqdm(range(steps), desc="refining latents", leave=False, disable=None, mininterval=2.0):
                z = _to_power(u, power, block)
                var = noise_variance(z.shape, lo + (hi - lo) * torch.rand(z.shape[0], generator=g), "awgn")
                rec = model.decode(transmit(z, var, g), var)
                loss = F.mse_loss(rec[..., :h, :w], x[..., :h, :w])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        for p in params:
            p.requires_grad_(True)
    return _to_power(u.detach(), power, block)
