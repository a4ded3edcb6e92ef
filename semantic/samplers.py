"""Few-step diffusion decoders of received latents y = z + n with per-value noise variance.

All samplers use the prior UNet (v-prediction, ``semantic.prior``) and diffusers'
``DPMSolverMultistepScheduler`` (DPM-Solver++ 2M, data prediction) on custom timesteps.  Notation:
``abar_t`` is the DDPM cumulative alpha, ``x_t = sqrt(abar_t) z + sqrt(1-abar_t) eps``, and
``s2_t = (1-abar_t)/abar_t`` is the noise variance of ``x_t/sqrt(abar_t)`` in latent units.

* :func:`snr_matched` (CDDM-style): pick t* with s2_t* equal to the median received noise variance,
  top each value's noise up to s2_t* (values noisier than that are left as they are), set
  x_t* = sqrt(abar_t*) y (missing values: pure N(0, 1) noise, which is x_t*'s marginal) and run
  ``steps`` solver steps from t* to 0.
* :func:`posterior`: start from pure noise at t = T and, at each step, fuse the UNet's
  estimate of z with y per value as two Gaussian measurements of z:
  ``z_f = (z_hat * var + y * r_t) / (var + r_t)`` with ``r_t = s2_t / (1 + s2_t)`` (the
  uncertainty of z given x_t under a unit-variance prior); a value with infinite variance keeps
  ``z_hat`` exactly, so its received number cannot influence the result.  This is the closed-form,
  per-value (heteroscedastic) likelihood step of PiGDM-like posterior sampling without backprop.

Both return the denoised latent (B, C, h, w) and a per-value residual variance for the direct
decoder's reliability input.
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
    """The training timestep whose noise level s2_t is closest (in log) to ``noise_var``."""
    s2 = noise_to_signal(train_sched)
    return int(torch.argmin((s2.log() - np.log(max(noise_var, 1e-12))).abs()))


def _timesteps(t_start: int, steps: int) -> list[int]:
    ts = np.unique(np.round(np.linspace(t_start, 0, steps + 1)[:-1]).astype(np.int64))[::-1]
    return [int(t) for t in ts]


def _x0(unet: UNet2DModel, train_sched: DDPMScheduler, x: torch.Tensor, t: int) -> torch.Tensor:
    a = train_sched.alphas_cumprod[t].to(x)
    v = unet(x, torch.full((x.shape[0],), t, device=x.device)).sample
    return a.sqrt() * x - (1 - a).sqrt() * v


def _finite(y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(noise_var) & torch.isfinite(y)


@torch.no_grad()
def snr_matched(unet: UNet2DModel, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor,
                steps: int = 10, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CDDM-style decoding from the timestep matched to each tile's median noise variance.

    Args:
        y: received latents (B, C, h, w) (NaN or anything where ``noise_var`` is inf).
        noise_var: per-value noise variance (B, C, h, w), inf = missing.
        steps: solver steps (>= 1).
    Returns:
        (z, residual_var): denoised latents and zeros (the reverse process ends at t = 0).
    """
    ok = _finite(y, noise_var)
    s2 = noise_to_signal(train_sched)
    t_max = train_sched.config.num_train_timesteps - 1
    starts = []
    for b in range(y.shape[0]):  # each tile has its own matched start
        fin = noise_var[b][ok[b]]
        starts.append(t_max if fin.numel() == 0 else min(matched_timestep(train_sched, float(fin.median())), t_max))
    starts = torch.tensor(starts)
    eps = torch.randn(y.shape, generator=generator).to(y)
    var = torch.where(ok, noise_var, torch.zeros_like(y))
    out = torch.empty_like(y)
    for t0 in torch.unique(starts).tolist():  # tiles sharing a start run as one batch
        idx = (starts == t0).nonzero()[:, 0]
        a = train_sched.alphas_cumprod[t0].to(y)
        top_up = (float(s2[t0]) - var[idx]).clamp_min(0).sqrt() * eps[idx]
        xt = torch.where(ok[idx], a.sqrt() * (y[idx] + top_up), eps[idx])
        out[idx] = _run(unet, train_sched, xt, _timesteps(t0, steps), generator)
    return out, torch.zeros_like(y)


@torch.no_grad()
def posterior(unet: UNet2DModel, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor,
              steps: int = 10, generator: torch.Generator | None = None,
              fusion_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior sampling from t = T with per-value Gaussian likelihood fusion at every step.

    Args:
        y, noise_var: as in :func:`snr_matched` (inf variance = missing = generated from the prior).
        steps: solver steps (>= 1).
        fusion_scale: multiplies r_t (larger trusts y more).
    Returns:
        (z, residual_var): the final fused latent and the variance of the last fusion,
        ``var*r/(var+r)`` at the last step's r (0 where a value was missing).
    """
    ok = _finite(y, noise_var)
    y0 = torch.where(ok, y, torch.zeros_like(y))
    var = torch.where(ok, noise_var.clamp_min(1e-8), torch.full_like(y, float("inf")))
    s2 = noise_to_signal(train_sched)
    T = train_sched.config.num_train_timesteps - 1
    xt = torch.randn(y.shape, generator=generator).to(y)
    state = {}

    def fuse(x0: torch.Tensor, t: int) -> torch.Tensor:
        r = fusion_scale * float(s2[t] / (1 + s2[t]))
        state["res"] = torch.where(ok, var * r / (var + r), torch.zeros_like(y))
        return torch.where(ok, (x0 * var + y0 * r) / (var + r), x0)

    z = _run(unet, train_sched, xt, _timesteps(T, steps), generator, fuse)
    return z, state["res"]


def _run(unet, train_sched, xt, timesteps, generator, fuse=None) -> torch.Tensor:
    """DPM-Solver++ over ``timesteps`` (descending); returns the clean estimate at t = 0."""
    solver = _solver(train_sched)
    solver.set_timesteps(timesteps=timesteps, device=xt.device)
    for t in solver.timesteps:
        t = int(t)
        x0 = _x0(unet, train_sched, xt, t)
        if fuse is not None:
            x0 = fuse(x0, t)
        xt = solver.step(x0, t, xt, generator=generator).prev_sample
    return xt
