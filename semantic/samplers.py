"""Few-step diffusion decoders of a received latent map y = z + n with per-value noise variance.

The prior (``semantic.prior``) is a v-prediction UNet over whole latent maps (B, C, H, W): the
stitched tiles of an image, so that what the network predicts at one tile depends on the tiles
around it (a per-tile prior, the first shipped model's, gets the tiles as the batch instead).  Both samplers use diffusers' ``DPMSolverMultistepScheduler`` (DPM-Solver++ 2M, data
prediction) on custom timesteps.  Notation: ``abar_t`` is the DDPM cumulative alpha,
``x_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps`` and ``s2_t = (1 - abar_t) / abar_t`` is the noise
variance of ``x_t / sqrt(abar_t)`` in latent units.

* :func:`snr_matched` (CDDM): start each batch item at the first timestep t0 whose s2_t0 reaches
  its median received noise variance, top every value's noise up to s2_t0 (noisier values are kept
  as they are, the CDDM approximation; lost values start as x_t0's marginal) and run ``steps``
  solver steps from t0 to 0.
* :func:`posterior`: posterior sampling of p(z | y) with the prior.  The likelihood of every value
  is Gaussian, y ~ N(z, v), so at each step the UNet's estimate of z (a Gaussian of variance
  ``r_t = fusion_scale * s2_t / (1 + s2_t)``, the uncertainty of z given x_t under a unit-variance
  prior, scaled) and y are fused per value (:class:`LikelihoodFusion`, the closed-form,
  heteroscedastic likelihood step of PiGDM-like posterior sampling, with no backpropagation
  through the UNet).  A value with infinite variance keeps the UNet's estimate, so a lost tile is
  generated from its received neighbours.  An item starts at the matched timestep when every
  value arrived, and at the last timestep T-1 (pure noise, everything generated, received values
  pulled in by the fusion) when any value is lost, since a lost region needs the whole reverse
  process.  At the start, values no noisier than s2_t0 are topped up to it (as in CDDM), noisier
  ones enter as their LMMSE estimate y/(1+v) plus s2_t0 noise.  ``realism`` in [0, 1] blends the result between the posterior-mean estimate of the
  first step (0: smooth, highest PSNR) and the posterior sample (1: sampled detail).

Both return the decoded latent map and a per-value residual variance for the direct decoder's
reliability input (posterior: the fused variance at the start, so that the decoder still smooths
what the few steps could not settle).
"""
from __future__ import annotations

import numpy as np
import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UNet2DModel


def _solver(train_sched: DDPMScheduler) -> DPMSolverMultistepScheduler:
    return DPMSolverMultistepScheduler.from_config(
        train_sched.config, algorithm_type="dpmsolver++", solver_order=2, prediction_type="sample",
        final_sigmas_type="zero", lower_order_final=True)


def noise_to_signal(train_sched: DDPMScheduler) -> torch.Tensor:
    """s2_t = (1 - abar_t) / abar_t for t = 0..T-1 (float64, increasing)."""
    a = train_sched.alphas_cumprod.double()
    return (1 - a) / a


def matched_timestep(train_sched: DDPMScheduler, noise_var: float) -> int:
    """The first training timestep whose noise level s2_t reaches ``noise_var`` (T-1 if none does)."""
    s2 = noise_to_signal(train_sched)
    return min(int(torch.searchsorted(s2, torch.tensor(float(noise_var), dtype=s2.dtype))), len(s2) - 1)


def _timesteps(t_start: int, steps: int) -> list[int]:
    ts = np.unique(np.round(np.linspace(t_start, 0, steps + 1)[:-1]).astype(np.int64))[::-1]
    return [int(t) for t in ts]


def _x0(unet: UNet2DModel, train_sched: DDPMScheduler, x: torch.Tensor, t: int) -> torch.Tensor:
    a = train_sched.alphas_cumprod[t].to(x)
    v = unet(x, torch.full((x.shape[0],), t, device=x.device)).sample
    return a.sqrt() * x - (1 - a).sqrt() * v


class LikelihoodFusion:
    """Per-value Gaussian fusion of the prior's estimate of z with what arrived.

    Args:
        train_sched: the prior's DDPM schedule (for s2_t).
        y: received values (B, C, H, W); ignored where ``ok`` is False.
        noise_var: their noise variance (same shape), finite where ``ok``.
        ok: bool, values that arrived.
        fusion_scale: multiplies r_t (larger trusts y more relative to the prior).
    """

    def __init__(self, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor, ok: torch.Tensor,
                 fusion_scale: float):
        self.s2 = noise_to_signal(train_sched)
        self.y, self.var, self.ok, self.scale = y, noise_var, ok, float(fusion_scale)

    def prior_var(self, t: int) -> float:
        """r_t: the variance given to the prior's estimate of z at timestep t (latent units)."""
        return self.scale * float(self.s2[t] / (1 + self.s2[t]))

    def __call__(self, x0: torch.Tensor, t: int) -> torch.Tensor:
        r = self.prior_var(t)
        return torch.where(self.ok, (x0 * self.var + self.y * r) / (self.var + r), x0)

    def residual_var(self, t: int) -> torch.Tensor:
        """Variance of the fused estimate at t: v*r/(v+r) where a value arrived, r where it was lost."""
        r = self.prior_var(t)
        return torch.where(self.ok, self.var * r / (self.var + r), torch.full_like(self.var, r))


def _prepare(y: torch.Tensor, noise_var: torch.Tensor):
    ok = torch.isfinite(noise_var) & torch.isfinite(y)
    y0 = torch.where(ok, y, torch.zeros_like(y))
    var = torch.where(ok, noise_var.clamp_min(1e-8), torch.full_like(y, float("inf")))
    return ok, y0, var


def _starts(train_sched: DDPMScheduler, var: torch.Tensor, ok: torch.Tensor, quantile: float,
            lost_from_noise: bool) -> torch.Tensor:
    """Start timestep of every batch item: matched to the ``quantile`` of its finite noise variances;
    T-1 when nothing arrived, or (``lost_from_noise``) when any value is lost."""
    t_max = train_sched.config.num_train_timesteps - 1
    starts = []
    for b in range(var.shape[0]):
        fin = var[b][ok[b]]
        if fin.numel() == 0 or (lost_from_noise and not bool(ok[b].all())):
            starts.append(t_max)
        else:
            starts.append(matched_timestep(train_sched, float(torch.quantile(fin, quantile))))
    return torch.tensor(starts)


def _topped_up(y: torch.Tensor, var: torch.Tensor, ok: torch.Tensor, s2: float, eps: torch.Tensor):
    """(quiet, topped): the arrived values no noisier than s2, and y with its noise topped up to
    variance s2 (for those values an exact forward-process sample of x_t / sqrt(abar_t))."""
    quiet = ok & (var <= s2)
    return quiet, y + (s2 - torch.where(quiet, var, torch.zeros_like(var))).clamp_min(0).sqrt() * eps


@torch.no_grad()
def snr_matched(unet: UNet2DModel, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor, *,
                steps: int = 10, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CDDM-style decoding from the timestep matched to each item's median noise variance.

    Args:
        y: received latents (B, C, H, W): B latent maps (or B tiles for a per-tile prior); NaN or
            anything where ``noise_var`` is inf.
        noise_var: per-value noise variance (B, C, H, W), inf = missing.
        steps: solver steps (>= 1).
    Returns:
        (z, residual_var): the denoised latents and zeros (the reverse process ends at t = 0).
    """
    ok, y0, var = _prepare(y, noise_var)
    starts = _starts(train_sched, var, ok, 0.5, lost_from_noise=False)
    eps = torch.randn(y.shape, generator=generator).to(y)
    out = torch.empty_like(y)
    for t0 in torch.unique(starts).tolist():  # items sharing a start run as one batch
        idx = (starts == t0).nonzero()[:, 0]
        s2 = float(noise_to_signal(train_sched)[t0])
        okb, yb, vb, eb = ok[idx], y0[idx], var[idx], eps[idx]
        quiet, topped = _topped_up(yb, vb, okb, s2, eb)
        start = torch.where(quiet, topped, torch.where(okb, yb, (1.0 + s2) ** 0.5 * eb))
        xt = train_sched.alphas_cumprod[t0].to(y).sqrt() * start
        out[idx], _ = _run(unet, train_sched, xt, _timesteps(t0, steps), generator)
    return out, torch.zeros_like(y)


@torch.no_grad()
def posterior(unet: UNet2DModel, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor, *,
              steps: int = 10, generator: torch.Generator | None = None, fusion_scale: float = 10.0,
              realism: float = 1.0, start_quantile: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior sampling: matched (or, with lost values, full) reverse process with likelihood
    fusion at every step.

    Args:
        y, noise_var: as in :func:`snr_matched` (inf variance = lost = generated from the prior and
            the received values around it).
        steps: solver steps (>= 1).
        fusion_scale: multiplies r_t (larger trusts y more; see :class:`LikelihoodFusion`).
        realism: 0 = the fused posterior-mean estimate of the first step (one UNet evaluation:
            the later steps are skipped), 1 = the posterior sample, in between a linear blend of
            the two latents. At 0 the start is matched to the received values even where some are
            lost, and a lost value is returned as lost (residual variance inf): one step from a
            low noise level cannot generate it, the JSCC decoder fills it from the latents around
            it (as the direct decoder does); above 0 a map with lost values starts from pure noise
            at T-1 and the prior generates them from the received values around them.
        start_quantile: which quantile of the finite noise variances sets the matched start.
    Returns:
        (z, residual_var): the decoded latents and the fused variance at the start, v*r0/(v+r0) (for
        a lost value r0, or inf at realism 0), which the JSCC decoder takes as the values' remaining
        noise.
    """
    if not 0.0 <= realism <= 1.0:
        raise ValueError(f"realism={realism} must be in [0, 1]")
    ok, y0, var = _prepare(y, noise_var)
    starts = _starts(train_sched, var, ok, start_quantile, lost_from_noise=realism > 0.0)
    eps = torch.randn(y.shape, generator=generator).to(y)
    out, res = torch.empty_like(y), torch.empty_like(y)
    for t0 in torch.unique(starts).tolist():
        idx = (starts == t0).nonzero()[:, 0]
        s2 = float(noise_to_signal(train_sched)[t0])
        okb, yb, vb, eb = ok[idx], y0[idx], var[idx], eps[idx]
        quiet, topped = _topped_up(yb, vb, okb, s2, eb)
        w = torch.where(okb, 1.0 / (1.0 + vb), torch.zeros_like(vb))
        # values no noisier than s2: topped up to s2 (an exact sample of x_t0); noisier ones: their LMMSE
        # estimate plus s2 noise; lost ones: x_t0's N(0, 1 + s2) marginal (its mean, 0, for the one-step
        # estimate, which does not generate them)
        lost = (1.0 + s2) ** 0.5 * eb if realism > 0.0 else torch.zeros_like(eb)
        start = torch.where(quiet, topped, torch.where(okb, w * yb + s2 ** 0.5 * eb, lost))
        xt = train_sched.alphas_cumprod[t0].to(y).sqrt() * start
        fuse = LikelihoodFusion(train_sched, yb, vb, okb, fusion_scale)
        timesteps = _timesteps(t0, steps)
        if realism == 0.0:  # the result is the first step's fused estimate: the later steps would not count
            timesteps = timesteps[:1]
        z, first = _run(unet, train_sched, xt, timesteps, generator, fuse)
        out[idx] = first + realism * (z - first)
        res[idx] = fuse.residual_var(t0) if realism > 0.0 else torch.where(okb, fuse.residual_var(t0), vb)
    return out, res


def _run(unet, train_sched, xt, timesteps, generator, fuse: LikelihoodFusion | None = None):
    """DPM-Solver++ over ``timesteps`` (descending).

    Returns (the clean estimate at t = 0, the (fused) estimate of z at the first step).
    """
    solver = _solver(train_sched)
    solver.set_timesteps(timesteps=timesteps, device=xt.device)
    first = None
    for t in solver.timesteps:
        t = int(t)
        x0 = _x0(unet, train_sched, xt, t)
        if fuse is not None:
            x0 = fuse(x0, t)
        first = x0 if first is None else first
        xt = solver.step(x0, t, xt, generator=generator).prev_sample
    return xt, first
