"""The training curve of a ``diffradio train`` run: validation figures against step, from its
``train_log.jsonl``, as a PNG next to it.

Usage: python -m semantic.training_curve RUN_DIR [--out PNG]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

LOG_NAME = "train_log.jsonl"
PNG_NAME = "train_curve.png"


def read_log(run_dir: Path) -> dict[str, list[dict]]:
    """The validation records of ``run_dir/train_log.jsonl`` by stage: {'jscc': [...], 'prior': [...]}
    in step order (a resumed run's repeated steps keep their last record)."""
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give the --out-dir of a diffradio train run")
    stages: dict[str, dict[int, dict]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            stages.setdefault(rec["stage"], {})[int(rec["step"])] = rec
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} line {n} is not a training record ({err}); it is not a diffradio train log")
    return {s: [recs[k] for k in sorted(recs)] for s, recs in stages.items()}


def plot_training_curve(run_dir: Path, out: Path | None = None) -> Path:
    """Write the curve (default ``run_dir/train_curve.png``) and return its path.

    Left: the JSCC's validation PSNR (dB) at 0 and 10 dB AWGN against step; right: the prior's
    validation diffusion loss against step.  The PNG is written to a temporary name and renamed, so
    a reader never sees half a file.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = read_log(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / PNG_NAME
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    jscc = stages.get("jscc", [])
    for key, label in (("val_psnr_0db", "0 dB AWGN"), ("val_psnr_10db", "10 dB AWGN")):
        pts = [(r["step"], r[key]) for r in jscc if key in r]
        if pts:
            axes[0].plot(*zip(*pts), marker=".", label=label)
    axes[0].set(title="JSCC: validation PSNR", xlabel="step", ylabel="PSNR (dB)")
    axes[0].ticklabel_format(axis="y", useOffset=False)
    prior = [(r["step"], r["val_diffusion_loss"]) for r in stages.get("prior", []) if "val_diffusion_loss" in r]
    if prior:
        axes[1].plot(*zip(*prior), marker=".", color="C2")
    axes[1].set(title="prior: validation diffusion loss", xlabel="step", ylabel="loss")
    for ax, recs in ((axes[0], jscc), (axes[1], stages.get("prior", []))):
        ax.grid(alpha=0.3)
        if not recs:
            ax.text(0.5, 0.5, "no validation records yet", ha="center", va="center", transform=ax.transAxes)
    if jscc:
        axes[0].legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Plot a diffradio train run's validation curve.")
    p.add_argument("run_dir", help="the run's --out-dir (holds train_log.jsonl)")
    p.add_argument("--out", help=f"PNG to write (default RUN_DIR/{PNG_NAME})")
    args = p.parse_args(argv)
    try:
        print(plot_training_curve(Path(args.run_dir), args.out))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
