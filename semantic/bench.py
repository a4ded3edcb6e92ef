"""Decoder benchmark on any folder of photos through the simulated latent channel (no PHY).

Every photo is encoded once per bandwidth ratio (1/12, 1/24, 1/48); for each channel (AWGN;
Rayleigh-like per-symbol fading, ``semantic.latent_channel``), each SNR (dB per real latent value =
per complex channel use) and each noise seed, the sent values go through y = s + n and are decoded
by every decoder the codec has: ``direct``, and where the codec holds a diffusion prior one
``diffusion r=R`` row per realism R (``BenchGrid.realisms``; default the codec's own) plus ``direct+unsharp``:
direct's output sharpened (unsharp mask: plus ``amount`` times its difference from a Gaussian blur
of 1 px standard deviation) by the largest amount in
``UNSHARP_AMOUNTS`` that keeps its PSNR at or above the diffusion row's at the codec's default realism
(the first diffusion row when that realism is not among them) on that image: the
yardstick the diffusion decoder's GMSD must beat to show structure that fits the image, not just
energy.  With diffusion rows a perception-distortion figure (PSNR against GMSD and against the
high-frequency energy ratio, per cell) goes to ``perception_distortion.png``.
One more cell per ratio, ``lost``, sends at 5 dB AWGN and loses a quarter of the tiles whole (what a
lost frame does).  Every decoded image is scored by PSNR, MS-SSIM, GMSD and its high-frequency
energy ratio (``METRICS``).  A cell's figure is the mean over photos; the table gives the mean and
the standard deviation of that figure over the seeds (the seed-to-seed spread a gain must exceed).

The reference row ``avif@capacity`` is AVIF (``semantic.source_codec``, the digital baseline's
source coder) given the Shannon capacity of the same channel uses: ``n_uses * mean(log2(1 + 1/v))``
bits with v the per-value noise variance of the seed-0 realisation (for AWGN, n_uses*log2(1+SNR)),
i.e. an ideal channel code with no overhead — an upper bound for any separation-based link.

Decode time per 64x64 tile (ratio 1/24) is measured with the default decoder (and, for a codec with
a prior, with the diffusion decoder at its default realism and ``steps``: ``s_per_tile_diffusion``) on
a single tile and amortised over a 768x512 image (the Kodak size), each the minimum of a few repeats
with the threads ``torch.get_num_threads()`` reports.  Writes ``results.json`` and ``metrics.png`` to ``out_dir``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from semantic.codec import SemanticCodec
from semantic.latent_channel import CHANNELS, noise_variance, transmit
from semantic.metrics import gmsd, hf_energy_ratio, ms_ssim, psnr
from semantic.refine import DEFAULT_LR
from semantic.source_codec import decode as decode_source
from semantic.source_codec import fit

SNRS_DB = (0.0, 5.0, 10.0, 15.0)
#: The lost-tile cell: SNR (dB, AWGN) and the share of tiles lost.
LOST_SNR_DB, LOST_SHARE = 5.0, 0.25
REFERENCE = "avif@capacity"
#: Per-image metrics of every cell: PSNR (dB), MS-SSIM, GMSD (lower is better) and the luma energy
#: above 1/8 cycle per pixel relative to the original (``semantic.metrics``).
METRICS = ("psnr_db", "ms_ssim", "gmsd", "hf_ratio")
#: Unsharp-mask amounts tried for the ``direct+unsharp`` row (0 = direct's own output).
UNSHARP_AMOUNTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
UNSHARP = "direct+unsharp"


@dataclass(frozen=True)
class BenchGrid:
    """The cells of the decoder benchmark (every bandwidth ratio × latent channel × SNR, plus one
    ``lost`` cell per ratio) and its diffusion rows.

    Attributes:
        ratios: bandwidth ratios, complex channel uses per real image value ('1/12', '1/24', '1/48').
        snrs: SNRs in dB per real latent value (= per complex channel use).
        channels: latent channels ('awgn', 'rayleigh'; ``semantic.latent_channel.CHANNELS``).
        realisms: the diffusion decoder's realism (0..1) of each diffusion row; empty: the codec's
            default. Unused for a codec without a diffusion prior.
        refine_steps: transmitter-side refinement (``semantic.refine``) of every photo's sent values,
            that many decoder passes; 0: the encoder alone.
        refine_snr_db: the SNR (dB per real value) or (low, high) range refinement plans for; None:
            each cell's own SNR (a transmitter told the channel's SNR).
    """

    ratios: tuple[str, ...] = ("1/12", "1/24", "1/48")
    snrs: tuple[float, ...] = SNRS_DB
    channels: tuple[str, ...] = CHANNELS
    realisms: tuple[float, ...] = ()
    refine_steps: int = 0
    refine_snr_db: float | tuple[float, float] | None = None


def _metrics(ref: np.ndarray, img: np.ndarray) -> list[float]:
    return [psnr(ref, img), ms_ssim(ref, img), gmsd(ref, img), hf_energy_ratio(ref, img)]


def diffusion_row(realism: float) -> str:
    """The name of the diffusion decoder's row at ``realism``."""
    return f"diffusion r={realism:g}"


def sharpened_to(ref: np.ndarray, img: np.ndarray, floor_db: float) -> np.ndarray:
    """uint8 ``img`` sharpened by ``UNSHARP_AMOUNTS`` in increasing order, stopping before the first
    amount whose PSNR against ``ref`` falls below ``floor_db`` (``img`` itself when the smallest does)."""
    from scipy.ndimage import gaussian_filter
    x = img.astype(np.float64)
    detail = x - gaussian_filter(x, sigma=(1.0, 1.0, 0.0))
    best = img
    for amount in UNSHARP_AMOUNTS[1:]:
        sharp = np.clip(x + amount * detail, 0, 255).round().astype(np.uint8)
        if psnr(ref, sharp) < floor_db:
            break
        best = sharp
    return best


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


def _cells(snrs: tuple[float, ...], channels: tuple[str, ...],
           ratios: tuple[str, ...]) -> list[tuple[str, str, str, float, float]]:
    """(cell name, ratio, channel, SNR dB, lost share) in table order."""
    cells = []
    for r in ratios:
        cells += [(f"{r} {ch} {s:g} dB", r, ch, s, 0.0) for ch in channels for s in snrs]
        cells.append((f"{r} lost {LOST_SHARE:.0%} tiles, awgn {LOST_SNR_DB:g} dB", r, "awgn", LOST_SNR_DB, LOST_SHARE))
    return cells


def _time_per_tile(codec: SemanticCodec, steps: int, shape: tuple[int, int], repeats: int,
                   method: str | None = None) -> float:
    """Seconds per tile to decode an image of ``shape`` at 1/24 and 5 dB with ``method`` (None: the
    codec's default; diffusion at its default realism), the minimum of ``repeats`` after a warm-up."""
    img = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    z = codec.encode(img)
    var = np.full_like(z, 10 ** -0.5)
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        t = time.perf_counter()
        codec.decode(z, var, img.shape, method=method, steps=steps)
        times.append(time.perf_counter() - t)
    return float(min(times[1:])) / z.shape[0]


def run_decoder_bench(out_dir: str | Path, photos: dict[str, np.ndarray], grid: BenchGrid = BenchGrid(), *,
                      weights: str | Path | None = None, steps: int = 10, seeds: int = 3, quick: bool = False,
                      reference: bool = True) -> dict:
    """Run the benchmark, write ``out_dir/results.json`` and ``metrics.png``; returns the result dict.

    Args:
        out_dir: output folder (created).
        photos: {name: uint8 (H, W, 3)} to measure on (e.g. ``semantic.data.photos_in_dirs``).
        grid: the bandwidth ratios, SNRs (dB) and latent channels ('awgn', 'rayleigh') of the cells,
            the realism of each diffusion row, and the transmitter-side refinement.
        weights: codec directory / hub id (None: shipped default).
        steps: diffusion solver steps.
        seeds: noise seeds per cell (>= 1; the spread needs >= 2).
        quick: every other SNR of ``grid.snrs`` and one timing repeat (for smoke tests).
        reference: also compute the ``avif@capacity`` row (about a second per photo and cell).
    """
    ratios, snrs, channels = grid.ratios, grid.snrs, grid.channels
    if not photos:
        raise ValueError("no photos to benchmark on; pass a folder holding PNG/JPEG images")
    if seeds < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codec = SemanticCodec.from_pretrained(weights)
    realisms = grid.realisms or (codec.default_realism,)
    if not all(0.0 <= r <= 1.0 for r in realisms):
        raise ValueError(f"realism values must be in [0, 1], got {list(realisms)}")
    diffusion = {diffusion_row(r): r for r in realisms} if "diffusion" in codec.methods else {}
    decoders = ["direct", *diffusion, *([UNSHARP] if diffusion else [])]
    floor_row = diffusion_row(codec.default_realism) if diffusion_row(codec.default_realism) in diffusion \
        else next(iter(diffusion), None)
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown latent channel(s) {', '.join(sorted(unknown))}; use {', '.join(CHANNELS)}")
    cells = _cells(tuple(snrs)[::2] if quick else tuple(snrs), tuple(channels), ratios)
    refine_steps, refine_snr_db = grid.refine_steps, grid.refine_snr_db
    if refine_steps < 0:
        raise ValueError(f"refine_steps={refine_steps} must be >= 0")
    latents: dict = {}   # (photo, ratio, planned SNR or None) -> sent values, encoded once each
    encode_cpu = 0.0

    def sent(name: str, ratio: str, snr: float) -> np.ndarray:
        nonlocal encode_cpu
        plan = None if not refine_steps else (snr if refine_snr_db is None else refine_snr_db)
        if (name, ratio, plan) not in latents:
            t = time.process_time()
            latents[name, ratio, plan] = codec.encode(photos[name], ratio, refine_steps=refine_steps,
                                                      **({} if plan is None else {"refine_snr_db": plan}))
            encode_cpu += time.process_time() - t
        return latents[name, ratio, plan]

    t0 = time.process_time()
    per_seed: dict = {}  # cell -> row -> metric -> [mean over photos, one per seed]
    bar = tqdm(total=len(cells) * len(photos) * seeds, desc="decoder bench", mininterval=5.0)
    for ci, (cell, ratio, channel, snr, lost) in enumerate(cells):
        rows = per_seed.setdefault(cell, {})
        for seed in range(seeds):
            acc: dict = {}
            for pi, (name, img) in enumerate(photos.items()):
                y, var = received(sent(name, ratio, snr), snr, channel, lost, 10_000 * ci + 100 * seed + pi)
                decoded = {"direct": codec.decode(y, var, img.shape, method="direct")}
                decoded.update({row: codec.decode(y, var, img.shape, method="diffusion", steps=steps, seed=seed,
                                                  realism=r) for row, r in diffusion.items()})
                if diffusion:
                    decoded[UNSHARP] = sharpened_to(img, decoded["direct"], psnr(img, decoded[floor_row]))
                if reference and seed == 0:
                    best = fit(img, capacity_bytes(var), "avif")
                    acc.setdefault(REFERENCE, []).append(
                        _metrics(img, decode_source(best.data, img.shape[:2])) if best else [float("nan")] * len(METRICS))
                for d, rec in decoded.items():
                    acc.setdefault(d, []).append(_metrics(img, rec))
                bar.update(1)
            for row, vals in acc.items():
                m = np.asarray(vals, dtype=np.float64).mean(axis=0)
                r = rows.setdefault(row, {k: [] for k in METRICS})
                for k, v in zip(METRICS, m):
                    r[k].append(float(v))
    bar.close()
    quality = {cell: {row: {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                                "per_seed": v} for k, v in metrics.items()}
                      for row, metrics in rows.items()} for cell, rows in per_seed.items()}
    quality_cpu_s = time.process_time() - t0 - encode_cpu
    n_tiles = sum(z.shape[0] for z in latents.values())
    repeats = 1 if quick else 3
    result = {
        "photos": sorted(photos), "n_photos": len(photos), "seeds": seeds, "steps": steps, "quick": quick,
        "weights": str(weights) if weights else "shipped default", "decoders": list(decoders),
        "default_decoder": codec.default_method, "realisms": list(realisms) if diffusion else [],
        "latent_shape": {r: list(codec.latent_shape(r)) for r in ratios},
        "channel_uses_per_tile": {r: int(np.prod(codec.latent_shape(r))) // 2 for r in ratios},
        "sent_power": {r: _power_stats([z for key, z in latents.items() if key[1] == r]) for r in ratios},
        "refine": {"steps": refine_steps, "lr": DEFAULT_LR,
                   "snr_db": "each cell's" if refine_snr_db is None else refine_snr_db} if refine_steps else None,
        "encode_cpu_s": encode_cpu, "encode_cpu_s_per_tile": encode_cpu / max(n_tiles, 1),
        "torch_threads": torch.get_num_threads(), "quality": quality, "quality_cpu_s": quality_cpu_s,
        "s_per_tile": {"single_tile": _time_per_tile(codec, steps, (codec.tile, codec.tile), repeats),
                       "768x512": _time_per_tile(codec, steps, (512, 768), repeats)},
    }
    if diffusion:
        result["s_per_tile_diffusion"] = {
            "realism": codec.default_realism, "steps": steps,
            "single_tile": _time_per_tile(codec, steps, (codec.tile, codec.tile), repeats, "diffusion"),
            "768x512": _time_per_tile(codec, steps, (512, 768), repeats, "diffusion")}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    _plot(out / "metrics.png", result)
    if diffusion:
        _plot_perception_distortion(out / "perception_distortion.png", result)
    return result


def _power_stats(latents: list[np.ndarray]) -> dict:
    """Mean square of the sent values: over all photos, and the 5th / 95th percentile over tiles."""
    tiles = np.concatenate([(z.astype(np.float64) ** 2).mean(axis=(1, 2, 3)) for z in latents])
    total = float(np.mean([(z.astype(np.float64) ** 2).mean() for z in latents]))
    return {"mean": total, "tile_p5": float(np.percentile(tiles, 5)), "tile_p95": float(np.percentile(tiles, 95))}


def format_table(result: dict) -> str:
    """Human-readable table: PSNR (dB) / MS-SSIM, mean ± std over seeds, per cell and row."""
    rows = [*result["decoders"], REFERENCE]
    lines = [f"{'cell':40s}" + "".join(f"{r:>30s}" for r in rows)]
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
        lines.append(f"{cell:40s}" + "".join(f"{c:>30s}" for c in out))
    t = result["s_per_tile"]
    lines.append(f"default decoder, {result['steps']} steps, {result['torch_threads']} thread(s): "
                 f"{t['single_tile']:.3f} s for one 64x64 tile, {t['768x512']:.3f} s per tile of a 768x512 image")
    return "\n".join(lines)


def _plot(path: Path, result: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2 * len(CHANNELS), figsize=(4.2 * 2 * len(CHANNELS), 3.4))
    ratios = list(result["latent_shape"])
    for ci, ch in enumerate(CHANNELS):
        for mi, (key, label) in enumerate((("psnr_db", "PSNR (dB)"), ("ms_ssim", "MS-SSIM"))):
            ax = axes[2 * ci + mi]
            for ratio in ratios:
                cells = [(float(c.split()[2]), per) for c, per in result["quality"].items()
                         if c.startswith(f"{ratio} {ch} ")]
                for row in (*result["decoders"], REFERENCE):
                    pts = [(s, per[row][key]) for s, per in cells if row in per]
                    if pts:
                        ax.errorbar([s for s, _ in pts], [m["mean"] for _, m in pts],
                                    yerr=[m["std"] or 0.0 for _, m in pts], marker="o", capsize=3,
                                    label=f"{row} {ratio}", linestyle="--" if row == REFERENCE else "-")
            ax.set_xlabel("SNR (dB per channel use)")
            ax.set_ylabel(label)
            ax.set_title(f"{ch}, {result['n_photos']} photos, {result['seeds']} seeds", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_perception_distortion(path: Path, result: dict) -> None:
    """Per cell: PSNR (x) against GMSD and against the high-frequency energy ratio (y), the diffusion
    rows joined in order of realism, direct and direct+unsharp as single points, seed means."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cells = list(result["quality"])
    fig, axes = plt.subplots(2, len(cells), figsize=(3.2 * len(cells), 5.8), squeeze=False)
    rows = [diffusion_row(r) for r in sorted(result["realisms"])]
    for ci, cell in enumerate(cells):
        per = result["quality"][cell]
        for ax, key, label in ((axes[0, ci], "gmsd", "GMSD (lower: structure kept)"),
                               (axes[1, ci], "hf_ratio", "HF energy ratio (1 = detail kept)")):
            xs, ys = [per[r]["psnr_db"]["mean"] for r in rows], [per[r][key]["mean"] for r in rows]
            ax.plot(xs, ys, "o-", label="diffusion, realism " + " → ".join(f"{r:g}" for r in sorted(result["realisms"])))
            for x, y, r in zip(xs, ys, sorted(result["realisms"])):
                ax.annotate(f"{r:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
            for row, marker in (("direct", "s"), (UNSHARP, "^")):
                ax.plot(per[row]["psnr_db"]["mean"], per[row][key]["mean"], marker, label=row)
            ax.set_xlabel("PSNR (dB)")
            ax.set_ylabel(label, fontsize=8)
            ax.grid(alpha=0.3)
        axes[0, ci].set_title(cell, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def refine_plan(values: list[float] | None) -> float | tuple[float, float] | None:
    """``--refine-snr`` as ``run_decoder_bench`` takes it: None, one SNR or a (low, high) range (dB)."""
    if values is None:
        return None
    if len(values) > 2:
        raise ValueError(f"--refine-snr takes one SNR or a LOW HIGH range in dB, got {len(values)} values")
    return values[0] if len(values) == 1 else (values[0], values[1])


def main(argv: list[str] | None = None) -> int:
    """``python -m semantic.bench OUT_DIR [--photo-dir DIR] [--weights DIR] [--seeds N] [--json]``."""
    import argparse

    from semantic.allocator import keep_freed_memory
    from semantic.data import heldout_photos, photos_in_dirs
    keep_freed_memory()
    p = argparse.ArgumentParser(prog="diffradio bench decoder")
    p.add_argument("out_dir")
    p.add_argument("--photo-dir", default=None, help="folder of photos (default: the packaged held-out photos)")
    p.add_argument("--weights", default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--bandwidth-ratio", nargs="+", default=["1/12", "1/24", "1/48"], choices=("1/12", "1/24", "1/48"))
    p.add_argument("--snr", nargs="+", type=float, default=list(SNRS_DB))
    p.add_argument("--latent-channel", nargs="+", default=list(CHANNELS), choices=CHANNELS)
    p.add_argument("--realism", type=float, nargs="+", default=None,
                   help="realism of each diffusion row (default: the model's)")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="transmitter-side refinement of the sent values, N decoder passes (default 0: off)")
    p.add_argument("--refine-snr", type=float, nargs="+", default=None, metavar="DB",
                   help="the SNR (or LOW HIGH range) refinement plans for (default: each cell's own)")
    p.add_argument("--json", action="store_true", help="print the result dict as JSON")
    a = p.parse_args(argv)
    photos = photos_in_dirs([a.photo_dir]) if a.photo_dir else heldout_photos()
    grid = BenchGrid(ratios=tuple(a.bandwidth_ratio), snrs=tuple(a.snr), channels=tuple(a.latent_channel),
                     realisms=tuple(a.realism or ()), refine_steps=a.refine_steps,
                     refine_snr_db=refine_plan(a.refine_snr))
    res = run_decoder_bench(a.out_dir, photos, grid, weights=a.weights, steps=a.steps, seeds=a.seeds, quick=a.quick)
    print(json.dumps(res) if a.json else format_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
