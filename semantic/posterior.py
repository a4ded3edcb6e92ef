"""Posterior inference over the TAEF2 latent space with a diffusion prior: y = P_k (z - mu) + n.

The receiver knows the operator (the codec's projection P_k, k = 32, 16 or 8 rows) and each received
value's noise variance (inf = lost).  With the prior's standardised latents x = (z - mu) / s (s: the
per-channel standard deviation of the training latents, as ``semantic.prior_train`` trains it) the
model per 8x8-pixel position is y = H x + n, H = P_k diag(s) (k x 32).

:func:`posterior_latents` starts from the direct decoder's estimate (LMMSE + restorer: the
posterior-mean end), noises it to the diffusion time that ``realism`` sets and runs DDIM steps
back to time 0.  At every step the prior's x0 prediction is corrected by the measurements, per position
and in closed form, as the Gaussian posterior of x0 given y when x0's prior is N(x0_hat, rho_t^2 I),
rho_t^2 = 1 - abar_t the prior's error variance at that step for unit-variance data (the Gaussian
approximation of Pi-GDM, Song et al. 2023): received values hold the estimate to them in proportion to their
precision, lost ones leave it to the prior and the neighbourhood the UNet sees.  ``realism`` sets
both the start time (t = realism * T) and the DDIM noise (eta = realism): 0 is the direct
decoder's estimate itself, 1 a posterior sample from pure noise.
"""
from __future__ import annotations

import torch

from semantic.latent_codec import ProjectedLatentCodec, received_precision


def _consistent(x0: torch.Tensor, y: torch.Tensor, prec: torch.Tensor, h: torch.Tensor,
                rho2: float) -> torch.Tensor:
    """x0 (B, 32, h, w) corrected by y (B, k, h, w) with precisions ``prec`` (0 = lost): per position
    argmin |x - x0|^2 / rho2 + sum_j prec_j (y_j - (H x)_j)^2, i.e. (I / rho2 + H^T Pi H)^-1 (x0 / rho2 + H^T Pi y)."""
    b, c, hh, ww = x0.shape
    k = y.shape[1]
    x0f = x0.permute(0, 2, 3, 1).reshape(-1, c)                          # (N, 32)
    yf, pf = (t.permute(0, 2, 3, 1).reshape(-1, k) for t in (y, prec))   # (N, k)
    h, x0f, yf, pf = h.double(), x0f.double(), yf.double(), pf.double()   # precisions span 1 ... 1e6
    info = torch.eye(c, dtype=torch.float64) / rho2 + torch.einsum("ki,nk,kj->nij", h, pf, h)
    rhs = (x0f / rho2 + torch.einsum("ki,nk->ni", h, pf * yf))[..., None]
    x = torch.cholesky_solve(rhs, torch.linalg.cholesky(info))[..., 0].float()
    return x.reshape(b, hh, ww, c).permute(0, 3, 1, 2)


@torch.no_grad()
def posterior_latents(model: ProjectedLatentCodec, prior, scheduler, y: torch.Tensor, noise_var: torch.Tensor,
                      *, steps: int = 10, realism: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Latents (B, 32, h, w) for received values ``y`` and variances ``noise_var`` (B, k, h, w; inf or
    NaN = lost).

    Args:
        model: the codec network (projection, latent statistics, restorer).
        prior: a diffusers ``UNet2DModel`` over standardised latents, v-prediction.
        scheduler: its ``DDPMScheduler`` (for the cumulative alphas).
        steps: DDIM steps (UNet evaluations) from the start time to 0.
        realism: 0..1, the start time as a fraction of the schedule and the DDIM eta.
        seed: seed of the start noise and the DDIM noise (same seed, same latents).
    """
    if not 0.0 <= realism <= 1.0:
        raise ValueError(f"realism={realism} must be in [0, 1] (0 = posterior-mean estimate, 1 = posterior sample)")
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    z = model.restore(y, noise_var)
    if realism == 0.0:
        return z
    mu = model.latent_mean[:, None, None]
    s = model.latent_cov.diagonal().sqrt()
    h = model.projection(y.shape[1]) * s[None, :]
    y0, prec = received_precision(y, noise_var)
    abar = scheduler.alphas_cumprod.double()
    t_start = round(realism * (len(abar) - 1))
    times = sorted(set(torch.linspace(t_start, 0, steps + 1).round().long().tolist()), reverse=True)
    gen = torch.Generator().manual_seed(seed)
    x0 = (z - mu) / s[:, None, None]
    a = float(abar[t_start])
    x = a ** 0.5 * x0 + (1 - a) ** 0.5 * torch.randn(x0.shape, generator=gen)
    for t, t_prev in zip(times[:-1], times[1:]):
        a, a_prev = float(abar[t]), float(abar[t_prev])
        v = prior(x, torch.tensor([t])).sample
        x0 = _consistent(a ** 0.5 * x - (1 - a) ** 0.5 * v, y0, prec, h, max(1 - a, 1e-6))
        eps = (x - a ** 0.5 * x0) / (1 - a) ** 0.5
        sigma = realism * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)) ** 0.5
        x = a_prev ** 0.5 * x0 + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=gen)
    return x0 * s[:, None, None] + mu
