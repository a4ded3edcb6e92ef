#!/usr/bin/env python
"""Transmitter-side latent refinement (``SemanticCodec.encode(refine_steps=...)``) against the plain
encoder, through the latent channel (AWGN) and the codec's default decoder.

For each photo (or validation crop) and each refinement setting (steps x Adam step size x target:
``matched`` refines for each cell's own SNR, a transmitter that knows its SNR; ``range`` refines once
for 0-15 dB, one that does not), every SNR cell sends the latents with ``--seeds`` noise seeds and
decodes them; a cell's figure is the mean over photos, reported as mean and standard deviation over
the seeds.  The refinement's CPU seconds per 64x64 tile are measured too.

Usage:
  # choose the setting on the validation crops of the training photos
  python scripts/tx_refinement.py --photo-dir ../shared/datasets/photos --val-crops 8 \
      --steps 30 60 --lr 0.01 0.03 0.1 --out docs/results/tx_refinement_validation.json
  # report on held-out photos (default: the packaged held-out photos)
  python scripts/tx_refinement.py --steps 60 --out docs/results/tx_refinement_heldout.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semantic import SemanticCodec
from semantic.bench import received
from semantic.data import heldout_photos, photos_in_dirs, split_train_val
from semantic.metrics import ms_ssim, psnr
from semantic.train import validation_crops

RANGE_DB = (0.0, 15.0)


def _stats(v: list[float]) -> dict:
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None, "per_seed": v}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photo-dir", action="append", help="photos (repeatable; default: the packaged held-out photos)")
    p.add_argument("--val-crops", type=int, default=0,
                   help="use this many 256x256 validation crops of the --photo-dir photos that training holds out")
    p.add_argument("--model", default=None, help="codec directory or hub id (default: the shipped model)")
    p.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0], help="AWGN cells, dB")
    p.add_argument("--steps", type=int, nargs="+", default=[60], help="refinement steps to compare")
    p.add_argument("--lr", type=float, nargs="+", default=[0.03], help="Adam step sizes to compare")
    p.add_argument("--targets", nargs="+", choices=("matched", "range"), default=["matched", "range"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.val_crops:
        if not a.photo_dir:
            raise SystemExit("--val-crops needs --photo-dir (the training photos whose validation split to crop)")
        _, val = split_train_val(photos_in_dirs(a.photo_dir), 10)
        crops = validation_crops(val, 256, a.val_crops)
        photos = {f"val crop {i}": (c.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                  for i, c in enumerate(crops)}
        source = {"validation photos": sorted(val), "crops": a.val_crops}
    else:
        photos = photos_in_dirs(a.photo_dir) if a.photo_dir else heldout_photos()
        source = {"photos": sorted(photos)}
    codec = SemanticCodec.from_pretrained(a.model)
    settings = [("encoder", 0, 0.0, None)] + [
        (f"refined {st} steps, lr {lr:g}, {tg}", st, lr, tg) for st in a.steps for lr in a.lr for tg in a.targets]
    cells = [f"awgn {s:g} dB" for s in a.snr]
    per_seed = {name: {c: {"psnr_db": [[] for _ in range(a.seeds)], "ms_ssim": [[] for _ in range(a.seeds)]}
                       for c in cells} for name, *_ in settings}
    cpu = {name: [0.0, 0] for name, *_ in settings}
    for pi, (pname, img) in enumerate(photos.items()):
        for name, steps, lr, target in settings:
            sent: dict = {}   # refined once per SNR (matched) or once for all cells (range, plain encoder)
            for ci, (cell, snr) in enumerate(zip(cells, a.snr)):
                key = snr if target == "matched" else "all"
                if key not in sent:
                    t = time.process_time()
                    sent[key] = codec.encode(img, refine_steps=steps, refine_lr=lr,
                                             refine_snr_db=snr if target == "matched" else RANGE_DB)
                    cpu[name][0] += time.process_time() - t
                    cpu[name][1] += sent[key].shape[0]
                for seed in range(a.seeds):
                    y, var = received(sent[key], snr, "awgn", 0.0, 10_000 * ci + 100 * seed + pi)
                    rec = codec.decode(y, var, img.shape, seed=seed)
                    per_seed[name][cell]["psnr_db"][seed].append(psnr(img, rec))
                    per_seed[name][cell]["ms_ssim"][seed].append(ms_ssim(img, rec))
        print(f"{pname}: done", file=sys.stderr, flush=True)
    quality = {name: {c: {m: _stats([float(np.mean(v)) for v in seeds]) for m, seeds in met.items()}
                      for c, met in cs.items()} for name, cs in per_seed.items()}
    base = quality["encoder"]
    for name, cs in quality.items():
        for c, met in cs.items():
            gains = zip(met["psnr_db"]["per_seed"], base[c]["psnr_db"]["per_seed"])
            met["psnr_gain_db"] = _stats([x - b for x, b in gains])
    result = {"how": "python scripts/tx_refinement.py " + " ".join(sys.argv[1:] if argv is None else argv),
              **source, "model": a.model or "shipped default", "decoder": codec.diffusion_method,
              "seeds": a.seeds, "threads": a.threads, "refine_range_db": list(RANGE_DB),
              "encode_cpu_s_per_tile": {n: c / max(k, 1) for n, (c, k) in cpu.items()}, "quality": quality}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    for name, cs in quality.items():
        print(f"{name:40s}" + "".join(f"  {c}: {m['psnr_db']['mean']:.2f} ({m['psnr_gain_db']['mean']:+.2f})"
                                      for c, m in cs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
