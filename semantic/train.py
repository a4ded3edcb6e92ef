"""Two-stage training: (1) the JSCC encoder/direct decoder through a noisy latent channel,
(2) the diffusion prior on the frozen encoder's latents.

Both stages are seeded, show tqdm progress, checkpoint every ``ckpt_every`` steps with
``accelerate`` (``out_dir/checkpoints/<stage>``), resume from there, and run unchanged on CPU, one
GPU or several GPUs (``accelerate launch scripts/train.py ...``).  Each stage stops at its step count
or its wall-time budget, whichever comes first; the learning rate follows a cosine decay over the
larger of the two progress fractions, so a time-limited CPU run still anneals.  The result is a
``SemanticCodec`` directory loadable with ``SemanticCodec.from_pretrained(out_dir)``.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from semantic.data import CropSampler, photos_in_dir, train_photos
from semantic.jscc import JSCC
from semantic.latent_channel import noise_variance
from semantic.prior import diffusion_loss, make_prior, make_scheduler


@dataclass
class TrainConfig:
    """Training options (sizes in pixels, SNR in dB per real latent value, time in seconds)."""
    out_dir: str = "runs/semantic"
    stages: str = "jscc,prior"
    photo_dir: str = ""           # your own photos (PNG/JPEG/...); empty = the packaged training photos
    seed: int = 0
    tile: int = 64
    latent_channels: int = 4
    downsample: int = 4
    hidden: int = 64
    prior_channels: str = "32,64,128"
    batch: int = 24
    jscc_steps: int = 20000
    prior_steps: int = 40000
    jscc_time_s: float = 0.0      # 0 = no time budget
    prior_time_s: float = 0.0
    lr: float = 1e-3
    snr_min_db: float = -3.0
    snr_max_db: float = 22.0
    p_missing: float = 0.1        # fraction of training tiles with randomly dropped values
    ckpt_every: int = 250
    threads: int = 0              # torch CPU threads (0 = torch default)


def _lr_factor(progress: float) -> float:
    warm = min(1.0, progress / 0.02)
    return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _channel_noise(shape, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random per-value noise variance: SNR uniform in dB, half AWGN / half Rayleigh-like, some clean
    tiles (so the decoder also serves denoised latents) and some tiles with missing values."""
    b = shape[0]
    snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(b, generator=gen)
    var = torch.where((torch.rand(b, generator=gen) < 0.5).reshape(-1, 1, 1, 1),
                      noise_variance(shape, snr, "awgn", gen), noise_variance(shape, snr, "rayleigh", gen))
    clean = (torch.rand(b, generator=gen) < 0.1).reshape(-1, 1, 1, 1)
    var = torch.where(clean, var * 1e-3, var)
    drop_frac = torch.rand(b, 1, 1, 1, generator=gen) * (torch.rand(b, 1, 1, 1, generator=gen) < cfg.p_missing)
    missing = torch.rand(shape, generator=gen) < drop_frac
    return torch.where(missing, torch.full_like(var, float("inf")), var)


def _run_stage(name: str, cfg: TrainConfig, acc: Accelerator, model: torch.nn.Module,
               loss_fn, steps: int, time_s: float) -> None:
    """Generic loop: AdamW, cosine LR, checkpoint/resume with accelerate, tqdm progress."""
    ckpt = Path(cfg.out_dir) / "checkpoints" / name
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-5)
    model, opt = acc.prepare(model, opt)
    step, elapsed0 = 0, 0.0
    if (ckpt / "progress.json").exists():
        acc.load_state(str(ckpt))
        prog = json.loads((ckpt / "progress.json").read_text())
        step, elapsed0 = prog["step"], prog["elapsed_s"]
        acc.print(f"[{name}] resumed at step {step} ({elapsed0:.0f} s already spent)")
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + acc.process_index + step * 7919)
    t0 = time.time()
    bar = tqdm(total=steps, initial=step, desc=name, disable=not acc.is_local_main_process,
               mininterval=10.0)
    ema = None
    while step < steps:
        elapsed = elapsed0 + time.time() - t0
        progress = max(step / steps, elapsed / time_s if time_s > 0 else 0.0)
        if progress >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(progress)
        loss = loss_fn(model, gen)
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.4g}", lr=f"{opt.param_groups[0]['lr']:.2e}", refresh=False)
        if step % cfg.ckpt_every == 0:
            _checkpoint(acc, ckpt, step, elapsed0 + time.time() - t0)
            acc.print(f"[{name}] step {step} loss {ema:.5f} elapsed {elapsed0 + time.time() - t0:.0f} s")
    bar.close()
    _checkpoint(acc, ckpt, step, elapsed0 + time.time() - t0)
    acc.free_memory()  # forget this stage's model/optimizer so the next stage's checkpoints hold only its own
    acc.print(f"[{name}] done: {step} steps, {elapsed0 + time.time() - t0:.0f} s, final loss {ema}")


def _checkpoint(acc: Accelerator, ckpt: Path, step: int, elapsed: float) -> None:
    acc.wait_for_everyone()
    acc.save_state(str(ckpt))
    if acc.is_main_process:
        (ckpt / "progress.json").write_text(json.dumps({"step": step, "elapsed_s": elapsed}))


def train(config: TrainConfig | dict) -> Path:
    """Train the stages named in ``config.stages`` and write a SemanticCodec directory.

    Returns the output directory.  Stage ``prior`` needs a trained JSCC (from this run's stage
    ``jscc`` or an existing ``out_dir/jscc``).
    """
    from semantic.codec import JSCC_DIR, PRIOR_DIR, SCHEDULER_DIR
    cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    stages = [s.strip() for s in cfg.stages.split(",") if s.strip()]
    if not stages or set(stages) - {"jscc", "prior"}:
        raise ValueError(f"stages={cfg.stages!r} is invalid; use 'jscc', 'prior' or 'jscc,prior'")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = Accelerator()
    torch.manual_seed(cfg.seed)
    sampler = CropSampler(photos_in_dir(cfg.photo_dir) if cfg.photo_dir else train_photos(), tile=cfg.tile)
    dev = acc.device
    start = time.time()
    log = {"config": asdict(cfg), "hardware": f"{dev} x{acc.num_processes}, torch threads {torch.get_num_threads()}"}

    if "jscc" in stages:
        jscc = JSCC(tile=cfg.tile, latent_channels=cfg.latent_channels, downsample=cfg.downsample,
                    hidden=cfg.hidden)

        def jscc_loss(model, gen):
            x = sampler.sample(cfg.batch, gen).to(dev)
            var = _channel_noise((cfg.batch, *jscc.latent_shape), cfg, gen).to(dev)
            return F.mse_loss(model(x, var, generator=None), x)

        t = time.time()
        _run_stage("jscc", cfg, acc, jscc, jscc_loss, cfg.jscc_steps, cfg.jscc_time_s)
        log["jscc_wall_s"] = time.time() - t
        if acc.is_main_process:
            acc.unwrap_model(jscc).save_pretrained(out / JSCC_DIR)
    if "prior" in stages:
        jscc = JSCC.from_pretrained(out / JSCC_DIR).to(dev).eval().requires_grad_(False)
        unet = make_prior(jscc.latent_shape, tuple(int(c) for c in cfg.prior_channels.split(",")))
        sched = make_scheduler()

        def prior_loss(model, gen):
            with torch.no_grad():
                z = jscc.encode(sampler.sample(cfg.batch, gen).to(dev))
            return diffusion_loss(model, sched, z, gen)

        t = time.time()
        _run_stage("prior", cfg, acc, unet, prior_loss, cfg.prior_steps, cfg.prior_time_s)
        log["prior_wall_s"] = time.time() - t
        if acc.is_main_process:
            acc.unwrap_model(unet).save_pretrained(out / PRIOR_DIR)
            sched.save_pretrained(out / SCHEDULER_DIR)
    log["total_wall_s"] = time.time() - start
    if acc.is_main_process:
        (out / f"train_log_{'_'.join(stages)}.json").write_text(json.dumps(log, indent=1))
    return out


def build_parser() -> argparse.ArgumentParser:
    """argparse parser with one option per TrainConfig field."""
    p = argparse.ArgumentParser(prog="diffradio train", description=__doc__.split("\n\n")[0])
    for f in fields(TrainConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                       help=f"(default: {f.default})")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python scripts/train.py --out-dir DIR [--jscc-time-s S] ...``."""
    args = build_parser().parse_args(argv)
    out = train(TrainConfig(**vars(args)))
    print(f"trained codec written to {out}")
    return 0
