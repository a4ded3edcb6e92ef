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
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from semantic.data import TRAIN_PHOTOS, CropSampler, photos_in_dirs, split_train_val, train_photos
from semantic.jscc import GdnJSCC
from semantic.latent_channel import noise_variance, transmit
from semantic.prior import diffusion_loss, make_prior, make_scheduler
from semantic.training_curve import LOG_NAME, plot_training_curve

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training options (sizes in pixels, SNR in dB per real latent value, time in seconds)."""
    out_dir: str = "runs/semantic"
    stages: str = "jscc,prior"
    photo_dir: tuple[str, ...] = ()  # folders of your own photos (repeatable); empty = the packaged photos
    val_every: int = 10           # every val_every-th photo of the sorted folder(s) is held out for validation
    seed: int = 0
    tile: int = 64
    latent_channels: int = 64
    downsample: int = 16
    hidden: int = 96
    crop: int = 128               # training crop (a multiple of tile: the encoder sees neighbouring tiles)
    prior_channels: str = "96,160"
    prior_crop: int = 256         # image crop whose latent map the prior learns (4x4 tiles by default)
    batch: int = 8
    prior_batch: int = 16
    jscc_steps: int = 200000
    prior_steps: int = 100000
    jscc_time_s: float = 0.0      # 0 = no time budget
    prior_time_s: float = 0.0
    lr: float = 3e-4
    msssim_weight: float = 0.005  # loss = MSE + msssim_weight * (1 - MS-SSIM)
    snr_min_db: float = -3.0
    snr_max_db: float = 22.0
    p_lost: float = 0.25          # fraction of training crops that lose some whole tiles (lost frames)
    ckpt_every: int = 250
    val_steps: int = 500          # validation PSNR logged every val_steps steps
    threads: int = 0              # torch CPU threads (0 = torch default)
    mixed_precision: str = "no"   # "bf16" (CPUs with AVX512-BF16/AMX, recent GPUs) or "fp16" (GPUs), via accelerate


def native_cpu_precisions() -> set[str]:
    """The mixed precisions (``'bf16'``, ``'fp16'``) this CPU has native oneDNN convolution kernels
    for (bf16: AVX512 or AMX; fp16: AVX512-FP16 or AMX-FP16).  Without them autocast on the CPU runs
    on a reference path many times slower than float32 (docs/results/train_speed_avx2.json)."""
    native = {"bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported(),
              "fp16": torch.ops.mkldnn._is_mkldnn_fp16_supported()}
    return {p for p, ok in native.items() if ok}


def cpu_description() -> str:
    """The CPU's name, its widest vector instructions as torch dispatches them and its native mixed
    precisions, e.g. ``'AMD EPYC, AVX2, native mixed precision: none'``."""
    name = torch._C._cpu._get_cpu_capability().get("cpu_name") or platform.machine()
    return (f"{name}, {torch.backends.cpu.get_cpu_capability()}, "
            f"native mixed precision: {', '.join(sorted(native_cpu_precisions())) or 'none'}")


def _lr_factor(progress: float) -> float:
    warm = min(1.0, progress / 0.02)
    return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _channel_noise(shape: tuple[int, int, int, int], block: tuple[int, int], cfg: TrainConfig,
                   gen: torch.Generator) -> torch.Tensor:
    """Random per-value noise variance for latent maps (B, C, H, W) made of ``block`` = (h, w) tiles.

    Per crop: SNR uniform in dB; half AWGN, half per-symbol Rayleigh (what an OFDM receiver hands
    over on a frequency-selective channel after the scrambler); 10 % nearly clean (so the decoder
    also serves denoised latents); a fraction ``p_lost`` of crops lose a random share (up to half)
    of their tiles whole, as a lost frame does (variance inf).
    """
    b = shape[0]
    snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(b, generator=gen)
    var = torch.where((torch.rand(b, generator=gen) < 0.5).reshape(-1, 1, 1, 1),
                      noise_variance(shape, snr, "awgn", gen), noise_variance(shape, snr, "rayleigh", gen))
    clean = (torch.rand(b, generator=gen) < 0.1).reshape(-1, 1, 1, 1)
    var = torch.where(clean, var * 1e-3, var)
    rows, cols = shape[2] // block[0], shape[3] // block[1]
    share = 0.5 * torch.rand(b, 1, 1, generator=gen) * (torch.rand(b, 1, 1, generator=gen) < cfg.p_lost)
    lost = (torch.rand(b, rows, cols, generator=gen) < share)
    lost = lost.repeat_interleave(block[0], 1).repeat_interleave(block[1], 2)[:, None]
    return torch.where(lost, torch.full_like(var, float("inf")), var)


def _msssim_loss(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM (pytorch_msssim, five scales): the largest odd window up to 7 pixels that the
    crop allows (its side must exceed 16 * (window - 1)), 7 for 128-pixel crops."""
    from pytorch_msssim import ms_ssim
    side = min(x.shape[-2:])
    win = max(w for w in (3, 5, 7) if side > 16 * (w - 1) or w == 3)
    return 1.0 - ms_ssim(x, ref, data_range=1.0, win_size=win)


def validation_crops(photos: dict, crop: int, n: int) -> torch.Tensor:
    """The fixed validation batch: ``n`` crops (float (n, 3, crop, crop) in [0, 1], no colour jitter)
    drawn from ``photos`` with a fixed seed, the same on every machine and at every resume."""
    return CropSampler(list(photos.values()), tile=crop, jitter=0.0).sample(n, torch.Generator().manual_seed(12345))


@torch.no_grad()
def validation_psnr(model, crops: torch.Tensor, snrs_db: tuple[float, ...] = (0.0, 10.0)) -> dict:
    """Mean PSNR (dB) of a JSCC's direct reconstruction of ``crops`` through AWGN at each SNR (dB per
    real latent value), with fixed noise: {'val_psnr_0db': ..., 'val_psnr_10db': ...}."""
    g = torch.Generator().manual_seed(0)
    c, h, w = model.latent_shape
    rows, cols = crops.shape[2] // model.config.tile, crops.shape[3] // model.config.tile
    res = {}
    for snr in snrs_db:
        var = torch.full((crops.shape[0], c, rows * h, cols * w), 10 ** (-snr / 10), device=crops.device)
        # encode/transmit/decode rather than forward: the figures stay float32 when training autocasts forward
        rec = model.decode(transmit(model.encode(crops), var, g), var)
        mse = F.mse_loss(rec, crops, reduction="none")
        res[f"val_psnr_{snr:g}db"] = float((-10 * torch.log10(mse.mean((1, 2, 3)))).mean())
    return res


def _run_stage(name: str, cfg: TrainConfig, acc: Accelerator, model: torch.nn.Module,
               loss_fn, steps: int, time_s: float, validate=None) -> None:
    """Generic loop: AdamW, cosine LR, checkpoint/resume with accelerate, tqdm progress.

    The model trains in channels-last memory layout (faster convolutions on CPU and GPU alike) and,
    with ``cfg.mixed_precision``, under accelerate's autocast of its forward pass.

    ``validate(model) -> dict`` (optional) runs every ``cfg.val_steps`` steps; its figures, the step,
    the smoothed loss and the elapsed time go to ``out_dir/train_log.jsonl`` (one JSON per line), and
    the curve so far to ``out_dir/train_curve.png``.
    """
    ckpt = Path(cfg.out_dir) / "checkpoints" / name
    model = model.to(memory_format=torch.channels_last)
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
        if validate is not None and step % cfg.val_steps == 0 and acc.is_main_process:
            _log(cfg, {"stage": name, "step": step, "loss": ema, "elapsed_s": round(elapsed0 + time.time() - t0),
                       **validate(acc.unwrap_model(model))})
    bar.close()
    _checkpoint(acc, ckpt, step, elapsed0 + time.time() - t0)
    acc.unwrap_model(model).to(memory_format=torch.contiguous_format)  # as saved weights must be
    acc.free_memory()  # forget this stage's model/optimizer so the next stage's checkpoints hold only its own
    acc.print(f"[{name}] done: {step} steps, {elapsed0 + time.time() - t0:.0f} s, final loss {ema}")


def _log(cfg: TrainConfig, record: dict) -> None:
    with open(Path(cfg.out_dir) / LOG_NAME, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
    plot_training_curve(Path(cfg.out_dir))


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
    if cfg.mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision={cfg.mixed_precision!r} is invalid; use 'no', 'bf16' or 'fp16'")
    if cfg.crop % cfg.tile or cfg.prior_crop % cfg.tile:
        raise ValueError(f"crop={cfg.crop} and prior_crop={cfg.prior_crop} must be multiples of tile={cfg.tile}")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = Accelerator(mixed_precision=cfg.mixed_precision)
    torch.manual_seed(cfg.seed)
    photos = photos_in_dirs(cfg.photo_dir) if cfg.photo_dir else dict(zip(TRAIN_PHOTOS, train_photos()))
    train_set, val_set = split_train_val(photos, cfg.val_every)
    dev = acc.device
    hardware = f"{dev} x{acc.num_processes}, torch threads {torch.get_num_threads()}"
    if dev.type == "cpu":
        cpu = cpu_description()
        hardware += f" ({cpu})"
        if cfg.mixed_precision != "no" and cfg.mixed_precision not in native_cpu_precisions():
            log.warning("--mixed-precision %s on a CPU without native %s kernels (%s) trains about 9x slower "
                        "than float32 (measured on an AVX2 CPU: docs/results/train_speed_avx2.json); "
                        "use --mixed-precision no here", cfg.mixed_precision, cfg.mixed_precision, cpu)
    start = time.time()
    run = {"config": asdict(cfg), "train_photos": sorted(train_set), "val_photos": sorted(val_set),
           "hardware": hardware}
    if acc.is_main_process:
        (out / "data_split.json").write_text(json.dumps({k: run[k] for k in ("train_photos", "val_photos")}, indent=1))
    if "jscc" in stages:
        sampler = CropSampler(list(train_set.values()), tile=cfg.crop)
        jscc = GdnJSCC(tile=cfg.tile, latent_channels=cfg.latent_channels, downsample=cfg.downsample,
                    hidden=cfg.hidden)
        block = jscc.latent_shape[1:]
        map_shape = (cfg.batch, cfg.latent_channels, cfg.crop // cfg.downsample, cfg.crop // cfg.downsample)
        val_x = validation_crops(val_set, cfg.crop, 32) if val_set else None

        def jscc_loss(model, gen):
            x = sampler.sample(cfg.batch, gen).to(dev)
            var = _channel_noise(map_shape, block, cfg, gen).to(dev)
            rec = model(x, var, generator=gen)
            loss = F.mse_loss(rec, x)
            return loss + cfg.msssim_weight * _msssim_loss(rec, x) if cfg.msssim_weight > 0 else loss

        def jscc_val(model) -> dict:
            if val_x is None:
                return {}
            model.eval()
            res = validation_psnr(model, val_x.to(dev))
            model.train()
            return res

        t = time.time()
        _run_stage("jscc", cfg, acc, jscc, jscc_loss, cfg.jscc_steps, cfg.jscc_time_s, jscc_val)
        run["jscc_wall_s"] = time.time() - t
        if acc.is_main_process:
            acc.unwrap_model(jscc).save_pretrained(out / JSCC_DIR)
    if "prior" in stages:
        jscc = GdnJSCC.from_pretrained(out / JSCC_DIR).to(dev, memory_format=torch.channels_last)
        jscc = jscc.eval().requires_grad_(False)
        unet = make_prior(jscc.config.latent_channels, tuple(int(c) for c in cfg.prior_channels.split(",")))
        sched = make_scheduler()
        sampler = CropSampler(list(train_set.values()), tile=cfg.prior_crop)
        val_z = jscc.encode(validation_crops(val_set, cfg.prior_crop, 16).to(dev)) if val_set else None

        def prior_loss(model, gen):
            with torch.no_grad(), acc.autocast():   # the frozen encoder costs more than the UNet's step
                z = jscc.encode(sampler.sample(cfg.prior_batch, gen).to(dev))
            return diffusion_loss(model, sched, z.float(), gen)

        @torch.no_grad()
        def prior_val(model) -> dict:
            if val_z is None:
                return {}
            model.eval()
            loss = diffusion_loss(model, sched, val_z, torch.Generator().manual_seed(0))
            model.train()
            return {"val_diffusion_loss": float(loss)}

        t = time.time()
        _run_stage("prior", cfg, acc, unet, prior_loss, cfg.prior_steps, cfg.prior_time_s, prior_val)
        run["prior_wall_s"] = time.time() - t
        if acc.is_main_process:
            acc.unwrap_model(unet).save_pretrained(out / PRIOR_DIR)
            sched.save_pretrained(out / SCHEDULER_DIR)
    run["total_wall_s"] = time.time() - start
    if acc.is_main_process:
        (out / f"train_log_{'_'.join(stages)}.json").write_text(json.dumps(run, indent=1))
    return out


def build_parser() -> argparse.ArgumentParser:
    """argparse parser with one option per TrainConfig field (``--photo-dir`` may be repeated)."""
    p = argparse.ArgumentParser(prog="diffradio train", description=__doc__.split("\n\n")[0])
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, tuple):
            p.add_argument(flag, action="append", default=[], help="(repeatable; default: the packaged photos)")
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=f"(default: {f.default})")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python scripts/train.py --out-dir DIR [--jscc-time-s S] ...``."""
    args = build_parser().parse_args(argv)
    args.photo_dir = tuple(args.photo_dir)
    out = train(TrainConfig(**vars(args)))
    print(f"trained codec written to {out}")
    return 0
