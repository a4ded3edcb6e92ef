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
from semantic.train import FinetuneConfig, validation_crops


def validation_experiment(description: str, argv: list[str] | None, extra: dict | None = None) -> tuple:
    """(the parsed arguments, the codec, the validation photos {name: uint8 (H, W, 3)} of ``diffradio
    train``'s default split) for an experiment on the validation split: ``--model`` (a codec folder,
    default the shipped one), ``--out`` and ``extra`` ({flag: argparse keywords}); torch on one
    thread.  A wrong model path or a missing photo folder ends the experiment with one error line."""
    import torch

    from semantic.codec import CodecLoadError, SemanticCodec
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default=None, help="codec folder (default: the shipped model)")
    p.add_argument("--out", required=True)
    for flag, kw in (extra or {}).items():
        p.add_argument(flag, **kw)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = FinetuneConfig()
    try:
        codec = SemanticCodec.from_pretrained(a.model)
        return a, codec, split_train_val(photos_in_dirs(cfg.photo_dir), cfg.val_every)[1]
    except (CodecLoadError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


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
