"""Decoder benchmark on the held-out photos through the simulated latent channel (no PHY).

For each held-out photo (``semantic.data.HELDOUT_PHOTOS``), channel (AWGN, Rayleigh-like
heteroscedastic, see ``semantic.latent_channel``) and SNR (0, 5, 10, 15 dB per real latent value),
the photo is encoded once, sent through y = z + n with a fixed seed, and decoded by the direct,
SNR-matched and posterior decoders (``steps`` solver steps).  Reported per decoder/channel/SNR: PSNR
(dB), MS-SSIM and VIF averaged over the photos.  Decode time per 64x64 tile is measured on a single
tile (``torch.get_num_threads()`` threads) for several step counts, and also
amortised over a whole photo (all tiles batched); single-tile times are the minimum over repeats
(the least disturbed by other processes on a shared CPU).  Writes ``results.json``, ``grid.png``
(reference, direct and diffusion at each SNR, both channels) and ``metrics.png``/``timing.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from semantic.codec import SemanticCodec
from semantic.data import heldout_photos
from semantic.latent_channel import CHANNELS, noise_variance, transmit
from semantic.metrics import all_metrics

SNRS_DB = (0.0, 5.0, 10.0, 15.0)
DECODERS = ("direct", "snr-matched", "posterior")


def _received(codec: SemanticCodec, z: np.ndarray, snr_db: float, channel: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    var = noise_variance(z.shape, snr_db, channel, g)
    return transmit(torch.from_numpy(z), var, g).numpy(), var.numpy()


def _time_decode(codec, method, steps, repeats) -> float:
    img = np.full((codec.tile, codec.tile, 3), 128, np.uint8)
    z = codec.encode(img)
    var = np.full_like(z, 10 ** -0.5)
    codec.decode(z, var, img.shape, method=method, steps=steps)  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        codec.decode(z, var, img.shape, method=method, steps=steps)
        ts.append(time.perf_counter() - t)
    return float(min(ts))


def run_decoder_bench(out_dir: str | Path, quick: bool = False, weights: str | Path | None = None,
                      steps: int = 10, seed: int = 0) -> dict:
    """Run the benchmark, print a table, write files to ``out_dir``; returns a JSON-able dict.

    Args:
        out_dir: output folder (created).
        quick: 128x128 centre crops of the photos and fewer timing repeats (about a minute).
        weights: codec directory / hub id (None: shipped default).
        steps: diffusion steps for the quality sweep.
        seed: channel-noise and sampler seed.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codec = SemanticCodec.from_pretrained(weights)
    photos = heldout_photos()
    if quick:
        photos = {k: v[(v.shape[0] - 128) // 2:][:128, (v.shape[1] - 128) // 2:][:, :128] for k, v in photos.items()}
    t_start = time.time()
    quality: dict = {}
    grid: dict = {}
    for ci, channel in enumerate(CHANNELS):
        for si, snr in enumerate(SNRS_DB):
            acc = {d: [] for d in DECODERS}
            for pi, (name, img) in enumerate(photos.items()):
                z = codec.encode(img)
                y, var = _received(codec, z, snr, channel, seed + 1000 * ci + 100 * si + pi)
                for d in DECODERS:
                    rec = codec.decode(y, var, img.shape, method=d, steps=steps, seed=seed)
                    acc[d].append(all_metrics(img, rec))
                    if pi == 0:
                        grid[(channel, snr, d)] = rec
            for d in DECODERS:
                quality.setdefault(channel, {}).setdefault(d, {})[f"{snr:g}"] = {
                    k: float(np.mean([m[k] for m in acc[d]])) for k in ("psnr_db", "ms_ssim", "vif")}
    quality_s = time.time() - t_start

    repeats = 3 if quick else 7
    step_list = (1, 2, 5, 10) if quick else (1, 2, 5, 10, 20)
    s_per_tile = {"direct": {"0": _time_decode(codec, "direct", 1, repeats)}}
    for d in ("snr-matched", "posterior"):
        s_per_tile[d] = {str(k): _time_decode(codec, d, k, repeats) for k in step_list}
    big = next(iter(photos.values()))
    zb = codec.encode(big)
    t = time.perf_counter()
    codec.decode(zb, np.full_like(zb, 0.1), big.shape, method="diffusion", steps=10)
    amortised = (time.perf_counter() - t) / zb.shape[0]

    result = {
        "photos": {k: list(v.shape) for k, v in photos.items()}, "snrs_db": list(SNRS_DB), "steps": steps,
        "seed": seed, "quick": quick, "diffusion_method": codec.diffusion_method,
        "torch_threads": torch.get_num_threads(), "quality": quality, "s_per_tile": s_per_tile,
        "s_per_tile_amortised_whole_image_diffusion_10": amortised, "quality_sweep_s": quality_s,
        "channel_uses_per_tile": int(np.prod(codec.latent_shape)) // 2,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    _plots(plt, out, photos, grid, quality, s_per_tile, codec.diffusion_method)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    """Human-readable table of a ``run_decoder_bench`` result."""
    lines = [f"{'channel':9s}{'SNR dB':>7s}  " + "  ".join(f"{d:>24s}" for d in DECODERS),
             f"{'':16s}  " + "  ".join(f"{'PSNR  MS-SSIM    VIF':>24s}" for _ in DECODERS)]
    for ch, per in result["quality"].items():
        for snr in per["direct"]:
            cells = [per[d][snr] for d in DECODERS]
            lines.append(f"{ch:9s}{snr:>7s}  " + "  ".join(
                f"{c['psnr_db']:8.2f} {c['ms_ssim']:7.4f} {c['vif']:7.4f}" for c in cells))
    lines.append("decode s per 64x64 tile (single tile, %d threads):" % result["torch_threads"])
    for d, per in result["s_per_tile"].items():
        lines.append(f"  {d:12s} " + "  ".join(f"{k} steps: {v:.3f}" for k, v in per.items()))
    lines.append(f"  whole image, default diffusion, 10 steps: {result['s_per_tile_amortised_whole_image_diffusion_10']:.4f} s/tile")
    return "\n".join(lines)


def _plots(plt, out, photos, grid, quality, s_per_tile, default) -> None:
    ref = next(iter(photos.values()))
    cols = len(SNRS_DB) + 1
    fig, axes = plt.subplots(2 * len(CHANNELS), cols, figsize=(2.6 * cols, 2.2 * 2 * len(CHANNELS)))
    for ci, ch in enumerate(CHANNELS):
        for ri, d in enumerate(("direct", default)):
            row = axes[2 * ci + ri]
            row[0].imshow(ref)
            row[0].set_title("reference" if ri == 0 else "", fontsize=8)
            row[0].set_ylabel(f"{ch}\n{d}", fontsize=8)
            for si, snr in enumerate(SNRS_DB):
                row[si + 1].imshow(grid[(ch, snr, d)])
                row[si + 1].set_title(f"{snr:g} dB", fontsize=8)
            for a in row:
                a.set_xticks([]), a.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "grid.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(CHANNELS), 3, figsize=(12, 3.3 * len(CHANNELS)))
    for ci, ch in enumerate(CHANNELS):
        for mi, (key, label) in enumerate((("psnr_db", "PSNR (dB)"), ("ms_ssim", "MS-SSIM"), ("vif", "VIF"))):
            ax = axes[ci, mi]
            for d in DECODERS:
                ax.plot(SNRS_DB, [quality[ch][d][f"{s:g}"][key] for s in SNRS_DB], "o-", label=d)
            ax.set_xlabel("latent SNR (dB)")
            ax.set_ylabel(label)
            ax.set_title(ch)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for d in ("snr-matched", "posterior"):
        ks = sorted(s_per_tile[d], key=int)
        ax.plot([int(k) for k in ks], [s_per_tile[d][k] for k in ks], "o-", label=d)
    ax.axhline(s_per_tile["direct"]["0"], color="k", ls="--", label="direct")
    ax.set_xlabel("solver steps")
    ax.set_ylabel("s per 64x64 tile")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "timing.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m semantic.bench OUT_DIR [--quick] [--weights DIR] [--json]``."""
    import argparse
    p = argparse.ArgumentParser(prog="diffradio bench decoder")
    p.add_argument("out_dir")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--weights", default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print the result dict as JSON")
    a = p.parse_args(argv)
    res = run_decoder_bench(a.out_dir, quick=a.quick, weights=a.weights, steps=a.steps)
    if a.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
