"""Write the validation split's crops (every ``--val-every``-th photo, its 512 x 512 centre, as
``diffradio train`` validates on them: ``semantic.train.validation_crops``) as PNGs, for benchmarks
on the validation split (e.g. ``diffradio bench decoder --photo-dir OUT``). Kodak is never read.

    python experiments/validation_crops.py runs/val512 [--photo-dir ../shared/datasets/photos] [--val-every 10]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from semantic.data import photos_in_dirs, split_train_val
from semantic.train import validation_crops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--photo-dir", nargs="+", default=["../shared/datasets/photos"])
    p.add_argument("--val-every", type=int, default=10)
    a = p.parse_args(argv)
    _, val = split_train_val(photos_in_dirs(a.photo_dir), a.val_every)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, crop in zip(val, validation_crops(val)):
        Image.fromarray(crop.permute(1, 2, 0).numpy()).save(out / f"{Path(name).stem}.png")
    print(f"{len(val)} validation crops in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
