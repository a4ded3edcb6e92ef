#!/usr/bin/env python
"""Choose the posterior decoder's ``fusion_scale`` and ``realism`` on the validation split.

The validation photos are those ``diffradio train`` holds out of ``--photo-dir`` (every
``--val-every``-th photo of the sorted folder, ``semantic.data.split_train_val``), never the photos
the benchmark tables report (the package's held-out photos, Kodak). Each is cut to its central
``--crop`` (H W pixels), encoded by the codec, sent through the latent channel of
``diffradio bench decoder`` (``semantic.bench.received``: AWGN and per-symbol Rayleigh fading at
0/5/10 dB — the fading cells give every value its own noise variance, as the receiver's equalised
values have — and the lost-tile cell, a quarter of the tiles lost at 5 dB) with ``--seeds`` noise
seeds, and decoded by the direct decoder and by the posterior decoder at every (fusion_scale,
realism) of the grid.

Rule (issue 9's targets for the diffusion decoder): among the settings that lose no more than
0.2 dB PSNR to direct in any fully received cell and no more than 0.3 dB in the lost-tile cell,
those whose MS-SSIM gain over direct at 0 dB is within one seed-to-seed standard deviation of the
largest count as equal; of them, take the one with the largest PSNR gain averaged over the fully
received cells.

Usage: python scripts/tune_decoder.py --photo-dir ../shared/datasets/photos [--model default]
           [--fusion-scale 3 10 30] [--realism 0 0.5 1] [--seeds 3] [--steps 10]
           [--out docs/results/decoder_tuning.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from semantic.bench import LOST_SHARE, LOST_SNR_DB, received  # noqa: E402
from semantic.codec import SemanticCodec  # noqa: E402
from semantic.data import centre_crop, photos_in_dirs, split_train_val  # noqa: E402
from semantic.metrics import ms_ssim, psnr  # noqa: E402

CELLS = [(f"{ch} {snr:g} dB", ch, snr, 0.0) for ch in ("awgn", "rayleigh") for snr in (0.0, 5.0, 10.0)] + [
    (f"lost {LOST_SHARE:.0%} tiles, awgn {LOST_SNR_DB:g} dB", "awgn", LOST_SNR_DB, LOST_SHARE)]
MAX_PSNR_LOSS_DB = {"received": 0.2, "lost": 0.3}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo-dir", required=True, help="the training photo folder (its validation split is used)")
    p.add_argument("--val-every", type=int, default=10, help="validation split as in diffradio train (default 10)")
    p.add_argument("--crop", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    p.add_argument("--model", default=None, help="codec directory (default: the shipped one)")
    p.add_argument("--fusion-scale", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    p.add_argument("--realism", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", default="docs/results/decoder_tuning.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.process_time()

    _, val = split_train_val(photos_in_dirs([args.photo_dir]), args.val_every)
    codec = SemanticCodec.from_pretrained(args.model)
    shipped = (codec.fusion_scale, codec.realism)
    crops = {name: centre_crop(img, *args.crop) for name, img in val.items()}
    latents = {name: codec.encode(img) for name, img in crops.items()}
    settings = [("direct", None, None)] + [("posterior", f, r) for f, r in itertools.product(args.fusion_scale,
                                                                                            args.realism)]
    # scores[setting][cell] = per-seed (mean PSNR, mean MS-SSIM) over the photos
    scores: dict[str, dict[str, list]] = {}
    for (cell, channel, snr, lost), seed in itertools.product(CELLS, range(args.seeds)):
        rx = {name: received(z, snr, channel, lost, seed) for name, z in latents.items()}
        for method, fusion, realism in settings:
            label = "direct" if method == "direct" else f"fusion {fusion:g}, realism {realism:g}"
            if fusion is not None:
                codec.fusion_scale = fusion
            vals = []
            for name, img in crops.items():
                out = codec.decode(*rx[name], img.shape, method=method, steps=args.steps, seed=seed,
                                   realism=realism)
                vals.append((psnr(img, out), ms_ssim(img, out)))
            scores.setdefault(label, {}).setdefault(cell, []).append(np.mean(vals, axis=0).tolist())
        print(f"{cell}  seed {seed}  done ({time.process_time() - t0:.0f} s CPU)", flush=True)

    def summary(label: str) -> dict:
        out = {}
        for cell, _, _, lost in CELLS:
            mine, ref = np.array(scores[label][cell]), np.array(scores["direct"][cell])
            d = mine - ref
            std = d.std(axis=0, ddof=1) if len(d) > 1 else np.zeros(2)   # one seed: no spread to count
            out[cell] = {"psnr_db": float(mine[:, 0].mean()), "ms_ssim": float(mine[:, 1].mean()),
                         "psnr_gain_db": float(d[:, 0].mean()), "psnr_gain_std": float(std[0]),
                         "ms_ssim_gain": float(d[:, 1].mean()), "ms_ssim_gain_std": float(std[1])}
        return out

    table = {label: summary(label) for label in scores}

    def allowed(label: str) -> bool:
        return all(table[label][cell]["psnr_gain_db"] >= -MAX_PSNR_LOSS_DB["lost" if lost else "received"]
                   for cell, _, _, lost in CELLS)

    candidates = [label for label in table if label != "direct" and allowed(label)]
    first = CELLS[0][0]
    chosen = None
    if candidates:
        best = max(candidates, key=lambda k: table[k][first]["ms_ssim_gain"])
        floor = table[best][first]["ms_ssim_gain"] - table[best][first]["ms_ssim_gain_std"]
        equal = [k for k in candidates if table[k][first]["ms_ssim_gain"] >= floor]
        chosen = max(equal, key=lambda k: np.mean([table[k][cell]["psnr_gain_db"]
                                                   for cell, _, _, lost in CELLS if not lost]))
    result = {"how": "python scripts/tune_decoder.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "validation_photos": list(val), "crop": args.crop, "seeds": args.seeds, "steps": args.steps,
              "model": args.model or "shipped default", "shipped_setting": {"fusion_scale": shipped[0],
                                                                          "realism": shipped[1]},
              "rule": " ".join(__doc__.split("Rule (issue 9's targets for the diffusion decoder): ")[1]
                               .split("Usage")[0].split()),
              "chosen": chosen, "cpu_s": round(time.process_time() - t0, 1), "settings": table}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for label, cells in table.items():
        print(f"{label:28s} " + "  ".join(f"{c['psnr_gain_db']:+.2f} dB {c['ms_ssim_gain']:+.3f}"
                                          for c in cells.values()))
    print(f"chosen: {chosen}  (written to {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
