#!/usr/bin/env python
"""Validation PSNR of codecs on the training script's fixed validation batch (no diffusion, direct decoder).

The batch is ``semantic.train.validation_crops`` of the photos that ``diffradio train`` holds out
(every ``--val-every``-th photo of the sorted folder), the figure ``semantic.train.validation_psnr``:
the numbers in ``OUT/train_log.jsonl`` of a training run, here for any codec, so that a model in
training can be compared with the shipped one on the same crops and noise.  ``--split train val``
measures the training photos' crops beside them (same seed and noise): the generalisation gap.

Usage: python scripts/validation_psnr.py --photo-dir ../shared/datasets/photos [--crop 128]
           [--n-crops 32] [--split val] [--model default] [--model checkpoints/codec-v2]
           [--out docs/results/validation_psnr.json]
A training directory whose JSCC stage has not finished is read from its checkpoint.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from semantic.data import photos_in_dirs, split_train_val  # noqa: E402
from semantic.jscc import GdnJSCC  # noqa: E402
from semantic.train import TrainConfig, validation_crops, validation_psnr  # noqa: E402


def load_jscc(model: str):
    """The JSCC of ``model``: 'default' (shipped), a codec directory, or a training directory
    (its finished ``jscc/`` or, failing that, the checkpoint of its JSCC stage)."""
    if model == "default":
        from semantic import SemanticCodec
        return SemanticCodec.from_pretrained().jscc
    path = Path(model)
    if (path / "jscc").is_dir():
        from semantic import SemanticCodec
        return SemanticCodec.from_pretrained(path).jscc if (path / "prior").is_dir() else GdnJSCC.from_pretrained(path / "jscc")
    ckpt = path / "checkpoints" / "jscc" / "model.safetensors"
    if not ckpt.exists():
        raise SystemExit(f"no codec, training directory or JSCC checkpoint at {model!r}")
    from safetensors.torch import load_file
    cfg = TrainConfig()
    jscc = GdnJSCC(tile=cfg.tile, latent_channels=cfg.latent_channels, downsample=cfg.downsample, hidden=cfg.hidden)
    jscc.load_state_dict(load_file(str(ckpt)))
    return jscc.eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo-dir", action="append", required=True)
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--n-crops", type=int, default=32, help="crops per split (default 32, as in training)")
    p.add_argument("--split", nargs="+", choices=("val", "train"), default=["val"],
                   help="whose crops: the held-out photos (val, default), the training photos (train)")
    p.add_argument("--model", action="append", default=None, help="'default', a codec or a training directory")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    train, val = split_train_val(photos_in_dirs(a.photo_dir), a.val_every)
    result = {"how": "python scripts/validation_psnr.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "crop": a.crop, "n_crops": a.n_crops, "splits": {}}
    jsccs = {model: load_jscc(model) for model in a.model or ["default"]}
    for split in a.split:
        photos = {"val": val, "train": train}[split]
        if not photos:
            raise SystemExit(f"no {split} photos in {a.photo_dir} with --val-every {a.val_every}: "
                             "give more photos or a --val-every of 2 or more")
        crops = validation_crops(photos, a.crop, a.n_crops)
        models = {}
        for model, jscc in jsccs.items():
            psnr = {k.removeprefix("val_"): v for k, v in validation_psnr(jscc, crops).items()}
            models[model] = {"class": type(jscc).__name__, **psnr}
            if (Path(model) / "checkpoints" / "jscc" / "progress.json").exists():
                models[model]["step"] = json.loads((Path(model) / "checkpoints/jscc/progress.json").read_text())["step"]
            print(split, model, json.dumps(models[model]))
        result["splits"][split] = {"photos": sorted(photos), "models": models}
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
