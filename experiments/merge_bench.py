"""Merge ``diffradio bench decoder`` results run on disjoint sets of photos (e.g. two halves of a folder
on two cores) into one, as if the photos had been one folder.

A cell's figure is the mean over photos, per seed (``semantic.bench``); merged, each seed's figure is
the photo-count-weighted mean of the parts' figures for that seed, and the mean and standard
deviation over seeds are recomputed. The parts must share cells, rows, seeds and model; photos,
counts and CPU times add up; timings (``s_per_tile``) are the first part's. The noise of a photo
follows its index within its own part's folder, so the draws differ from a single run's (equally random).

    python experiments/merge_bench.py out/part-a/results.json out/part-b/results.json --out merged.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

_SUMMED = ("quality_cpu_s", "encode_cpu_s")


def merge(parts: list[dict]) -> dict:
    """The merged result dict (module docstring); ValueError when the parts do not fit together."""
    first = parts[0]
    for p in parts[1:]:
        for key in ("seeds", "weights", "decoders", "refine", "latent_shape"):
            if p.get(key) != first.get(key):
                raise ValueError(f"parts differ in {key!r}: {first.get(key)!r} vs {p.get(key)!r}")
        if set(p["quality"]) != set(first["quality"]):
            raise ValueError("parts differ in their cells")
    if len({name for p in parts for name in p["photos"]}) != sum(len(p["photos"]) for p in parts):
        raise ValueError("parts share photos; merge disjoint sets only")
    n = np.array([p["n_photos"] for p in parts], dtype=np.float64)
    quality = {}
    for cell, rows in first["quality"].items():
        quality[cell] = {}
        for row, metrics in rows.items():
            quality[cell][row] = {}
            for metric in metrics:
                per = np.array([p["quality"][cell][row][metric]["per_seed"] for p in parts], dtype=np.float64)
                seeds = (per * n[:, None]).sum(0) / n.sum()
                quality[cell][row][metric] = {"mean": float(seeds.mean()),
                                              "std": float(seeds.std(ddof=1)) if seeds.size > 1 else None,
                                              "per_seed": seeds.tolist()}
    out = {**first, "photos": sorted(name for p in parts for name in p["photos"]), "n_photos": int(n.sum()),
           "quality": quality, "merged_from": len(parts)}
    for key in _SUMMED:
        if all(key in p for p in parts):
            out[key] = float(sum(p[key] for p in parts))
    if all("encode_cpu_s" in p for p in parts):
        tiles = sum(p["encode_cpu_s"] / p["encode_cpu_s_per_tile"] for p in parts if p["encode_cpu_s_per_tile"])
        out["encode_cpu_s_per_tile"] = out["encode_cpu_s"] / tiles if tiles else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="+", help="results.json files of bench decoder runs on disjoint photos")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    merged = merge([json.loads(Path(f).read_text()) for f in a.parts])
    Path(a.out).write_text(json.dumps(merged, indent=1))
    print(f"{merged['n_photos']} photos from {len(a.parts)} parts -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
