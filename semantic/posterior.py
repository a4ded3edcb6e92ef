"""Posterior inference over the TAEF2 latent space with a conditional diffusion prior: y = P_k (z - mu) + n.

The receiver knows the operator (the codec's projection P_k, k = 32, 16 or 8 rows) and each received
value's noise variance (inf = lost).  With the prior's standardised latents x = (z - mu) / s (s: the
per-channel standard deviation of the training latents, as ``semantic.prior_train`` trains it) the
model per 8x8-pixel position is y = H x + n, H = P_k diag(s) (k x 32).

The prior is a UNet conditioned on what the direct decoder knows (:func:`conditioning`: the
restored estimate and the LMMSE error variance per latent), trained with the channel in the loop to
predict the clean latents x0 from a noised x_t (:func:`predict_x0`).  :func:`posterior_latents` runs
ancestral DDIM sampling (eta = 1) from pure noise at t = T towards t = 0 and stops at
t_end = (1 - realism) * T, returning the x0 prediction there: realism 0 is one UNet evaluation, the
model's estimate of E[x0 | y] (:func:`mean_estimate`); realism 1 a posterior sample; between them the
estimate given y and x at t_end, a sample's detail down to that noise level.  The first x0 prediction,
at t = T, is :func:`mean_estimate` (x_T = 0: at T the noised input says nothing of x0); every later one
is corrected by the measurements, per position and in closed form, as the Gaussian posterior of x0
given y when x0's prior is N(x0_hat, rho_t^2 I), rho_t^2 = 1 - abar_t (the Gaussian approximation of
Pi-GDM, Song et al. 2023): received values hold the estimate to them in proportion to their
precision, lost ones leave it to the prior and the neighbourhood the UNet sees.
"""
from __future__ import annotations

import torch

from semantic.latent_codec import ProjectedLatentCodec, received_precision


def conditioning(model: ProjectedLatentCodec, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """What the conditional prior sees of the received values: (B, 64, h, w), the restored estimate and
    the log of the LMMSE error variance per latent (``ProjectedLatentCodec.restore_white``), both in
    prior-standardised units, for y and noise_var (B, k, h, w; inf = lost)."""
    return torch.cat(model.restore_white(y, noise_var), 1)


def predict_x0(prior, x: torch.Tensor, t: torch.Tensor, abar: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """The conditional prior's estimate of the clean standardised latents x0 (B, 32, h, w) from
    x = sqrt(abar) x0 + sqrt(1 - abar) eps at times ``t`` (B,) with cumulative alphas ``abar`` (B, 1, 1, 1),
    given ``cond`` (:func:`conditioning`).

    The UNet adds a correction to the Gaussian combination of its two measurements of x0: x / sqrt(abar)
    (noise variance (1 - abar) / abar) and the restored estimate (error variance taken as the LMMSE
    one), each weighted by its precision.  Its last layer starts at zero, so an untrained prior is
    that combination: the restored estimate at t = T, x itself near t = 0."""
    est, log_err = cond.chunk(2, 1)
    prec_x, prec_est = abar / (1 - abar), torch.exp(-log_err)
    base = (prec_x * x / abar.sqrt() + prec_est * est) / (prec_x + prec_est)
    return base + prior(torch.cat([x, cond], 1), t).sample


def _consistent(x0: torch.Tensor, y: torch.Tensor, prec: torch.Tensor, h: torch.Tensor,
                rho2: torch.Tensor) -> torch.Tensor:
    """x0 (B, 32, h, w) corrected by y (B, k, h, w) with precisions ``prec`` (0 = lost) and prior
    variances ``rho2`` (B, 1, 1, 1): per position argmin |x - x0|^2 / rho2 + sum_j prec_j (y_j - (H x)_j)^2,
    i.e. (I / rho2 + H^T Pi H)^-1 (x0 / rho2 + H^T Pi y)."""
    b, c, hh, ww = x0.shape
    k = y.shape[1]
    x0f = x0.permute(0, 2, 3, 1).reshape(-1, c)                          # (N, 32)
    yf, pf = (t.permute(0, 2, 3, 1).reshape(-1, k) for t in (y, prec))   # (N, k)
    r2 = rho2.expand(b, 1, hh, ww).reshape(-1, 1).double()               # (N, 1)
    h, x0f, yf, pf = h.double(), x0f.double(), yf.double(), pf.double()   # precisions span 1 ... 1e6
    eye = torch.eye(c, dtype=torch.float64, device=r2.device)
    info = eye / r2[..., None] + torch.einsum("ki,nk,kj->nij", h, pf, h)
    rhs = (x0f / r2 + torch.einsum("ki,nk->ni", h, pf * yf))[..., None]
    x = torch.cholesky_solve(rhs, torch.linalg.cholesky(info))[..., 0].float()
    return x.reshape(b, hh, ww, c).permute(0, 3, 1, 2)


def measurement(model: ProjectedLatentCodec, y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """What the measurement correction needs of received values y and their variances (B, k, h, w;
    inf = lost), computed once per decode: (y with 0 where lost, precisions (0 = lost), the operator
    H = P_k diag(s) (k, 32) in prior-standardised units)."""
    h = model.projection(y.shape[1]) * model.latent_cov.diagonal().sqrt()[None, :]
    return (*received_precision(y, noise_var), h)


def corrected_x0(prior, x: torch.Tensor, t: torch.Tensor, abar: torch.Tensor, cond: torch.Tensor,
                 meas: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The sampler's x0 (B, 32, h, w) at times ``t`` (B,) below T: :func:`predict_x0` from x_t ``x``
    (cumulative alphas ``abar`` (B, 1, 1, 1)), corrected per position by the received values
    (``meas``, :func:`measurement`) as the Gaussian posterior of x0 given y when x0's prior is
    N(x0_hat, rho_t^2 I), rho_t^2 = 1 - abar_t."""
    return _consistent(predict_x0(prior, x, t, abar, cond), *meas, (1 - abar).clamp_min(1e-6))


def mean_estimate(prior, scheduler, cond: torch.Tensor) -> torch.Tensor:
    """The prior's estimate of the clean standardised latents x0 (B, 32, h, w) from ``cond``
    (:func:`conditioning`) alone: :func:`predict_x0` at t = T with x_T = 0 (abar_T = 2.4e-9, so a noised
    input would carry nothing of x0 and only make the estimate depend on a seed).  The measurement
    correction is not applied: ``semantic.prior_train --pixel-weight`` trains this estimate, as it is,
    for the decoded image's error, and the correction at rho_T^2 = 1 would pull it back towards y."""
    t = scheduler.config.num_train_timesteps - 1
    abar = scheduler.alphas_cumprod[t].float().reshape(1, 1, 1, 1).to(cond.device)
    x = torch.zeros(cond.shape[0], cond.shape[1] // 2, *cond.shape[2:], device=cond.device)
    return predict_x0(prior, x, torch.tensor([t], device=cond.device), abar, cond)


def sampling_times(n_train: int, steps: int, realism: float) -> list[int]:
    """The decreasing diffusion times at which the sampler evaluates the prior: ``steps`` times evenly
    spaced from T = n_train - 1 down to t_end = (1 - realism) * T (rounded, duplicates dropped), where
    for t_end = 0 the spacing runs to 0 and 0 itself is left out (a step to t = 0 keeps the x0
    prediction made before it)."""
    t_end = round((1.0 - realism) * (n_train - 1))
    if t_end == 0:
        grid = torch.linspace(n_train - 1, 0, steps + 1)[:-1]
    else:
        grid = torch.linspace(n_train - 1, t_end, steps)
    return sorted(set(grid.round().long().tolist()), reverse=True)


@torch.no_grad()
def posterior_latents(model: ProjectedLatentCodec, prior, scheduler, y: torch.Tensor, noise_var: torch.Tensor,
                      *, steps: int = 10, realism: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Latents (B, 32, h, w) for received values ``y`` and variances ``noise_var`` (B, k, h, w; inf or
    NaN = lost).

    Args:
        model: the codec network (projection, latent statistics, restorer).
        prior: a diffusers ``UNet2DModel`` from (x_t, conditioning) to a correction of x0
            (``semantic.prior_train``).
        scheduler: its ``DDPMScheduler`` (for the cumulative alphas).
        steps: UNet evaluations from T to the stopping time (``sampling_times``; one for realism 0).
        realism: 0..1, the stopping time (1 - realism) * T: 0 the posterior mean, 1 a posterior sample.
        seed: seed of the start noise and the DDIM noise (same seed, same latents; realism 0 uses none).
    """
    if not 0.0 <= realism <= 1.0:
        raise ValueError(f"realism={realism} must be in [0, 1] (0 = posterior-mean estimate, 1 = posterior sample)")
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    cond, meas = conditioning(model, y, noise_var), measurement(model, y, noise_var)
    abar = scheduler.alphas_cumprod.float()
    times = sampling_times(len(abar), steps, realism)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((cond.shape[0], cond.shape[1] // 2, *cond.shape[2:]), generator=gen)
    for t, t_next in zip(times, times[1:] + [None]):
        a = abar[t]
        if t == times[0]:
            x0 = mean_estimate(prior, scheduler, cond)
        else:
            x0 = corrected_x0(prior, x, torch.tensor([t]), a.reshape(1, 1, 1, 1), cond, meas)
        if t_next is not None:                      # ancestral DDIM step (eta = 1) to t_next
            a_next = abar[t_next]
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            sigma = ((1 - a_next) / (1 - a) * (1 - a / a_next)).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next - sigma ** 2).clamp_min(0).sqrt() * eps \
                + sigma * torch.randn(x.shape, generator=gen)
    return model.from_white(x0)
