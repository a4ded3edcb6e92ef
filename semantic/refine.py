"""Transmitter-side latent refinement: gradient steps on one image's latent map through the decoder
and the latent channel, so that what is sent decodes better at the SNR the transmitter plans for.

The encoder is amortised (one forward pass serves every image); for one image, a few dozen Adam
steps on its latents close part of that gap (the "amortisation gap" of learned compression).  The
decoder, the channel and the receiver are unchanged, so any receiver of the same model benefits,
and the latents keep the encoder's power normalisation (unit mean square per tile).  The cost is
``steps`` forward and backward passes of the decoder over the image at the transmitter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from semantic.jscc import tilewise_normalize
from semantic.latent_channel import noise_variance, transmit

#: Adam step size on the latents (unit mean square), chosen on the validation crops
#: (docs/results/tx_refinement_validation.json).
DEFAULT_LR = 0.03


def refine_latents(jscc, x: torch.Tensor, zmap: torch.Tensor, snr_db: float | tuple[float, float],
                   steps: int, *, lr: float = DEFAULT_LR, valid: tuple[int, int] | None = None,
                   seed: int = 0) -> torch.Tensor:
    """Refine an encoder's latent map for AWGN at ``snr_db``.

    Args:
        jscc: the codec's JSCC (its ``decode(y, noise_var)`` and ``latent_shape``); not modified.
        x: float (B, 3, H, W) in [0, 1], the image(s) the latents stand for.
        zmap: float (B, C, H/d, W/d) the encoder's latent map of ``x``, unit mean square per tile.
        snr_db: the SNR (dB per real latent value) to refine for, or a (low, high) range: each step
            draws one SNR per image uniformly in dB, for a transmitter that does not know its channel.
        steps: Adam steps (0 returns ``zmap`` unchanged).
        lr: Adam step size.
        valid: (H, W) of the image inside ``x`` (the rest is tile padding, left out of the loss).
        seed: seeds the channel noise of the steps.

    Returns:
        float (B, C, H/d, W/d) refined latents, unit mean square per tile (no gradient attached).
    """
    if steps <= 0:
        return zmap
    lo, hi = (snr_db, snr_db) if isinstance(snr_db, (int, float)) else snr_db
    if hi < lo:
        raise ValueError(f"refine SNR range ({lo:g}, {hi:g}) dB has its high end below its low end")
    block = tuple(jscc.latent_shape[1:])
    h, w = valid if valid is not None else x.shape[-2:]
    g = torch.Generator().manual_seed(seed)
    u = zmap.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr)
    params = [p for p in jscc.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in tqdm(range(steps), desc="refining latents", leave=False, disable=None, mininterval=2.0):
                z = tilewise_normalize(u, block)
                var = noise_variance(z.shape, lo + (hi - lo) * torch.rand(z.shape[0], generator=g), "awgn")
                rec = jscc.decode(transmit(z, var, g), var)
                loss = F.mse_loss(rec[..., :h, :w], x[..., :h, :w])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        for p in params:
            p.requires_grad_(True)
    return tilewise_normalize(u.detach(), block)
