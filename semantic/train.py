"""Channel-in-the-loop fine-tuning of :class:`semantic.latent_codec.ProjectedLatentCodec`.

By default the TAEF2 encoder stays frozen (its latent space is what the diffusion prior learns), so
the latents of every training photo are computed once (at the photo's size and at ``scales``) and
cached in ``out_dir/latent_cache.pt``; training then runs only the projection, the LMMSE estimate,
the restorer and the decoder.  ``--encoder-lr`` > 0 fine-tunes the encoder too (:class:`ChannelInTheLoop`:
each crop is re-encoded, the noise follows the sent power, the latent statistics follow the
encoder).  Each step draws random crops
(``crop`` pixels, aligned to the 8-pixel latent grid), sends their projected latents through a latent
channel drawn per crop (bandwidth ratio 1/12, 1/24 or 1/48 by masking the later dimensions; AWGN or
per-symbol Rayleigh fading at an SNR uniform in [snr_min_db, snr_max_db] dB per real value, as the
link sends the crop's ratio: ``ProjectedLatentCodec.sent_power``; with
probability ``p_lost`` some whole tiles lost), and minimises the mean over crops of the log MSE of
the decoded crop (each crop's MSE weighted by the inverse of its own: the mean PSNR, so that
low-SNR and lost-tile crops do not dominate the gradient).

Runs on CPU, one GPU or several (``accelerate launch -m semantic.train ...``; ``diffradio train``
is the same command), records every start and resume with its options in ``out_dir/train_config.jsonl``,
logs to ``out_dir/train_log.jsonl``, checkpoints (``accelerate.save_state``) every ``ckpt_every`` steps
under ``out_dir/checkpoints`` and resumes from there; ``out_dir/model`` always holds the latest
weights as a codec model folder (float16 safetensors) and ``out_dir/best_model`` the weights with the
best mean validation PSNR so far (``val_psnr_mean`` in the log; early stopping on the validation
split: the decoder can over-fit the few training photos).
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from semantic.allocator import keep_freed_memory
from semantic.data import centre_crop, photos_in_dirs, split_train_val
from semantic.latent_channel import noise_variance, transmit
from semantic.latent_codec import RATIO_DIMS, ProjectedLatentCodec
from semantic.metrics import psnr
from semantic.taef2 import DOWNSAMPLE, load_taef2
from semantic.training_curve import plot_training_curve

log = logging.getLogger("diffradio.train")


@dataclass
class FinetuneConfig:
    """Options (sizes in pixels, SNR in dB per real latent value, time in seconds); the defaults are
    the shipped model's run (``runs/codec-v4``)."""
    out_dir: str = "runs/codec-v4"
    pretrained: str = "../shared/pretrained/taef2"   # folder with taef2_{encoder,decoder}.pth
    init_from: str = ""           # a codec model folder to start from (e.g. a run's best_model/) instead of TAEF2 + PCA
    photo_dir: tuple[str, ...] = ("../shared/datasets/photos",)
    val_every: int = 10           # every val_every-th photo of the sorted folder(s) is held out
    scales: tuple[float, ...] = (1.0, 0.6)
    seed: int = 0
    crop: int = 128
    batch: int = 8
    steps: int = 2000
    time_s: float = 0.0           # stop after this much training time (0 = no budget)
    lr: float = 5e-4              # restorer
    basis_lr: float = 2e-4        # projection
    decoder_lr: float = 5e-5      # the pretrained decoder (2e-4, or 1e-4 after 50 warm-up steps, dipped on validation)
    decoder_stages: int = 4       # decoder stages fine-tuned, from the latent side (4 = all; see decoder_stage_params)
    encoder_lr: float = 0.0       # the pretrained encoder (0 = frozen; see ChannelInTheLoop)
    warmup: int = 100
    snr_min_db: float = -2.0
    snr_max_db: float = 20.0
    p_fading: float = 0.3
    p_lost: float = 0.15
    ratio_weights: tuple[float, ...] = (0.2, 0.5, 0.3)   # for 1/12, 1/24, 1/48
    flip: bool = False            # mirror half the crops left-right (needs --encoder-lr > 0: the crops are re-encoded)
    restorer_stages: int = 1      # residual stages of the restorer; with --init-from, stages it lacks start as no-ops
    ckpt_every: int = 150
    val_steps: int = 150
    threads: int = 0


def encode_photo(encoder, image: np.ndarray, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) -> (image uint8 (3, H', W'), latents float16 (32, H'/8, W'/8)), H', W' the
    rescaled size cut to multiples of 8."""
    from PIL import Image
    img = Image.fromarray(image)
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    arr = np.asarray(img)
    arr = arr[: arr.shape[0] // DOWNSAMPLE * DOWNSAMPLE, : arr.shape[1] // DOWNSAMPLE * DOWNSAMPLE]
    x = torch.from_numpy(np.array(arr)).permute(2, 0, 1)
    with torch.no_grad():
        z = encoder(x[None].float() / 255.0)[0]
    return x, z.half()


def latent_cache(path: Path, photos: dict[str, np.ndarray], scales, encoder: Callable[[], torch.nn.Module],
                 tag: str = "") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(image, latents) pairs of every photo at every scale, from the cache file ``path`` when it holds
    the same photos, scales and encoder ``tag`` (e.g. a codec fingerprint; "" = the published TAEF2
    encoder), else computed with ``encoder()`` (with a progress bar) and written there atomically."""
    key = {"photos": sorted(photos), "scales": list(scales), **({"encoder": tag} if tag else {})}
    if path.exists():
        cached = torch.load(path, weights_only=True)
        if cached["key"] == json.dumps(key):
            return list(zip(cached["images"], cached["latents"]))
    enc = encoder()
    pairs = [encode_photo(enc, photos[n], s)
             for n in tqdm(sorted(photos), desc="encoding photos") for s in scales]
    tmp = path.with_suffix(".tmp")
    torch.save({"key": json.dumps(key), "images": [p[0] for p in pairs], "latents": [p[1] for p in pairs]}, tmp)
    tmp.replace(path)
    return pairs


class LatentCrops:
    """Random aligned crops of cached (image, latents) pairs, drawn by area, unflipped (the encoder is
    not flip-equivariant: ``FinetuneConfig.flip`` mirrors crops only where the encoder re-encodes them)."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]], crop: int):
        self.pairs = [p for p in pairs if min(p[0].shape[1:]) >= crop]
        self.crop = crop
        areas = torch.tensor([float(p[0].shape[1] * p[0].shape[2]) for p in self.pairs])
        self.weights = areas / areas.sum()

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float32 (B, 3, crop, crop) in [0, 1], latents float32 (B, 32, crop/8, crop/8))."""
        c, lc = self.crop, self.crop // DOWNSAMPLE
        xs, zs = [], []
        for i in torch.multinomial(self.weights, batch, replacement=True, generator=gen).tolist():
            img, z = self.pairs[i]
            r = int(torch.randint(0, z.shape[1] - lc + 1, (1,), generator=gen))
            q = int(torch.randint(0, z.shape[2] - lc + 1, (1,), generator=gen))
            xs.append(img[:, r * DOWNSAMPLE: r * DOWNSAMPLE + c, q * DOWNSAMPLE: q * DOWNSAMPLE + c])
            zs.append(z[:, r: r + lc, q: q + lc])
        return torch.stack(xs).float() / 255.0, torch.stack(zs).float()


def channel_draw(shape: tuple[int, int, int, int], cfg: FinetuneConfig, tile: int,
                 gen: torch.Generator) -> torch.Tensor:
    """Per-value noise variance (B, 32, h, w) of one training batch: dims past each crop's ratio,
    and the lost tiles, are inf."""
    b, c, h, w = shape
    snr = cfg.snr_min_db + (cfg.snr_max_db - cfg.snr_min_db) * torch.rand(b, generator=gen)
    fading = torch.rand(b, generator=gen) < cfg.p_fading
    var = torch.where(fading[:, None, None, None], noise_variance(shape, snr, "rayleigh", gen),
                      noise_variance(shape, snr, "awgn", gen))
    dims = torch.tensor(list(RATIO_DIMS.values()))[
        torch.multinomial(torch.tensor(cfg.ratio_weights), b, replacement=True, generator=gen)]
    var = torch.where(torch.arange(c)[None, :, None, None] >= dims[:, None, None, None], float("inf"), var)
    t = tile // DOWNSAMPLE
    lost = (torch.rand(b, 1, h // t, w // t, generator=gen) < 0.35) & (torch.rand(b, 1, 1, 1, generator=gen) < cfg.p_lost)
    lost = lost.repeat_interleave(t, 2).repeat_interleave(t, 3)
    return torch.where(lost, float("inf"), var)


def validation_crops(photos: dict[str, np.ndarray]) -> list[torch.Tensor]:
    """Each validation photo's central 512 x 512 pixels (less where the photo is smaller, cut to
    multiples of 8), uint8 (3, H, W): what :func:`validate` measures on."""
    crops = [centre_crop(img, min(img.shape[0], 512) // DOWNSAMPLE * DOWNSAMPLE,
                         min(img.shape[1], 512) // DOWNSAMPLE * DOWNSAMPLE) for img in photos.values()]
    return [torch.from_numpy(np.array(c)).permute(2, 0, 1) for c in crops]


VAL_CELLS = (("1/24", 0.0), ("1/24", 10.0), ("1/12", 10.0), ("1/48", 10.0))


@torch.no_grad()
def validate(model: ProjectedLatentCodec, val: list[torch.Tensor]) -> dict:
    """Mean PSNR over the validation crops (``validation_crops``), each encoded whole by the model's
    own encoder, per cell of VAL_CELLS (AWGN on the sent values, fixed seed)."""
    out = {}
    latents = [model.encode_latents(img[None].float() / 255.0) for img in val]
    for ratio, snr in VAL_CELLS:
        gen = torch.Generator().manual_seed(1234)
        ps = []
        for img, z in zip(val, latents):
            s = model.project(z, RATIO_DIMS[ratio])
            var = noise_variance(tuple(s.shape), snr, "awgn")
            rec = (model.decode(transmit(s, var, gen), var)[0] * 255).round().to(torch.uint8)
            ps.append(psnr(img.permute(1, 2, 0).numpy(), rec.permute(1, 2, 0).numpy()))
        out[f"val_psnr_{ratio}_{snr:g}dB"] = float(np.mean(ps))
    return out


class ChannelInTheLoop(torch.nn.Module):
    """One training pass as a module (what ``accelerate`` wraps, so that every trained parameter is
    used inside ``forward``): crops -> latents -> sent values -> latent channel -> decoded crops.

    The drawn noise variances (at unit power per value) are scaled by each crop's sent power
    (``ProjectedLatentCodec.sent_power``), so that every ratio trains at the link's SNR per value.
    With ``train_encoder`` the crops are re-encoded by the encoder being trained; the variances are
    then scaled as well by the batch's power over the values actually sent relative to that expected
    (a receiver that divides by the sender's scale sees this noise), so that a larger encoder output
    buys no SNR; and the
    codec's latent mean and covariance follow the encoder's latents (exponential moving average,
    weight ``1 - momentum`` per batch), so that its projection's unit-power scaling and its LMMSE
    prior stay right.  Without it the cached latents are used as they are.
    """

    def __init__(self, codec: ProjectedLatentCodec, train_encoder: bool = False, momentum: float = 0.99):
        super().__init__()
        self.codec, self.train_encoder, self.momentum = codec, train_encoder, momentum

    def forward(self, x: torch.Tensor, z: torch.Tensor, noise_var: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """x: crops (B, 3, H, W) in [0, 1]; z: their cached latents (B, 32, H/8, W/8); noise_var: per-value
        variance (B, 32, H/8, W/8) at unit sent power (inf: not sent or lost). Returns the decoded crops
        (B, 3, H, W), unclamped."""
        if self.train_encoder:
            z = self.codec.encode_latents(x)
            self._follow_latent_statistics(z.detach())
        s = self.codec.project(z, z.shape[1])
        sent = torch.isfinite(noise_var)
        gain = self.codec.sent_power(noise_var)[:, None, None, None]     # the link's SNR per value at each ratio
        if self.train_encoder:   # and the drift of the encoder's output power on top
            gain = gain * (s.pow(2) * sent).sum() / (gain * sent).sum().clamp_min(1e-12)
        finite = torch.where(sent, noise_var, torch.zeros_like(noise_var))   # inf * 0 would make NaN gradients
        noise_var = torch.where(sent, finite * gain, noise_var)
        return self.codec(transmit(s, noise_var, generator), noise_var)

    @torch.no_grad()
    def _follow_latent_statistics(self, z: torch.Tensor) -> None:
        v = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        mean = v.mean(0)
        self.codec.latent_mean.lerp_(mean, 1.0 - self.momentum)
        self.codec.latent_cov.lerp_(torch.cov((v - mean).T), 1.0 - self.momentum)


def initial_model(pretrained: str | Path, pairs: list[tuple[torch.Tensor, torch.Tensor]],
                  restorer_stages: int = 1) -> ProjectedLatentCodec:
    """The starting point: TAEF2's encoder and decoder from ``pretrained``, the projection at the PCA
    basis of the cached training latents, the restorer at identity."""
    enc, dec = load_taef2(pretrained)
    model = ProjectedLatentCodec(restorer_stages=restorer_stages)
    model.encoder.load_state_dict(enc.state_dict())
    model.decoder.load_state_dict(dec.state_dict())
    model.init_projection(torch.cat([z.float().flatten(1).T for _, z in pairs]))
    return model


def load_init(model: ProjectedLatentCodec, init_from: str | Path) -> None:
    """Load the codec model folder ``init_from`` into ``model``; restorer stages that ``model`` has and
    the folder's model lacks keep their no-op start, anything else that does not match is an error."""
    if not (Path(init_from) / "config.json").is_file():
        raise FileNotFoundError(f"no codec model folder at {str(init_from)!r}; pass a run's model/ or best_model/ "
                                "folder, or semantic/weights/default/latent_codec for the shipped model")
    start = ProjectedLatentCodec.from_pretrained(init_from, torch_dtype=torch.float32)
    if start.config.restorer_stages > model.config.restorer_stages:
        raise ValueError(f"{str(init_from)!r} has {start.config.restorer_stages} restorer stages; pass "
                         f"--restorer-stages {start.config.restorer_stages} or more")
    missing, unexpected = model.load_state_dict(start.state_dict(), strict=False)
    if unexpected or any(not k.startswith("restorer.more.") for k in missing):
        raise ValueError(f"{str(init_from)!r} does not fit this codec: missing {missing}, unexpected {unexpected}")


def decoder_stage_params(decoder: torch.nn.Sequential, stages: int) -> list[torch.nn.Parameter]:
    """Parameters of the first ``stages`` resolution stages of the TAEF2 decoder, counted from the
    latent side (stage 1: the layers before the first 2x upsampling, at the latent resolution;
    stages 2-3: each upsampling's stage; stage 4: the last, at full resolution).  Fine-tuning only
    the early stages adapts the decoder to noisy latents and keeps the published texture stages."""
    if not 1 <= stages <= 4:
        raise ValueError(f"decoder_stages must be 1..4, got {stages}")
    params, stage = [], 1
    for layer in decoder:
        if isinstance(layer, torch.nn.Upsample):
            stage += 1
        if stage > stages:
            break
        params += list(layer.parameters())
    return params


def finetune(cfg: FinetuneConfig) -> Path:
    """Run (or resume) the fine-tuning; returns ``out_dir/model``."""
    from accelerate import Accelerator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    for name in ("encoder", "decoder"):
        if not (Path(cfg.pretrained) / f"taef2_{name}.pth").is_file():
            raise FileNotFoundError(f"no taef2_{name}.pth in {cfg.pretrained!r}; point --pretrained at the folder "
                                    "holding the TAEF2 state dicts (taef2_encoder.pth, taef2_decoder.pth)")
    if cfg.flip and cfg.encoder_lr <= 0:
        raise ValueError("--flip needs --encoder-lr > 0: the cached latents of a frozen encoder are not those of "
                         "mirrored crops (the encoder is not flip-equivariant)")
    photos = photos_in_dirs(cfg.photo_dir)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log.info("config %s", asdict(cfg))
    acc = Accelerator()
    train_set, val_set = split_train_val(photos, cfg.val_every)
    (out / "data_split.json").write_text(json.dumps({"train_photos": sorted(train_set),
                                                     "val_photos": sorted(val_set)}, indent=1))
    pairs = latent_cache(out / "latent_cache.pt", train_set, cfg.scales, lambda: load_taef2(cfg.pretrained)[0])
    model = initial_model(cfg.pretrained, pairs, cfg.restorer_stages)
    if cfg.init_from:
        load_init(model, cfg.init_from)
    if not (out / "initial_model").exists():
        _save_weights(model, out / "initial_model")
    val = validation_crops(val_set)
    crops = LatentCrops(pairs, cfg.crop)
    model.decoder.requires_grad_(False)                  # --decoder-lr 0 keeps the published decoder
    tuned = decoder_stage_params(model.decoder, cfg.decoder_stages) if cfg.decoder_lr > 0 else []
    for param in tuned:
        param.requires_grad_(True)
    groups = [{"params": tuned, "lr": cfg.decoder_lr},
              {"params": model.restorer.parameters(), "lr": cfg.lr},
              {"params": [model.basis], "lr": cfg.basis_lr}]
    if cfg.encoder_lr > 0:
        model.encoder.requires_grad_(True)
        groups.append({"params": model.encoder.parameters(), "lr": cfg.encoder_lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0))))
    graph, opt, sched = acc.prepare(ChannelInTheLoop(model, cfg.encoder_lr > 0), opt, sched)
    ckpt = out / "checkpoints"
    step, elapsed = 0, 0.0
    if (ckpt / "state.json").exists():
        acc.load_state(str(ckpt))
        state = json.loads((ckpt / "state.json").read_text())
        step, elapsed = state["step"], state["elapsed_s"]
        log.info("resumed at step %d (%.0f s trained)", step, elapsed)
    if acc.is_main_process:   # every start and resume, with its options: how the run was made
        with (out / "train_config.jsonl").open("a") as f:
            f.write(json.dumps({"from_step": step, "config": asdict(cfg)}) + "\n")
    gen = torch.Generator().manual_seed(cfg.seed + step)
    bar = tqdm(total=cfg.steps, initial=step, desc="fine-tuning", disable=not acc.is_main_process)
    t0, losses = time.time() - elapsed, []
    raw = acc.unwrap_model(graph).codec
    if step == 0 and acc.is_main_process and _best_logged(out / "train_log.jsonl") is None:
        _log_validation(raw, val, out, {"step": 0, "elapsed_s": 0.0})   # the bar every later step must beat
    while step < cfg.steps and not (cfg.time_s and time.time() - t0 >= cfg.time_s):
        graph.train()
        x, z = crops.sample(cfg.batch, gen)
        if cfg.flip:   # the encoder being trained re-encodes x, so z need not follow
            x = torch.where(torch.rand(cfg.batch, 1, 1, 1, generator=gen) < 0.5, x.flip(-1), x)
        x, z = x.to(acc.device), z.to(acc.device)
        var = channel_draw(tuple(z.shape), cfg, raw.config.tile, gen).to(acc.device)
        mse = (graph(x, z, var, gen) - x).pow(2).mean((1, 2, 3))
        # each crop weighted by 1/its own MSE (scaled to keep the batch's gradient size): the mean
        # log-MSE, i.e. the mean PSNR, so that low-SNR and lost-tile crops do not drown the others
        loss = (mse * (mse.mean() / mse.clamp_min(1e-8)).detach()).mean()
        acc.backward(loss)
        acc.clip_grad_norm_(raw.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(mse.mean().item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.5f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save(acc, raw, out, step, time.time() - t0)
        if step % cfg.val_steps == 0 or step == cfg.steps:
            graph.eval()
            rec = {"step": step, "elapsed_s": round(time.time() - t0, 1),
                   "train_mse": float(np.mean(losses[-cfg.val_steps:]))}
            losses = []
            if acc.is_main_process:
                _log_validation(raw, val, out, rec)
    _save(acc, raw, out, step, time.time() - t0)
    return out / "model"


def _log_validation(model: ProjectedLatentCodec, val: list, out: Path, rec: dict) -> None:
    """Validate, append the record to ``train_log.jsonl`` (with ``val_psnr_mean``, dB, and ``best``
    when it beats every earlier record: then ``out/best_model`` gets these weights) and redraw the curve."""
    rec.update(validate(model, val))
    rec["val_psnr_mean"] = float(np.mean([v for k, v in rec.items() if k.startswith("val_psnr_")]))
    best = _best_logged(out / "train_log.jsonl")
    if best is None or rec["val_psnr_mean"] > best:
        _save_weights(model, out / "best_model")   # early stopping on the validation split
        rec["best"] = True
    with (out / "train_log.jsonl").open("a") as f:
        f.write(json.dumps(rec) + "\n")
    plot_training_curve(out)
    log.info("%s", rec)


def _best_logged(log_path: Path) -> float | None:
    """Best ``val_psnr_mean`` (dB) logged so far in ``train_log.jsonl``, None before the first."""
    if not log_path.exists():
        return None
    means = [json.loads(line).get("val_psnr_mean") for line in log_path.read_text().splitlines() if line.strip()]
    means = [m for m in means if m is not None]
    return max(means) if means else None


def _save(acc, model: ProjectedLatentCodec, out: Path, step: int, elapsed: float) -> None:
    """Checkpoint (weights + optimizer, for resuming) and the current model folder (float16 weights)."""
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return
    ckpt = out / "checkpoints"
    acc.save_state(str(ckpt))
    (ckpt / "state.json").write_text(json.dumps({"step": step, "elapsed_s": elapsed}))
    _save_weights(model, out / "model")


def _save_weights(model: ProjectedLatentCodec, dest: Path) -> None:
    """``dest`` as a model folder of float16 weights, replaced whole (never half-written)."""
    import shutil
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    copy.deepcopy(model).to(torch.float16).save_pretrained(tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.replace(dest)


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in fields(FinetuneConfig):
        default = f.default
        if isinstance(default, tuple):
            parser.add_argument("--" + f.name.replace("_", "-"), nargs="+", type=type(default[0]), default=default)
        elif isinstance(default, bool):
            parser.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument("--" + f.name.replace("_", "-"), type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    cfg = FinetuneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(finetune(cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
