"""Figures of a sweep (metric vs SNR per channel and decoder with intervals, an image grid) and of a broadcast."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = (("psnr_db", "PSNR (dB)"), ("ms_ssim", "MS-SSIM"))
STYLE = {"diffusion": dict(color="C0", marker="o"), "direct": dict(color="C1", marker="s"),
         "direct-refined": dict(color="C1", marker="D", ls="--"),
         "digital": dict(color="C3", marker="^"), "digital-oracle": dict(color="C3", marker="v", ls="--"),
         "capacity": dict(color="k", marker="x", ls=":")}
LABEL = {"direct-refined": "direct, refined for the SNR", "digital": "digital (calibrated MCS)",
         "digital-oracle": "digital (oracle MCS)", "capacity": "source codec at capacity"}


def _summary_table(summary_csv: Path) -> dict:
    """{(channel, decoder): {metric: (snrs, means, lows, highs)}} from ``sweep_summary.csv``."""
    acc: dict = defaultdict(lambda: defaultdict(list))
    with Path(summary_csv).open(newline="") as fh:
        for row in csv.DictReader(fh):
            for metric, _ in METRICS:
                if row.get(f"{metric}_mean") not in (None, ""):
                    stats = tuple(float(row[f"{metric}_{s}"]) for s in ("mean", "ci_lo", "ci_hi"))
                    acc[(row["channel"], row["decoder"])][metric].append(stats + (float(row["snr_db"]),))
    return {k: {m: tuple(np.array(v) for v in zip(*sorted(rows, key=lambda r: r[3])))
                for m, rows in md.items()} for k, md in acc.items()}


def plot_sweep(summary_csv: Path, out: Path) -> list[Path]:
    """Write ``sweep_metrics.png`` (one row per channel, one column per metric; mean over images and
    seeds with its 95 % interval shaded) and ``sweep_grid.jpg``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _summary_table(Path(summary_csv))
    if not table:
        return []
    channels = sorted({c for c, _ in table})
    fig, axes = plt.subplots(len(channels), len(METRICS), figsize=(5.0 * len(METRICS), 3.6 * len(channels)),
                             squeeze=False)
    for r, channel in enumerate(channels):
        for c, (metric, label) in enumerate(METRICS):
            ax = axes[r][c]
            for decoder in [d for d in STYLE if (channel, d) in table] + sorted(
                    d for ch, d in table if ch == channel and d not in STYLE):
                if metric not in table[(channel, decoder)]:
                    continue
                mean, lo, hi, snr = table[(channel, decoder)][metric]
                style = STYLE.get(decoder, {})
                ax.plot(snr, mean, label=LABEL.get(decoder, decoder), **style)
                ax.fill_between(snr, lo, hi, color=style.get("color"), alpha=0.15, lw=0)
            ax.set_xlabel("in-band SNR (dB)")
            ax.set_ylabel(label)
            ax.set_title(channel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    paths = [Path(out) / "sweep_metrics.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    grid = _plot_grid(Path(out) / "images", Path(out) / "sweep_grid.jpg")
    return paths + ([grid] if grid else [])


def plot_broadcast(result: dict, reference: Path, path: Path) -> Path:
    """The broadcast figure: the sent image, then one column per receiver with the semantic row on
    top and the digital row below (PSNR in each title), and PSNR against SNR on the right.

    ``result`` is ``diffradio broadcast --json``'s object (its ``out`` paths are read back).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    receivers = result["receivers"]
    n = len(receivers)
    fig = plt.figure(figsize=(2.1 * (n + 1) + 4.2, 4.6))
    grid = fig.add_gridspec(2, n + 2, width_ratios=[1] * (n + 1) + [2.2])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(Image.open(reference))
    ax.set_title("sent", fontsize=8)
    ax.axis("off")
    fig.add_subplot(grid[1, 0]).axis("off")
    for c, rx in enumerate(receivers, start=1):
        for r, scheme in enumerate(("semantic", "digital")):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(Image.open(rx[scheme]["out"]))
            lost = rx[scheme]["frames_lost"]
            ax.set_title(f"{scheme} {rx['snr_db']:g} dB\n{rx[scheme]['psnr_db']:.1f} dB"
                         + (f", {lost} lost" if lost else ""), fontsize=7)
            ax.axis("off")
    ax = fig.add_subplot(grid[:, n + 1])
    snr = [rx["snr_db"] for rx in receivers]
    ax.plot(snr, [rx["semantic"]["psnr_db"] for rx in receivers], "o-", color="C0", label=f"semantic ({result.get('semantic_decoder', 'direct')})")
    ax.plot(snr, [rx["digital"]["psnr_db"] for rx in receivers], "^-", color="C3",
            label=f"digital ({result['source_codec'].upper()}, {result['digital_mcs']})")
    ax.axvline(result["digital_target_snr_db"], color="C3", ls=":", lw=1, label="digital target SNR")
    ax.set_xlabel("receiver in-band SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"one transmission, {result['channel']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


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
    fig.savefig(path, dpi=110, pil_kwargs={"quality": 85})
    plt.close(fig)
    return path
