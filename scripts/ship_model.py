"""Make a fine-tuned codec the shipped default: its weights as float16 in ``semantic/weights/default``.

Reads a ``diffradio train`` run (``--out-dir``: its ``best_model/`` folder, the weights with the best
validation PSNR, or with ``--latest`` its ``model/``, and ``data_split.json``) and writes
``latent_codec/``, ``codec_config.json`` (default decoder: direct) and the run's ``data_split.json``,
``train_log.jsonl``, ``train_config.jsonl`` and ``train_curve.png`` over the shipped ones; the model
card and the TAEF2 licence notice stay (update the card); a shipped diffusion prior is removed (it
learnt the old codec's latents).  Then remake the captures and the results (README, "Development").

``--prior OUT`` (a ``python -m semantic.prior_train --out OUT`` folder, trained on the destination
codec: checked by the codec fingerprint its latent cache was made with) adds that run's
``best_prior/`` (the lowest validation objective of ``semantic.prior_train``; with ``--latest`` its
last ``prior/``) as ``prior/``, its ``scheduler/`` and ``prior_log.jsonl``, with ``--realism`` as the
diffusion decoder's default realism; the codec run may then be left out (the shipped codec stays).

Usage: python scripts/ship_model.py runs/codec-v4 [--latest] [--to DIR]
       python scripts/ship_model.py --prior runs/cprior --realism 0.5 [--latest]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from semantic.codec import CONFIG_NAME, DEFAULT_WEIGHTS, MODEL_DIR, PRIOR_DIR, SCHEDULER_DIR, SemanticCodec
from semantic.latent_codec import ProjectedLatentCodec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?",
                   help="the training run's --out-dir (holds best_model/, model/ and data_split.json)")
    p.add_argument("--latest", action="store_true",
                   help="ship model/ (the last step) instead of best_model/, and with --prior prior/ instead of best_prior/")
    p.add_argument("--to", default=str(DEFAULT_WEIGHTS), help="destination (default: the shipped weights)")
    p.add_argument("--prior", default=None, help="a semantic.prior_train --out folder to ship with the codec")
    p.add_argument("--realism", type=float, default=1.0, help="with --prior: the default realism, 0..1 (default 1)")
    args = p.parse_args(argv)
    if args.run is None and args.prior is None:
        p.error("give a training run, --prior, or both")
    if args.run is not None and (code := _ship_codec(Path(args.run), Path(args.to), args.latest)):
        return code
    return _ship_prior(Path(args.prior), Path(args.to), args.realism, args.latest) if args.prior else 0


def _ship_codec(run: Path, dest: Path, latest: bool) -> int:
    source = run / ("model" if latest else "best_model")
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
    for name in (PRIOR_DIR, SCHEDULER_DIR):      # a prior learnt another codec's latents: it goes (--prior adds one)
        shutil.rmtree(dest / name, ignore_errors=True)
    (dest / "prior_log.jsonl").unlink(missing_ok=True)
    shutil.copy(run / "data_split.json", dest / "data_split.json")
    for name in ("train_log.jsonl", "train_config.jsonl", "train_curve.png"):   # the training record travels with the weights
        if (run / name).exists():
            shutil.copy(run / name, dest / name)
    print(f"{source} written to {dest} as float16 (fingerprint {codec.fingerprint():08x})")
    return 0


def _ship_prior(run: Path, dest: Path, realism: float, latest: bool) -> int:
    from diffusers import DDPMScheduler, UNet2DModel
    source = run / ("prior" if latest else "best_prior")
    if not source.is_dir() or not (run / "latent_cache.pt").is_file():
        print(f"error: {run} holds no {source.name}/ and latent_cache.pt; give the --out of a semantic.prior_train run",
              file=sys.stderr)
        return 2
    if not 0.0 <= realism <= 1.0:
        print(f"error: --realism {realism:g} is outside 0..1", file=sys.stderr)
        return 2
    codec = SemanticCodec.from_pretrained(dest)
    trained_on = json.loads(torch.load(run / "latent_cache.pt", weights_only=True)["key"]).get("encoder")
    if trained_on != f"{codec.fingerprint():08x}":
        print(f"error: the prior in {run} learnt the latents of codec {trained_on}, not {dest}'s "
              f"({codec.fingerprint():08x}); train it with --codec {dest}", file=sys.stderr)
        return 2
    with_prior = SemanticCodec(codec.model, codec.default_method,
                               prior=UNet2DModel.from_pretrained(source, torch_dtype=torch.float32),
                               scheduler=DDPMScheduler.from_pretrained(run / "scheduler"), default_realism=realism)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        with_prior.save_pretrained(tmp, dtype=torch.float16)
        for name in (PRIOR_DIR, SCHEDULER_DIR):
            shutil.rmtree(dest / name, ignore_errors=True)
            shutil.move(Path(tmp) / name, dest / name)
        shutil.move(Path(tmp) / CONFIG_NAME, dest / CONFIG_NAME)
    shutil.copy(run / "prior_log.jsonl", dest / "prior_log.jsonl")
    print(f"{source} written to {dest / PRIOR_DIR} as float16 (default realism {realism:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
