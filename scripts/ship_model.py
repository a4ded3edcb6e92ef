"""Make a fine-tuned codec the shipped default: its weights as float16 in ``semantic/weights/default``.

Reads a ``diffradio train`` run (``--out-dir``: its ``best_model/`` folder, the weights with the best
validation PSNR, or with ``--latest`` its ``model/``, and ``data_split.json``) and writes
``latent_codec/``, ``codec_config.json`` (default decoder: direct) and the run's ``data_split.json``,
``train_log.jsonl``, ``train_config.jsonl`` and ``train_curve.png`` over the shipped ones; the model
card and the TAEF2 licence notice stay (update the card).  Then remake the captures and the results (README, "Development").

Usage: python scripts/ship_model.py runs/codec-v4 [--latest] [--to DIR]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from semantic.codec import CONFIG_NAME, DEFAULT_WEIGHTS, MODEL_DIR, SemanticCodec
from semantic.latent_codec import ProjectedLatentCodec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="the training run's --out-dir (holds best_model/, model/ and data_split.json)")
    p.add_argument("--latest", action="store_true", help="ship model/ (the last step) instead of best_model/")
    p.add_argument("--to", default=str(DEFAULT_WEIGHTS), help="destination (default: the shipped weights)")
    args = p.parse_args(argv)
    run, dest = Path(args.run), Path(args.to)
    source = run / ("model" if args.latest else "best_model")
    if not source.is_dir():
        print(f"error: {source} does not exist; give the --out-dir of a diffradio train run", file=sys.stderr)
        return 2
    codec = SemanticCodec(ProjectedLatentCodec.from_pretrained(source, torch_dtype=torch.float32))
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        codec.save_pretrained(tmp, dtype=torch.float16)
        shutil.rmtree(dest / MODEL_DIR, ignore_errors=True)
        shutil.move(Path(tmp) / MODEL_DIR, dest / MODEL_DIR)
        shutil.move(Path(tmp) / CONFIG_NAME, dest / CONFIG_NAME)
    shutil.copy(run / "data_split.json", dest / "data_split.json")
    for name in ("train_log.jsonl", "train_config.jsonl", "train_curve.png"):   # the training record travels with the weights
        if (run / name).exists():
            shutil.copy(run / name, dest / name)
    print(f"{source} written to {dest} as float16 (fingerprint {codec.fingerprint():08x})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
