"""Decoder benchmark on any folder of photos through the simulated latent channel (no PHY).

Every photo is encoded once by the codec; for each channel (AWGN; Rayleigh-like per-symbol fading,
``semantic.latent_channel``), each SNR (dB per real latent value = per complex channel use) and
each noise seed, the latents go through y = z + n and are decoded by every decoder.  One more
cell, ``lost``, sends at 5 dB AWGN and loses a quarter of the tiles whole (what a lost frame does).
A cell's figure is the mean over photos; the table gives the mean and the standard deviation of
that figure over the seeds (the seed-to-seed spread a gain must exceed).

The reference row ``avif@capacity`` is AVIF (``semantic.source_codec``, the digital baseline's
source coder) given the Shannon capacity of the same channel uses: ``n_uses * mean(log2(1 + 1/v))``
bits with v the per-value noise variance of the seed-0 realisation (for AWGN, n_uses*log2(1+SNR)),
i.e. an ideal channel code with no overhead — an upper bound for any separation-based link.

Decode time per 64x64 tile is measured with the default decoder on a single tile and amortised
over a 768x512 image (the Kodak size), each the minimum of a few repeats with the threads
``torch.get_num_threads()`` reports.  Writes ``results.json`` and ``metrics.png`` to ``out_dir``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from semantic.codec import SemanticCodec
from semantic.latent_channel import CHANNELS, noise_variance, transmit
from semantic.metrics import ms_ssim, psnr
from semantic.source_codec import decode as decode_source
from semantic.source_codec import fit

SNRS_DB = (0.0, 5.0, 10.0, 15.0)
#: The lost-tile cell: SNR (dB, AWGN) and the share of tiles lost.
LOST_SNR_DB, LOST_SHARE = 5.0, 0.25
DECODERS = ("direct", "diffusion")
REFERENCE = "avif@capacity"


def received(z: np.ndarray, snr_db: float, channel: str, lost_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, noise_var) for latents z (n_tiles, C, h, w): the latent channel, then ``lost_share`` of the
    tiles (rounded, at least one when > 0) lost whole (variance inf, y NaN)."""
    g = torch.Generator().manual_seed(seed)
    var = noise_variance(z.shape, snr_db, channel, g)
    if lost_share > 0:
        n_lost = max(1, round(lost_share * z.shape[0]))
        var[torch.randperm(z.shape[0], generator=g)[:n_lost]] = float("inf")
    return transmit(torch.from_numpy(z), var, g).numpy(), var.numpy()


def capacity_bytes(noise_var: np.ndarray) -> int:
    """Bytes an ideal code carries over the complex uses behind real values of variance ``noise_var``
    (unit signal power per real value; pairs of values form one use; lost values carry nothing)."""
    v = np.asarray(noise_var, dtype=np.float64).reshape(-1)[::2]
    bits = np.where(np.isfinite(v), np.log2(1.0 + 1.0 / np.maximum(v, 1e-12)), 0.0).sum()
    return int(bits // 8)


def _cells(quick: bool) -> list[tuple[str, str, float, float]]:
    """(cell name, channel, SNR dB, lost share) in table order."""
    snrs = SNRS_DB[::2] if quick else SNRS_DB
    cells = [(f"{ch} {s:g} dB", ch, s, 0.0) for ch in CHANNELS for s in snrs]
    return cells + [(f"lost {LOST_SHARE:.0%} tiles, awgn {LOST_SNR_DB:g} dB", "awgn", LOST_SNR_DB, LOST_SHARE)]


def _time_per_tile(codec: SemanticCodec, steps: int, shape: tuple[int, int], repeats: int) -> float:
    img = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    z = codec.encode(img)
    var = np.full_like(z, 10 ** -0.5)
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        t = time.perf_counter()
        codec.decode(z, var, img.shape, method="diffusion", steps=steps)
        times.append(time.perf_counter() - t)
    return float(min(times[1:])) / z.shape[0]


def run_decoder_bench(out_dir: str | Path, photos: dict[str, np.ndarray], *, weights: str | Path | None = None,
                      steps: int = 10, seeds: int = 3, quick: bool = False, reference: bool = True) -> dict:
    """Run the benchmark, write ``out_dir/results.json`` and ``metrics.png``; returns the result dict.

    Args:
        out_dir: output folder (created).
        photos: {name: uint8 (H, W, 3)} to measure on (e.g. ``semantic.data.photos_in_dirs``).
        weights: codec directory / hub id (None: shipped default).
        steps: diffusion solver steps.
        seeds: noise seeds per cell (>= 1; the spread needs >= 2).
        quick: two SNRs per channel and one timing repeat (for smoke tests).
        reference: also compute the ``avif@capacity`` row (about a second per photo and cell).
    """
    if not photos:
        raise ValueError("no photos to benchmark on; pass a folder holding PNG/JPEG images")
    if seeds < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codec = SemanticCodec.from_pretrained(weights)
    cells = _cells(quick)
    latents = {name: codec.encode(img) for name, img in photos.items()}
    t0 = time.process_time()
    per_seed: dict = {}  # cell -> row -> metric -> [mean over photos, one per seed]
    bar = tqdm(total=len(cells) * len(photos) * seeds, desc="decoder bench", mininterval=5.0)
    for ci, (cell, channel, snr, lost) in enumerate(cells):
        rows = per_seed.setdefault(cell, {})
        for seed in range(seeds):
            acc: dict = {}
            for pi, (name, img) in enumerate(photos.items()):
                y, var = received(latents[name], snr, channel, lost, 10_000 * ci + 100 * seed + pi)
                decoded = {d: codec.decode(y, var, img.shape, method=d, steps=steps, seed=seed) for d in DECODERS}
                if reference and seed == 0:
                    budget = capacity_bytes(var)
                    best = fit(img, budget, "avif")
                    acc.setdefault(REFERENCE, []).append(
                        (best.psnr_db, ms_ssim(img, decode_source(best.data, img.shape[:2]))) if best else (float("nan"), float("nan")))
                for d, rec in decoded.items():
                    acc.setdefault(d, []).append((psnr(img, rec), ms_ssim(img, rec)))
                bar.update(1)
            for row, vals in acc.items():
                m = np.asarray(vals, dtype=np.float64).mean(axis=0)
                r = rows.setdefault(row, {"psnr_db": [], "ms_ssim": []})
                r["psnr_db"].append(float(m[0]))
                r["ms_ssim"].append(float(m[1]))
    bar.close()
    quality = {cell: {row: {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                                "per_seed": v} for k, v in metrics.items()}
                      for row, metrics in rows.items()} for cell, rows in per_seed.items()}
    quality_cpu_s = time.process_time() - t0
    repeats = 1 if quick else 3
    result = {
        "photos": sorted(photos), "n_photos": len(photos), "seeds": seeds, "steps": steps, "quick": quick,
        "weights": str(weights) if weights else "shipped default", "diffusion_method": codec.diffusion_method,
        "realism": codec.realism, "fusion_scale": codec.fusion_scale,
        "latent_shape": list(codec.latent_shape), "channel_uses_per_tile": int(np.prod(codec.latent_shape)) // 2,
        "bandwidth_ratio": int(np.prod(codec.latent_shape)) / 2 / (3 * codec.tile ** 2),
        "torch_threads": torch.get_num_threads(), "quality": quality, "quality_cpu_s": quality_cpu_s,
        "s_per_tile": {"single_tile": _time_per_tile(codec, steps, (codec.tile, codec.tile), repeats),
                       "768x512": _time_per_tile(codec, steps, (512, 768), repeats)},
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    _plot(out / "metrics.png", result)
    return result


def format_table(result: dict) -> str:
    """Human-readable table: PSNR (dB) / MS-SSIM, mean ± std over seeds, per cell and row."""
    rows = [*DECODERS, REFERENCE]
    lines = [f"{'cell':34s}" + "".join(f"{r:>30s}" for r in rows)]
    for cell, per in result["quality"].items():
        out = []
        for r in rows:
            p, s = (per[r]["psnr_db"], per[r]["ms_ssim"]) if r in per else (None, None)
            if p is None:
                out.append("-")
            elif p["std"] is None:
                out.append(f"{p['mean']:.2f} / {s['mean']:.4f}")
            else:
                out.append(f"{p['mean']:.2f}±{p['std']:.2f} / {s['mean']:.4f}±{s['std']:.4f}")
        lines.append(f"{cell:34s}" + "".join(f"{c:>30s}" for c in out))
    t = result["s_per_tile"]
    lines.append(f"default decoder, {result['steps']} steps, {result['torch_threads']} thread(s): "
                 f"{t['single_tile']:.3f} s for one 64x64 tile, {t['768x512']:.3f} s per tile of a 768x512 image")
    return "\n".join(lines)


def _plot(path: Path, result: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2 * len(CHANNELS), figsize=(4.2 * 2 * len(CHANNELS), 3.4))
    for ci, ch in enumerate(CHANNELS):
        cells = [(float(c.split()[1]), per) for c, per in result["quality"].items() if c.startswith(ch + " ")]
        for mi, (key, label) in enumerate((("psnr_db", "PSNR (dB)"), ("ms_ssim", "MS-SSIM"))):
            ax = axes[2 * ci + mi]
            for row in (*DECODERS, REFERENCE):
                pts = [(s, per[row][key]) for s, per in cells if row in per]
                if pts:
                    ax.errorbar([s for s, _ in pts], [m["mean"] for _, m in pts],
                                yerr=[m["std"] or 0.0 for _, m in pts], marker="o", capsize=3, label=row)
            ax.set_xlabel("SNR (dB per channel use)")
            ax.set_ylabel(label)
            ax.set_title(f"{ch}, {result['n_photos']} photos, {result['seeds']} seeds", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m semantic.bench OUT_DIR [--photo-dir DIR] [--weights DIR] [--seeds N] [--json]``."""
    import argparse

    from semantic.data import heldout_photos, photos_in_dirs
    p = argparse.ArgumentParser(prog="diffradio bench decoder")
    p.add_argument("out_dir")
    p.add_argument("--photo-dir", default=None, help="folder of photos (default: the packaged held-out photos)")
    p.add_argument("--weights", default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true", help="print the result dict as JSON")
    a = p.parse_args(argv)
    photos = photos_in_dirs([a.photo_dir]) if a.photo_dir else heldout_photos()
    res = run_decoder_bench(a.out_dir, photos, weights=a.weights, steps=a.steps, seeds=a.seeds, quick=a.quick)
    print(json.dumps(res) if a.json else format_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
