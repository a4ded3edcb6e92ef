#!/usr/bin/env python
"""Training speed per precision: seconds per step of both stages of ``diffradio train``, side by side.

Each precision (``--mixed-precision``: accelerate keeps one per process) trains the default model
sizes on the packaged photos for ``--steps`` steps per stage in its own ``diffradio train``
process, with checkpoints and validation pushed past the end; the figure is the stage's own wall
time over its steps (``progress.json``; the first steps, which set up the kernels, included).
Run it on an otherwise idle machine.

Usage: python scripts/train_speed.py [--steps 60] [--threads 2] [--precision no bf16]
           [--out docs/results/train_speed.json]
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path


def seconds_per_step(out_dir: Path, stage: str) -> float:
    """Wall seconds per step of a finished stage, from its checkpoint's ``progress.json``."""
    prog = json.loads((out_dir / "checkpoints" / stage / "progress.json").read_text())
    return prog["elapsed_s"] / prog["step"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60, help="steps per stage (default 60)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], help="--mixed-precision values to compare")
    p.add_argument("--out", default="docs/results/train_speed.json")
    args = p.parse_args(argv)
    from semantic.train import cpu_description
    res: dict = {"command": "python scripts/train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "machine": platform.processor() or platform.machine(), "cpu": cpu_description(),
                 "threads": args.threads,
                 "steps": args.steps, "s_per_step": {}}
    for precision in args.precision:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "diffradio.cli", "train", "--out-dir", tmp,
                            "--jscc-steps", str(args.steps), "--prior-steps", str(args.steps),
                            "--ckpt-every", str(10 * args.steps), "--val-steps", str(10 * args.steps),
                            "--threads", str(args.threads), "--mixed-precision", precision],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            res["s_per_step"][precision] = {s: round(seconds_per_step(Path(tmp), s), 4) for s in ("jscc", "prior")}
        print(precision, res["s_per_step"][precision], flush=True)
    base = res["s_per_step"][args.precision[0]]
    res["speedup"] = {pr: {s: round(base[s] / v, 2) for s, v in sp.items()} for pr, sp in res["s_per_step"].items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res["speedup"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
