#!/usr/bin/env python
"""Validation PSNR of codecs on the training script's fixed validation batch (no diffusion, direct decoder).

The batch is ``semantic.train.validation_crops`` of the photos that ``diffradio train`` holds out
(every ``--val-every``-th photo of the sorted folder), the figure ``semantic.train.validation_psnr``:
the numbers in ``OUT/train_log.jsonl`` of a training run, here for any codec, so that a model in
training can be compared with the shipped one on the same crops and noise.

Usage: python scripts/validation_psnr.py --photo-dir ../shared/datasets/photos [--crop 128]
           [--model default] [--model checkpoints/codec-v2] [--out docs/results/validation_psnr.json]
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
    p.add_argument("--model", action="append", default=None, help="'default', a codec or a training directory")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    _, val = split_train_val(photos_in_dirs(a.photo_dir), a.val_every)
    crops = validation_crops(val, a.crop, 32)
    result = {"val_photos": sorted(val), "crop": a.crop, "n_crops": 32, "models": {}}
    for model in a.model or ["default"]:
        jscc = load_jscc(model)
        result["models"][model] = {"class": type(jscc).__name__, **validation_psnr(jscc, crops)}
        if (Path(model) / "checkpoints" / "jscc" / "progress.json").exists():
            result["models"][model]["step"] = json.loads((Path(model) / "checkpoints/jscc/progress.json").read_text())["step"]
        print(model, json.dumps(result["models"][model]))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
