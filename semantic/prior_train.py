"""Train the conditional diffusion prior over whole latent maps of a codec's encoder (issue 18).

The prior learns p(x | what the direct decoder knows) for the standardised latents
x = (z - mu) / sigma of the codec given by ``--codec`` (a codec folder, as ``--model`` takes; default:
the shipped one): z are its encoder's latents of the training photos, mu and sigma the per-channel
mean and standard deviation from its ``latent_mean`` / ``latent_cov``, so that the prior and
``semantic.posterior`` agree on the latent space whether the encoder is the published TAEF2 one or a
fine-tuned one.  The photos are split as ``diffradio train`` splits them (``--val-every``), encoded
once at ``--scales`` and mirrored (``OUT/latent_cache.pt``, keyed by the codec's fingerprint: training
never runs the image encoder again).  Each step sends a batch of latent crops through a channel drawn as
``diffradio train`` draws them (SNR -2..20 dB, Rayleigh fading, ratio 1/12, 1/24 or 1/48, lost
tiles), receives them with the codec's LMMSE estimate and restorer (frozen), noises the clean crops
to a random time and trains the UNet to predict them, given the noised crops and the receiver's
estimate and error variance (``semantic.posterior.predict_x0``; loss: mean square error on x0, each
crop's weighted by ``loss_weights``: uniform by default, ``--low-noise-weight G`` weights a crop at
time t by min(1 + SNR_t, G), SNR_t = abar_t / (1 - abar_t), so that the low-noise times a sample's
last steps depend on count up to G times more; ``--init`` starts from a trained prior's weights).
``--pixel-weight W`` adds W times :func:`pixel_db` of PIXEL_CROPS image crops: the prior's realism-0
estimate (``semantic.posterior.mean_estimate``), decoded by the codec's frozen decoder, scored on
the decoded crops' pixels, each crop encoded on its own as the link encodes (a cut of a whole photo's
cached latent map decodes 0.9-4.0 dB worse: ``experiments/latent_context.py``).  ``--pixel-times A``
(below 1) scores half of those crops at the sampler's x0 at a time drawn from [A T, T) instead
(:func:`decoded_sample_x0`: what realism 1 - t / T returns, from the crop's own latents noised to t),
and ``--pixel-msssim C`` adds C * (1 - MS-SSIM) to each crop's score (:func:`pixel_score`); both
measured on the validation split and not used by the shipped prior (README, "The diffusion decoder").
Model: diffusers ``UNet2DModel`` over (96, crop, crop) inputs; schedule: ``DDPMScheduler`` (cosine).

Every ``--ckpt-every`` steps: a checkpoint for resuming (weights and optimizer) in ``OUT/checkpoints``,
the float16 weights in ``OUT/prior`` and ``OUT/scheduler``, and a line in ``OUT/prior_log.jsonl`` with
the mean training loss and the validation loss (the x0 MSE on a fixed set of validation crops,
channels, times and noises, so that lines compare; step 0 is the untrained prior); with
``--pixel-weight``, also ``val_pixel_db`` (:func:`pixel_db` on PIXEL_VAL_CROPS fixed validation crops
and channels) and ``val_pixel_db_direct`` (the codec's direct decoder on the same: the figure to
beat).  ``OUT/best_prior`` keeps the weights with the lowest validation objective, val_loss +
W * val_pixel_db (the training loss's own mix).  Runs on a GPU when torch sees one.  Copy
``prior/`` and ``scheduler/`` (or ``best_prior/`` as ``prior/``) into a codec folder to give it the
``diffusion`` decoder.

Usage: python -m semantic.prior_train --codec semantic/weights/default --out runs/cprior --time-s 3600
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from tqdm import tqdm

from semantic.latent_channel import transmit
from semantic.posterior import conditioning, corrected_x0, mean_estimate, measurement, predict_x0
from semantic.taef2 import DOWNSAMPLE

#: Validation crops per loss evaluation (fixed crops, times and noises).
VAL_CROPS = 64
#: Image crops per training step in the pixel term (``--pixel-weight``), and in its validation figure.
PIXEL_CROPS, PIXEL_VAL_CROPS = 8, 32


def make_prior(channels: int = 32, widths: tuple[int, ...] = (64, 128, 128)) -> UNet2DModel:
    """A UNet from (x_t, conditioning) (3 * channels, h, w) to a correction of x0 (channels, h, w)
    (``semantic.posterior.predict_x0``), h and w multiples of 2**(len(widths) - 1); its last layer
    starts at zero."""
    n = len(widths)
    unet = UNet2DModel(in_channels=3 * channels, out_channels=channels, block_out_channels=widths, layers_per_block=2,
                       down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1), norm_num_groups=32)
    torch.nn.init.zeros_(unet.conv_out.weight)
    torch.nn.init.zeros_(unet.conv_out.bias)
    return unet


def make_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="sample")


def training_batch(codec, x0: torch.Tensor, sched: DDPMScheduler, gen: torch.Generator,
                   t: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """(x_t, t, abar_t, conditioning, x0) for standardised latent crops x0 (B, 32, h, w): each crop sent
    through a channel drawn as ``diffradio train`` draws them (``semantic.train.channel_draw``: SNR,
    fading, ratio, lost tiles) and received by the codec, and noised to times ``t`` (B,) (default:
    uniform random)."""
    model = codec.model
    with torch.no_grad():
        cond = conditioning(model, *_through_channel(model, model.from_white(x0), gen))
    if t is None:
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=gen)
    xt = sched.add_noise(x0, torch.randn(x0.shape, generator=gen), t)
    return xt, t, sched.alphas_cumprod[t].reshape(-1, 1, 1, 1), cond, x0


def _through_channel(model, z: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, noise_var) (B, 32, h, w; inf past each map's ratio and on lost tiles) of latents z
    (B, 32, h, w) sent through a channel drawn as ``diffradio train`` draws them
    (``semantic.train.channel_draw``: SNR, fading, ratio, lost tiles) at the link's SNR per value."""
    from semantic.train import FinetuneConfig, channel_draw
    var = channel_draw(tuple(z.shape), FinetuneConfig(), model.config.tile, gen)
    var = var * model.sent_power(var)[:, None, None, None]    # the link's SNR per value at each ratio
    return transmit(model.project(z, z.shape[1]), var, gen), var


def received_crops(model, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(z, y, noise_var) of image crops (B, 3, H, W) in [0, 1], H and W multiples of 8: each crop's
    latents z encoded on its own by the codec network ``model``'s encoder (on the CPU, as ``gen``) and
    sent through a training channel (:func:`_through_channel`)."""
    with torch.no_grad():
        z = model.encoder(images)
        return (z, *_through_channel(model, z, gen))


def pixel_db(model, prior, sched: DDPMScheduler, images: torch.Tensor, y: torch.Tensor,
             noise_var: torch.Tensor) -> torch.Tensor:
    """(B,) 10 log10 of the mean square pixel error (images in [0, 1]) of the prior's realism-0
    estimate (``semantic.posterior.mean_estimate``) for received crops (y, noise_var)
    (:func:`received_crops` of ``images`` (B, 3, H, W)), decoded by the codec network ``model``'s
    decoder (all on the prior's device); differentiable in the prior's weights.  The log makes every
    crop count by its relative error, as PSNR does."""
    return _db(decoded_mean_estimate(model, prior, sched, y, noise_var), images)


def decoded_mean_estimate(model, prior, sched: DDPMScheduler, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) the codec network ``model``'s decoder applied to the prior's realism-0 estimate
    (``semantic.posterior.mean_estimate``) for received crops (y, noise_var)."""
    est = mean_estimate(prior, sched, conditioning(model, y, noise_var))
    return model.decoder(model.from_white(est))


def decoded_sample_x0(model, prior, sched: DDPMScheduler, received: tuple[torch.Tensor, ...], t: torch.Tensor,
                      gen: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) the codec network ``model``'s decoder applied to the sampler's x0 at times ``t`` (B,)
    below T (``semantic.posterior.corrected_x0``, what a realism of 1 - t / T returns), with x_t the
    crops' own standardised latents z noised to t (noise from ``gen``), for ``received`` = (z, y,
    noise_var) (:func:`received_crops`)."""
    z, y, noise_var = received
    x0 = model.to_white(z)
    xt = sched.add_noise(x0, torch.randn(x0.shape, generator=gen).to(x0.device), t)
    abar = sched.alphas_cumprod[t.cpu()].float().reshape(-1, 1, 1, 1).to(x0.device)
    est = corrected_x0(prior, xt, t, abar, conditioning(model, y, noise_var), measurement(model, y, noise_var))
    return model.decoder(model.from_white(est))


def pixel_score(decoded: torch.Tensor, images: torch.Tensor, msssim_weight: float = 0.0) -> torch.Tensor:
    """(B,) the pixel term's score per crop: :func:`_db`, plus ``msssim_weight`` * (1 - MS-SSIM) when
    that is above 0 (torchmetrics, the window and scales of ``semantic.metrics.ms_ssim``; crops of more
    than 20 pixels a side)."""
    score = _db(decoded, images)
    if msssim_weight:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

        from semantic.metrics import msssim_scales
        win, betas = msssim_scales(min(images.shape[-2:]))
        ms = msssim(decoded.clamp(0, 1), images, data_range=1.0, kernel_size=win, reduction="none",
                    betas=betas, normalize="relu")
        score = score + msssim_weight * (1 - ms)
    return score


def _db(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(B,) 10 log10 of each crop's mean square error."""
    return 10 * torch.log10((decoded - images).square().mean((1, 2, 3)).clamp_min(1e-10))


class PixelValidation:
    """:func:`pixel_db` on PIXEL_VAL_CROPS fixed validation crops and channels (``val_pixel_db``), and
    the codec network ``model``'s direct decoder on the same (``direct_db``, dB, computed once);
    ``self.model``: ``model`` on the prior's device ``dev`` (what the pixel term decodes with)."""

    def __init__(self, model, dev: torch.device, crops, sched: DDPMScheduler):
        gen = torch.Generator().manual_seed(4321)
        images = crops.sample(PIXEL_VAL_CROPS, gen)[0]
        self.model = model if dev.type == "cpu" else copy.deepcopy(model).to(dev)
        self.sched = sched
        self.chunks = [tuple(v.to(dev) for v in (im, *received_crops(model, im, gen)[1:]))
                       for im in images.split(PIXEL_CROPS)]
        with torch.no_grad():
            self.direct_db = float(torch.cat([_db(self.model(y, v), im) for im, y, v in self.chunks]).mean())

    @torch.no_grad()
    def __call__(self, prior) -> float:
        prior.eval()
        return float(torch.cat([pixel_db(self.model, prior, self.sched, *c) for c in self.chunks]).mean())


def loss_weights(abar: torch.Tensor, low_noise_weight: float) -> torch.Tensor:
    """Per-crop weights of the x0 loss (shape of ``abar``): 1, or min(1 + SNR, ``low_noise_weight``) with
    SNR = abar / (1 - abar) when that is > 1 (the min-SNR-gamma weighting of Hang et al. 2023 written
    for x0 prediction, kept at 1 or more so that the high-noise times keep their uniform weight)."""
    if low_noise_weight <= 1.0:
        return torch.ones_like(abar)
    return (1.0 + abar / (1.0 - abar).clamp_min(1e-8)).clamp(max=low_noise_weight)


def standardised_pairs(codec, photos: dict[str, np.ndarray], scales, cache: Path, mirror: bool) -> list:
    """(image, standardised latents float32 (32, h, w)) of ``photos`` (and their mirror images when
    ``mirror``) at ``scales``, encoded by ``codec``'s encoder (cached in ``cache``)."""
    from semantic.train import latent_cache
    if mirror:
        photos = {**photos, **{f"{n}|mirrored": np.ascontiguousarray(im[:, ::-1]) for n, im in photos.items()}}
    pairs = latent_cache(cache, photos, scales, lambda: codec.model.encoder, tag=f"{codec.fingerprint():08x}")
    return [(img, codec.model.to_white(z.float())) for img, z in pairs]


def main(argv: list[str] | None = None) -> int:
    from semantic.allocator import keep_freed_memory
    from semantic.codec import CodecLoadError, SemanticCodec
    keep_freed_memory()
    from semantic.data import photos_in_dirs, split_train_val
    from semantic.train import FinetuneConfig, LatentCrops
    defaults = FinetuneConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codec", default=None, help="codec folder whose latents to learn (default: the shipped model)")
    p.add_argument("--out", required=True)
    p.add_argument("--photo-dir", nargs="+", default=list(defaults.photo_dir))
    p.add_argument("--val-every", type=int, default=defaults.val_every,
                   help="hold out every N-th photo for validation (the same split as diffradio train)")
    p.add_argument("--scales", type=float, nargs="+", default=list(defaults.scales))
    p.add_argument("--no-mirror", action="store_true", help="do not add mirrored photos to the training set")
    p.add_argument("--crop", type=int, default=16, help="latent crop side (positions; 16 = 128 pixels)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=100_000, help="training steps (the learning rate decays to 0 there)")
    p.add_argument("--time-s", type=float, default=0.0, help="stop after this much training time (0 = none)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None,
                   help="start from these prior weights (a prior/ or best_prior/ folder) instead of an untrained UNet")
    p.add_argument("--low-noise-weight", type=float, default=1.0,
                   help="weight the x0 loss at time t by min(1 + SNR_t, G) (1 = uniform; see loss_weights)")
    p.add_argument("--pixel-weight", type=float, default=0.0,
                   help="add this times the decoded realism-0 estimate's pixel error in dB (see pixel_db; 0 = none)")
    p.add_argument("--pixel-msssim", type=float, default=0.0,
                   help="add this times (1 - MS-SSIM) to each crop's pixel error in dB (see pixel_score)")
    p.add_argument("--pixel-times", type=float, default=1.0,
                   help="below 1: half of the pixel term's crops score the sampler's x0 at a time drawn from "
                        "[A T, T) instead of the realism-0 estimate (see decoded_sample_x0)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        codec = SemanticCodec.from_pretrained(a.codec)
        train, val = split_train_val(photos_in_dirs(a.photo_dir), a.val_every)
    except (CodecLoadError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    if not val:
        raise SystemExit(f"error: no validation photos (--val-every {a.val_every} over {len(train)} photos); "
                         "use --val-every 2 or more and at least that many photos")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_crops = LatentCrops(standardised_pairs(codec, train, a.scales, out / "latent_cache.pt", not a.no_mirror),
                              a.crop * DOWNSAMPLE)
    val_crops = LatentCrops(standardised_pairs(codec, val, a.scales, out / "val_latent_cache.pt", False),
                            a.crop * DOWNSAMPLE)
    if not train_crops.pairs or not val_crops.pairs:
        raise SystemExit(f"error: no photo is at least {a.crop * DOWNSAMPLE} pixels on each side; lower --crop")
    try:
        unet = (UNet2DModel.from_pretrained(a.init, torch_dtype=torch.float32) if a.init else make_prior()).to(dev)
    except OSError as e:
        raise SystemExit(f"error: cannot load --init {a.init!r} ({e}); give a prior/ or best_prior/ folder "
                         "of a semantic.prior_train run") from None
    sched = make_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=a.lr, weight_decay=0.0)
    val_set = validation_batch(codec, val_crops, sched, dev)
    codec.model.requires_grad_(False).eval()
    pixels = PixelValidation(codec.model, dev, val_crops, sched) if a.pixel_weight else None
    report = Report(val_set, pixels, a.pixel_weight)
    ckpt = out / "checkpoints" / "state.pt"
    step, elapsed, best = 0, 0.0, float("inf")
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False, map_location=dev)
        unet.load_state_dict(state["unet"])
        opt.load_state_dict(state["opt"])
        step, elapsed, best = state["step"], state["elapsed_s"], state.get("best_val", float("inf"))
    else:
        best = _save(unet, sched, opt, out, report(0, time.time(), [], unet), best)
    gen = torch.Generator().manual_seed(step)
    t0, losses = time.time() - elapsed, []
    bar = tqdm(total=a.steps, initial=step, desc="prior")
    while step < a.steps and not (a.time_s and time.time() - t0 >= a.time_s):
        unet.train()
        xt, t, abar, cond, x0 = (v.to(dev) for v in training_batch(codec, train_crops.sample(a.batch, gen)[1],
                                                                      sched, gen))
        err = (predict_x0(unet, xt, t, abar, cond) - x0).square().mean((1, 2, 3))
        loss = (loss_weights(abar.flatten(), a.low_noise_weight) * err).mean()
        if a.pixel_weight:
            images = train_crops.sample(PIXEL_CROPS, gen)[0]
            im, z, y, var = (v.to(dev) for v in (images, *received_crops(codec.model, images, gen)))
            n = PIXEL_CROPS // 2 if a.pixel_times < 1 else PIXEL_CROPS
            decoded = [decoded_mean_estimate(pixels.model, unet, sched, y[:n], var[:n])]
            if n < PIXEL_CROPS:
                t_max = sched.config.num_train_timesteps - 1
                t = torch.randint(round(a.pixel_times * t_max), t_max, (PIXEL_CROPS - n,), generator=gen)
                decoded.append(decoded_sample_x0(pixels.model, unet, sched, (z[n:], y[n:], var[n:]), t.to(dev), gen))
            loss = loss + a.pixel_weight * pixel_score(torch.cat(decoded), im, a.pixel_msssim).mean()
        for g in opt.param_groups:   # 200 warm-up steps, then cosine decay to 0 at --steps
            g["lr"] = a.lr * min(1.0, (step + 1) / 200) * 0.5 * (1.0 + math.cos(math.pi * step / a.steps))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if step % a.ckpt_every == 0 or step == a.steps:
            best = _save(unet, sched, opt, out, report(step, t0, losses, unet), best)
            losses = []
    if losses:
        _save(unet, sched, opt, out, report(step, t0, losses, unet), best)
    return 0


class Report:
    """The log lines: training time (s), mean training loss since the last line, validation loss, the
    pixel figures when ``pixels`` (a :class:`PixelValidation`) is given, and ``objective``:
    val_loss + ``pixel_weight`` * val_pixel_db, by which ``best_prior`` is kept."""

    def __init__(self, val_set: tuple, pixels: PixelValidation | None, pixel_weight: float):
        self.val_set, self.pixels, self.pixel_weight = val_set, pixels, pixel_weight

    def __call__(self, step: int, t0: float, losses: list[float], unet: UNet2DModel) -> dict:
        rec = {"step": step, "elapsed_s": round(time.time() - t0, 1),
               "loss": sum(losses) / len(losses) if losses else None, "val_loss": _val_loss(unet, self.val_set)}
        rec["objective"] = rec["val_loss"]
        if self.pixels is not None:
            rec.update(val_pixel_db=self.pixels(unet), val_pixel_db_direct=self.pixels.direct_db)
            rec["objective"] += self.pixel_weight * rec["val_pixel_db"]
        return rec


def validation_batch(codec, crops, sched: DDPMScheduler, dev: torch.device,
                     t: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Fixed :func:`training_batch` of VAL_CROPS validation crops, channels and noises at times ``t``
    (VAL_CROPS,) (default: spread over the schedule, the ``val_loss`` of the log)."""
    gen = torch.Generator().manual_seed(1234)
    if t is None:
        t = torch.linspace(0, sched.config.num_train_timesteps - 1, VAL_CROPS).round().long()
    return tuple(v.to(dev) for v in training_batch(codec, crops.sample(VAL_CROPS, gen)[1], sched, gen, t))


@torch.no_grad()
def _val_loss(unet: UNet2DModel, val_set: tuple[torch.Tensor, ...]) -> float:
    """Mean x0 MSE over the fixed validation batch (evaluated in chunks of 16)."""
    unet.eval()
    xt, t, abar, cond, x0 = val_set
    err = sum(torch.nn.functional.mse_loss(predict_x0(unet, *(v[i:i + 16] for v in (xt, t, abar, cond))),
                                           x0[i:i + 16], reduction="sum") for i in range(0, len(t), 16))
    return float(err) / x0.numel()


def _save(unet, sched, opt, out: Path, rec: dict, best: float) -> float:
    """Checkpoint (atomic), float16 weights (and ``best_prior`` when ``rec['objective']`` is the lowest
    so far, ``best`` before it), the log line ``rec``; returns the new best validation objective."""
    ckpt = out / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    objective = rec["objective"]
    best = min(best, objective)
    tmp = ckpt / "state.pt.tmp"
    torch.save({"unet": unet.state_dict(), "opt": opt.state_dict(), "step": rec["step"],
                "elapsed_s": rec["elapsed_s"], "best_val": best}, tmp)
    tmp.replace(ckpt / "state.pt")
    half = copy.deepcopy(unet).to("cpu", torch.float16)
    half.save_pretrained(out / "prior")
    if objective == best:
        half.save_pretrained(out / "best_prior")
    sched.save_pretrained(out / "scheduler")
    with (out / "prior_log.jsonl").open("a") as f:
        f.write(json.dumps({**rec, "best": objective == best}) + "\n")
    return best


if __name__ == "__main__":
    raise SystemExit(main())
