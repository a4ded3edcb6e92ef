"""Figures of a sweep: metric vs SNR per channel and decoder, and an image grid."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = (("psnr_db", "PSNR (dB)"), ("ms_ssim", "MS-SSIM"), ("vif", "VIF (perceptual)"))


def _mean_table(csv_path: Path) -> dict:
    """{(channel, decoder): {metric: {snr: mean}}} over images and seeds."""
    acc: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    with csv_path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for metric, _ in METRICS:
                if row.get(metric) not in (None, ""):
                    acc[(row["channel"], row["decoder"])][metric][float(row["snr_db"])].append(float(row[metric]))
    return {k: {m: {s: float(np.mean(v)) for s, v in sorted(d.items())} for m, d in md.items()}
            for k, md in acc.items()}


def plot_sweep(csv_path: Path, out: Path) -> list[Path]:
    """Write ``sweep_metrics.png`` (one row per channel, one column per metric) and ``sweep_grid.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _mean_table(Path(csv_path))
    if not table:
        return []
    channels = sorted({c for c, _ in table})
    fig, axes = plt.subplots(len(channels), len(METRICS), figsize=(4.2 * len(METRICS), 3.2 * len(channels)),
                             squeeze=False)
    for r, channel in enumerate(channels):
        for c, (metric, label) in enumerate(METRICS):
            ax = axes[r][c]
            for (ch, decoder), metrics in sorted(table.items()):
                if ch != channel or metric not in metrics:
                    continue
                snrs, vals = zip(*metrics[metric].items())
                ax.plot(snrs, vals, marker="o", label=decoder)
            ax.set_xlabel("in-band SNR (dB)")
            ax.set_ylabel(label)
            ax.set_title(channel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    paths = [Path(out) / "sweep_metrics.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    grid = _plot_grid(Path(out) / "images", Path(out) / "sweep_grid.png")
    return paths + ([grid] if grid else [])


def _plot_grid(images_dir: Path, path: Path) -> Path | None:
    """Rows: decoder; columns: the reference, then SNR; for the first image, channel and seed found in
    ``images_dir`` (references in ``images_dir/reference``)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    files = sorted(images_dir.glob("*.png")) if images_dir.is_dir() else []
    if not files:
        return None
    parsed = [(f, f.stem.split("_")) for f in files]
    image, channel, seed = parsed[0][1][0], parsed[0][1][1], parsed[0][1][4]
    cells = {(p[3], float(p[2])): f for f, p in parsed if p[0] == image and p[1] == channel and p[4] == seed}
    decoders = sorted({d for d, _ in cells})
    snrs = sorted({s for _, s in cells})
    reference = images_dir / "reference" / f"{image}.png"
    fig, axes = plt.subplots(len(decoders), len(snrs) + 1, figsize=(2.2 * (len(snrs) + 1), 2.3 * len(decoders)),
                             squeeze=False)
    for r, d in enumerate(decoders):
        axes[r][0].axis("off")
        if r == 0 and reference.exists():
            axes[r][0].imshow(Image.open(reference))
            axes[r][0].set_title("reference", fontsize=8)
        for c, s in enumerate(snrs, start=1):
            ax = axes[r][c]
            ax.axis("off")
            if (d, s) in cells:
                ax.imshow(Image.open(cells[(d, s)]))
            ax.set_title(f"{d} {s:g} dB", fontsize=8)
    fig.suptitle(f"{image}, {channel}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
