"""Make a trained codec the shipped default: its weights as float16 in ``semantic/weights/default``
with the decoder setting chosen on the validation split.

Reads the trained directory (``diffradio train --out-dir``), takes ``fusion_scale`` and ``realism``
from the tuning result (``scripts/tune_decoder.py``'s ``chosen``) and writes jscc/, prior/,
scheduler/, codec_config.json and the training run's data_split.json (if it has one; else none)
over the shipped ones (the model card stays; update it). Then remake the captures and the results
(README, "Development").

Usage: python scripts/ship_model.py checkpoints/codec-v2 --tuning docs/results/decoder_tuning.json
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from semantic.codec import DEFAULT_WEIGHTS, SemanticCodec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="trained codec directory")
    p.add_argument("--tuning", required=True, help="tune_decoder.py result JSON whose 'chosen' setting to ship")
    p.add_argument("--to", default=str(DEFAULT_WEIGHTS), help="destination (default: the shipped weights)")
    args = p.parse_args(argv)
    tuning = json.loads(Path(args.tuning).read_text())
    if Path(tuning["model"]).resolve() != Path(args.model).resolve():
        raise SystemExit(f"{args.tuning} tuned {tuning['model']!r}, not {args.model!r}; tune this model first")
    chosen = re.fullmatch(r"fusion ([\d.]+), realism ([\d.]+)", tuning["chosen"] or "")
    if chosen is None:
        raise SystemExit(f"{args.tuning} chose no posterior setting ({tuning['chosen']!r}); nothing to ship")
    codec = SemanticCodec.from_pretrained(args.model)
    codec.fusion_scale, codec.realism = float(chosen[1]), float(chosen[2])
    dest = Path(args.to)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        codec.save_pretrained(tmp, dtype=torch.float16)
        for sub in ("jscc", "prior", "scheduler"):
            shutil.rmtree(dest / sub, ignore_errors=True)
            shutil.move(Path(tmp) / sub, dest / sub)
        shutil.move(Path(tmp) / "codec_config.json", dest / "codec_config.json")
    split = Path(args.model) / "data_split.json"     # the training list travels with the weights:
    if split.exists():                                  # none (trained on the packaged photos) = no stale one
        shutil.copy(split, dest / "data_split.json")
    else:
        (dest / "data_split.json").unlink(missing_ok=True)
    print(f"{args.model} (fusion {codec.fusion_scale:g}, realism {codec.realism:g}) written to {dest} as float16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
