"""Few-step diffusion decoders of received latents y = z + n with per-value noise variance.

All samplers use the prior UNet (v-prediction, ``semantic.prior``) and diffusers'
``DPMSolverMultistepScheduler`` (DPM-Solver++ 2M, data prediction) on custom timesteps.  Notation:
``abar_t`` is the DDPM cumulative alpha, ``x_t = sqrt(abar_t) z + sqrt(1-abar_t) eps``, and
``s2_t = (1-abar_t)/abar_t`` is the noise variance of ``x_t/sqrt(abar_t)`` in latent units.

* :func:`snr_matched` (CDDM-style): start each tile at the first timestep t0 whose s2_t0 reaches
  the tile's median received noise variance, top each value's noise up to s2_t0 (noisier values are
  kept as they are, the CDDM approximation), set x_t0 = sqrt(abar_t0) y (missing values: x_t0's
  marginal) and run ``steps`` solver steps from t0 to 0.
* :func:`posterior`: the same matched start, but values noisier than s2_t0 enter as their LMMSE
  estimate y/(1+v) plus s2_t0 noise, and at every step the UNet's estimate of z is fused with y
  per value as two Gaussian measurements of z:
  ``z_f = (z_hat * var + y * r_t) / (var + r_t)`` with ``r_t = fusion_scale * s2_t / (1 + s2_t)``
  (the uncertainty of z given x_t under a unit-variance prior, scaled); a value with infinite
  variance keeps ``z_hat`` exactly, so its received number cannot influence the result.  This is
  the closed-form, per-value (heteroscedastic) likelihood step of PiGDM-like posterior sampling,
  without backpropagation through the UNet.

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


def _finite(y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(noise_var) & torch.isfinite(y)


def _start_timesteps(train_sched: DDPMScheduler, noise_var: torch.Tensor, ok: torch.Tensor,
                     quantile: float) -> torch.Tensor:
    """Per tile, the timestep matched to the ``quantile`` of its finite noise variances (T if none)."""
    t_max = train_sched.config.num_train_timesteps - 1
    starts = []
    for b in range(noise_var.shape[0]):
        fin = noise_var[b][ok[b]]
        starts.append(t_max if fin.numel() == 0 else
                      min(matched_timestep(train_sched, float(torch.quantile(fin, quantile))), t_max))
    return torch.tensor(starts)


def _decode_from_start(unet, train_sched, y, noise_var, steps, generator, quantile, posterior_init,
                       fuse_scale) -> tuple[torch.Tensor, torch.Tensor]:
    """Shared body of both samplers: start each tile at its matched timestep t0, run ``steps`` steps.

    Values with noise variance <= s2_t0 get their noise topped up to s2_t0 (exact forward-process
    sample).  Noisier values are either kept as they are (CDDM, ``posterior_init=False``) or replaced
    by their LMMSE estimate y/(1+v) plus s2_t0 noise (``posterior_init=True``); missing values
    become x_t0's marginal.  The returned residual variance (decoder reliability input) is the
    fusion variance at the start, v*r0/(v+r0) (r0 for missing values), or 0 without fusion.  With ``fuse_scale``,
    every step fuses the UNet's estimate of z with y per value (see module docstring).
    """
    ok = _finite(y, noise_var)
    y0 = torch.where(ok, y, torch.zeros_like(y))
    var = torch.where(ok, noise_var.clamp_min(1e-8), torch.full_like(y, float("inf")))
    s2_all = noise_to_signal(train_sched)
    starts = _start_timesteps(train_sched, noise_var, ok, quantile)
    eps = torch.randn(y.shape, generator=generator).to(y)
    eps2 = torch.randn(y.shape, generator=generator).to(y)
    out, res = torch.empty_like(y), torch.zeros_like(y)
    for t0 in torch.unique(starts).tolist():  # tiles sharing a start run as one batch
        idx = (starts == t0).nonzero()[:, 0]
        s2 = float(s2_all[t0])
        okb, yb, vb = ok[idx], y0[idx], var[idx]
        quiet = okb & (vb <= s2)
        topped = yb + (s2 - torch.where(quiet, vb, torch.zeros_like(vb))).clamp_min(0).sqrt() * eps[idx]
        if posterior_init:  # LMMSE estimate plus s2 noise; missing values: x_t0's N(0, 1+s2) marginal
            w = torch.where(okb, 1.0 / (1.0 + vb), torch.zeros_like(vb))
            noisy = torch.where(okb, w * yb + s2 ** 0.5 * eps[idx], (1.0 + s2) ** 0.5 * eps[idx])
        else:
            noisy = torch.where(okb, yb, (1.0 + s2) ** 0.5 * eps[idx])
        xt = train_sched.alphas_cumprod[t0].to(y).sqrt() * torch.where(quiet, topped, noisy)
        fuse = None
        if fuse_scale > 0:
            r0 = fuse_scale * s2 / (1 + s2)
            res[idx] = torch.where(okb, vb * r0 / (vb + r0), torch.full_like(vb, r0))

            def fuse(x0, t, okb=okb, yb=yb, vb=vb):
                r = fuse_scale * float(s2_all[t] / (1 + s2_all[t]))
                return torch.where(okb, (x0 * vb + yb * r) / (vb + r), x0)
        out[idx] = _run(unet, train_sched, xt, _timesteps(t0, steps), generator, fuse)
    return out, res


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
    return _decode_from_start(unet, train_sched, y, noise_var, steps, generator, 0.5, False, 0.0)


@torch.no_grad()
def posterior(unet: UNet2DModel, train_sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor,
              steps: int = 10, generator: torch.Generator | None = None, fusion_scale: float = 10.0,
              start_quantile: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior sampling: per-value posterior start at the matched timestep + likelihood fusion each step.

    Args:
        y, noise_var: as in :func:`snr_matched` (inf variance = missing = generated from the prior).
        steps: solver steps (>= 1).
        fusion_scale: multiplies r_t (larger trusts y more; 0 disables the per-step fusion).
        start_quantile: which quantile of a tile's noise variances sets its start timestep.
    Returns:
        (z, residual_var): the final latent and the variance of the last fusion,
        ``var*r/(var+r)`` at the last step's r (0 where a value was missing).
    """
    return _decode_from_start(unet, train_sched, y, noise_var, steps, generator, start_quantile, True,
                              fusion_scale)


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
