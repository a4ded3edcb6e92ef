"""Model selection on the validation split: ``semantic.train.validate`` on candidate codec folders.

Each candidate is a model folder of :class:`semantic.latent_codec.ProjectedLatentCodec` (a training
run's ``model/``, ``best_model/`` or ``initial_model/``, or a shipped ``latent_codec/``); a run's
``train_config.jsonl`` (its options at every start and resume), when present, is copied beside it.
All are measured on the same validation photos (every ``--val-every``-th photo of ``--photo-dir``,
as ``diffradio train`` splits them; 512 x 512 centre crops encoded whole), in the cells of ``semantic.train.VAL_CELLS``
(latent AWGN, fixed noise seed), and the one with the best mean PSNR over the cells is chosen.
Kodak is never read here.

Usage: python experiments/model_selection.py NAME=FOLDER [NAME=FOLDER ...]
                                             [--photo-dir ../shared/datasets/photos] [--val-every 10]
                                             [--note TEXT] [--out docs/results/model_selection_validation.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semantic.data import photos_in_dirs, split_train_val
from semantic.latent_codec import ProjectedLatentCodec
from semantic.train import validate, validation_crops


def named_folders(candidates: list[str], holding: str = "") -> list[tuple[str, str]] | None:
    """NAME=FOLDER arguments as (name, folder) pairs, each folder existing (and holding the sub-folder
    ``holding`` when given); None after one error line on stderr when one is not."""
    named = [tuple(c.split("=", 1)) for c in candidates]
    for item in named:
        if len(item) != 2 or not (Path(item[1]) / holding).is_dir():
            print(f"error: {'='.join(item)!r} is not NAME=FOLDER with an existing folder"
                  + (f" holding {holding}/" if holding else ""), file=sys.stderr)
            return None
    return named


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidates", nargs="+", help="NAME=FOLDER, a ProjectedLatentCodec model folder")
    p.add_argument("--photo-dir", default="../shared/datasets/photos")
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--note", default="", help="how the candidates were made (written to the file)")
    p.add_argument("--out", default="docs/results/model_selection_validation.json")
    args = p.parse_args(argv)
    named = named_folders(args.candidates)
    if named is None:
        return 2
    _, val_set = split_train_val(photos_in_dirs([args.photo_dir]), args.val_every)
    t0 = time.process_time()
    results, val = {}, validation_crops(val_set)
    for name, folder in named:
        model = ProjectedLatentCodec.from_pretrained(folder, torch_dtype=torch.float32).eval()
        cells = validate(model, val)   # each candidate encodes with its own encoder
        results[name] = {"folder": folder, **cells, "mean": float(np.mean(list(cells.values())))}
        record = Path(folder).parent / "train_config.jsonl"   # how a diffradio train run was made
        if record.exists():
            results[name]["train_config"] = [json.loads(line) for line in record.read_text().splitlines() if line]
        print(name, {k: round(v, 2) for k, v in cells.items()}, flush=True)
    chosen = max(results, key=lambda n: results[n]["mean"])
    out = {"what": "Validation-split PSNR (dB) of candidate codec models; the chosen one has the best mean "
                   "over the cells",
           "how": "python experiments/model_selection.py " + " ".join(args.candidates),
           "note": args.note, "val_photos": sorted(val_set), "crop": "512x512 centre, encoded whole",
           "channel": "latent AWGN, noise seed 1234", "cpu_s": round(time.process_time() - t0, 1),
           "chosen": chosen, "candidates": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"chosen: {chosen}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
