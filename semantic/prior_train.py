"""Train a diffusion prior over whole latent maps of the frozen TAEF2 encoder (issue 18's first step).

The prior learns p(z) for the standardised latents (z - mu) / sigma (mu, sigma: per-channel mean and
standard deviation from the codec's ``latent_mean`` / ``latent_cov``) of the training photos, read
from a ``diffradio train`` run's latent cache (``RUN/latent_cache.pt``: the frozen encoder's latents
of every training photo, so this training never runs the image encoder).  Model: diffusers
``UNet2DModel`` over (32, crop, crop) latent crops; schedule: ``DDPMScheduler`` (cosine, v-prediction).

Checkpoints (weights and optimizer, for resuming) go to ``OUT/checkpoints`` every ``--ckpt-every``
steps, the float16 weights to ``OUT/prior`` and ``OUT/scheduler``, the loss to ``OUT/prior_log.jsonl``.
Posterior inference with this prior (y = P_k (z - mu) + n) is not written yet.

Usage: python -m semantic.prior_train --run runs/codec-v3 --out runs/prior-v3 --time-s 3600
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel
from tqdm import tqdm


def make_prior(channels: int = 32, widths: tuple[int, ...] = (64, 128, 128)) -> UNet2DModel:
    """A UNet over (channels, h, w) latent maps, h and w multiples of 2**(len(widths) - 1)."""
    n = len(widths)
    return UNet2DModel(in_channels=channels, out_channels=channels, block_out_channels=widths, layers_per_block=2,
                       down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1), norm_num_groups=32)


def make_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")


def standardised_latents(run: Path) -> list[torch.Tensor]:
    """The cached latents of ``run`` as (32, h, w) float32 maps, standardised per channel by the run's
    codec (``run/model``)."""
    from semantic.latent_codec import ProjectedLatentCodec
    model = ProjectedLatentCodec.from_pretrained(run / "model", torch_dtype=torch.float32)
    mu = model.latent_mean[:, None, None]
    sigma = model.latent_cov.diagonal().sqrt()[:, None, None]
    cache = torch.load(run / "latent_cache.pt", weights_only=True)
    return [(z.float() - mu) / sigma for z in cache["latents"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a diffradio train --out-dir (latent_cache.pt, model/)")
    p.add_argument("--out", required=True)
    p.add_argument("--crop", type=int, default=16, help="latent crop side (positions; 16 = 128 pixels)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--time-s", type=float, default=0.0, help="stop after this much training time (0 = none)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    run, out = Path(a.run), Path(a.out)
    for need in ("latent_cache.pt", "model"):
        if not (run / need).exists():
            raise SystemExit(f"error: {run / need} does not exist; give the --out-dir of a diffradio train run")
    out.mkdir(parents=True, exist_ok=True)
    maps = [m for m in standardised_latents(run) if min(m.shape[1:]) >= a.crop]
    unet, sched = make_prior(), make_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=a.lr, weight_decay=0.0)
    ckpt = out / "checkpoints" / "state.pt"
    step, elapsed = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        unet.load_state_dict(state["unet"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed_s"]
    gen = torch.Generator().manual_seed(step)
    areas = torch.tensor([float(m.shape[1] * m.shape[2]) for m in maps])
    t0, losses = time.time() - elapsed, []
    bar = tqdm(total=a.steps, initial=step, desc="prior")
    while step < a.steps and not (a.time_s and time.time() - t0 >= a.time_s):
        batch = []
        for i in torch.multinomial(areas, a.batch, replacement=True, generator=gen).tolist():
            m = maps[i]
            r = int(torch.randint(0, m.shape[1] - a.crop + 1, (1,), generator=gen))
            c = int(torch.randint(0, m.shape[2] - a.crop + 1, (1,), generator=gen))
            batch.append(m[:, r:r + a.crop, c:c + a.crop])
        x0 = torch.stack(batch)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (a.batch,), generator=gen)
        xt = sched.add_noise(x0, noise, t)
        loss = torch.nn.functional.mse_loss(unet(xt, t).sample, sched.get_velocity(x0, noise, t))
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 200)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if step % a.ckpt_every == 0:
            _save(unet, sched, opt, out, step, time.time() - t0, losses)
            losses = []
    _save(unet, sched, opt, out, step, time.time() - t0, losses)
    return 0


def _save(unet, sched, opt, out: Path, step: int, elapsed: float, losses: list[float]) -> None:
    """Checkpoint (atomic), float16 weights, one log line."""
    ckpt = out / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    tmp = ckpt / "state.pt.tmp"
    torch.save({"unet": unet.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed_s": elapsed}, tmp)
    tmp.replace(ckpt / "state.pt")
    copy.deepcopy(unet).to(torch.float16).save_pretrained(out / "prior")
    sched.save_pretrained(out / "scheduler")
    if losses:
        with (out / "prior_log.jsonl").open("a") as f:
            f.write(json.dumps({"step": step, "elapsed_s": round(elapsed, 1),
                                "loss": sum(losses) / len(losses)}) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
