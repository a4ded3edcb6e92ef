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


def read_log(run_dir: Path) -> list[dict]:
    """The validation records of ``run_dir/train_log.jsonl`` in step order (a resumed run's repeated
    steps keep their last record)."""
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give the --out-dir of a diffradio train run")
    records: dict[int, dict] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            records[int(rec["step"])] = rec
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} line {n} is not a training record ({err}); it is not a diffradio train log")
    return [records[k] for k in sorted(records)]


def plot_training_curve(run_dir: Path, out: Path | None = None) -> Path:
    """Write the curve (default ``run_dir/train_curve.png``) and return its path.

    Left: validation PSNR (dB) of every logged cell (bandwidth ratio, AWGN SNR) against step; right:
    the training loss (MSE of images in [0, 1]).  The PNG is written to a temporary name and
    renamed, so a reader never sees half a file.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / PNG_NAME
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    keys = sorted({k for r in records for k in r if k.startswith("val_psnr_")})
    for key in keys:
        axes[0].plot([r["step"] for r in records if key in r], [r[key] for r in records if key in r], marker=".",
                     label=key.removeprefix("val_psnr_").replace("_", " at ").replace("dB", " dB"))
    axes[0].set(title="validation PSNR (latent AWGN)", xlabel="step", ylabel="PSNR (dB)")
    loss = [(r["step"], r["train_mse"]) for r in records if "train_mse" in r]
    if loss:
        axes[1].plot(*zip(*loss), marker=".", color="C2")
        axes[1].set_yscale("log")
    axes[1].set(title="training loss", xlabel="step", ylabel="MSE")
    for ax in axes:
        ax.grid(alpha=0.3)
        if not records:
            ax.text(0.5, 0.5, "no validation records yet", ha="center", va="center", transform=ax.transAxes)
    if keys:
        axes[0].legend(fontsize=8)
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
