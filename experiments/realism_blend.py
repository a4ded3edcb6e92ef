"""Two other ways to buy detail with the diffusion prior, measured against the realism knob on the
validation split: more sampler steps, and a blend of the posterior mean with a posterior sample.

The realism knob (``semantic.posterior``) stops the sampler at (1 - realism) T and returns the x0
prediction there.  The alternative here keeps the posterior mean m (realism 0) and adds a share
``a`` of a full posterior sample's deviation from it, z = m + a (s - m), s = realism 1 at ``--steps``
evaluations: in latent space its expected squared error is (1 + a^2) times the mean's.  Each row
(the knob at ``--realism``, each blend share) is scored by issue 18's criteria
(``prior_validation.criteria``) in its three cells (``prior_validation.ISSUE_CELLS``) against
``direct`` and direct sharpened (unsharp mask) to that row's PSNR, on the validation photos of
``prior_validation`` (central 512 x 512 crops), with the same channel draws as ``semantic.bench``.

Usage: python experiments/realism_blend.py [--codec semantic/weights/default] [--blend 0.3 0.5 0.7 1]
                                           [--realism 0.5] [--steps 10] [--seeds 2] [--note TEXT]
                                           [--out docs/results/realism_blend.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from prior_validation import ISSUE_CELLS, ISSUE_CRITERIA, criteria  # experiments/ (the script's own folder)
from semantic.bench import METRICS, UNSHARP, _cells, _metrics, received, sharpened_to
from semantic.codec import SemanticCodec
from semantic.data import photos_in_dirs, split_train_val
from semantic.posterior import posterior_latents
from semantic.train import validation_crops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codec", default=None, help="codec folder with a diffusion prior (default: the shipped model)")
    p.add_argument("--photo-dir", default="../shared/datasets/photos")
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--blend", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.0])
    p.add_argument("--realism", type=float, default=0.5, help="the knob's row to compare with")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--note", default="", help="which prior this was (written to the file)")
    p.add_argument("--out", default="docs/results/realism_blend.json")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    codec = SemanticCodec.from_pretrained(a.codec)
    if codec.prior is None:
        raise SystemExit(f"error: {a.codec or 'the shipped codec'} has no diffusion prior")
    _, val = split_train_val(photos_in_dirs([a.photo_dir]), a.val_every)
    photos = {n: np.ascontiguousarray(c.permute(1, 2, 0).numpy()) for n, c in zip(val, validation_crops(val))}
    cells = [(ci, c) for ci, c in enumerate(_cells((0.0, 5.0, 10.0), ("awgn",), ("1/24", "1/48")))
             if c[0] in ISSUE_CELLS]
    knob = f"realism {a.realism:g}"
    rows = ["direct", "mean", knob, *(f"blend {b:g}" for b in a.blend)]
    result: dict = {}
    bar = tqdm(total=len(cells) * a.seeds * len(photos), desc="realism blend", mininterval=5.0)
    for ci, (cell, ratio, channel, snr, lost) in cells:
        per_seed: dict = {}
        sent = {name: codec.encode(img, ratio) for name, img in photos.items()}
        for seed in range(a.seeds):
            acc: dict = {}
            for pi, (name, img) in enumerate(photos.items()):
                y, var = received(sent[name], snr, channel, lost, 10_000 * ci + 100 * seed + pi)
                grid = codec.tile_grid(img.shape)
                yt, vt = (codec._stitch(torch.as_tensor(v, dtype=torch.float32), *grid) for v in (y, var))

                def latents(realism: float, steps: int) -> torch.Tensor:
                    return posterior_latents(codec.model, codec.prior, codec.scheduler, yt, vt, steps=steps,
                                             realism=realism, seed=seed)

                mean, sample = latents(0.0, 1), latents(1.0, a.steps)
                images = {"direct": codec.decode(y, var, img.shape, method="direct"),
                          "mean": codec.image_from_latents(mean, img.shape),
                          knob: codec.image_from_latents(latents(a.realism, a.steps), img.shape)}
                images.update({f"blend {b:g}": codec.image_from_latents(mean + b * (sample - mean), img.shape)
                               for b in a.blend})
                for row in rows:
                    acc.setdefault(row, []).append(_metrics(img, images[row]))
                    if row != "direct":
                        sharp = sharpened_to(img, images["direct"], acc[row][-1][0])
                        acc.setdefault(f"{UNSHARP} to {row}", []).append(_metrics(img, sharp))
                bar.update(1)
            for row, vals in acc.items():
                for k, v in zip(METRICS, np.mean(vals, axis=0).tolist()):
                    per_seed.setdefault(row, {}).setdefault(k, []).append(v)
        quality = {row: {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                             "per_seed": v} for k, v in m.items()} for row, m in per_seed.items()}
        result[cell] = {"quality": quality, "criteria": {
            row: criteria({row: quality[row], "direct": quality["direct"], UNSHARP: quality[f"{UNSHARP} to {row}"]},
                          row) for row in rows[1:]}}
    bar.close()
    out = {"note": a.note, "codec": a.codec or "shipped default", "photos": sorted(photos), "val_every": a.val_every,
           "seeds": a.seeds, "steps": a.steps, "rows": rows, "cells": result,
           "criteria_met": {row: sum(result[c]["criteria"][row][k] for c in result for k in ISSUE_CRITERIA)
                            for row in rows[1:]}}
    Path(a.out).write_text(json.dumps(out, indent=1))
    for cell, r in result.items():
        d = r["quality"]["direct"]
        print(cell, f"direct {d['psnr_db']['mean']:.2f} dB hf {d['hf_ratio']['mean']:.3f}")
        for row in rows[1:]:
            q = r["quality"][row]
            print(f"  {row:14s} {q['psnr_db']['mean'] - d['psnr_db']['mean']:+.2f} dB "
                  f"ms-ssim {q['ms_ssim']['mean'] - d['ms_ssim']['mean']:+.4f} hf {q['hf_ratio']['mean']:.3f} "
                  f"gmsd {q['gmsd']['mean']:.4f} (sharpened {r['quality'][f'{UNSHARP} to {row}']['gmsd']['mean']:.4f}) "
                  f"{sum(r['criteria'][row][k] for k in ISSUE_CRITERIA)}/4")
    print("criteria met of", 4 * len(result), out["criteria_met"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
