"""How far down the control plane must work for issue 21's genie criterion, read from an outage run.

Issue 21 asks that where the genie receiver's image reaches ``--useful-db`` (15 dB PSNR), ours
produce an image in at least 95 % of realisations. ``bench outage`` records, per run, the
realisation's in-band SNR (the mean over the subcarriers), whether our receiver produced an image
and the genie's PSNR. This script reads those runs and reports:

- per realisation-SNR bin (dB): runs, the share where ours produced an image, the genie's median PSNR;
- per mean SNR of the outage table: the criterion's share today, and what it would be if our
  receiver produced an image in every run whose realisation SNR is at or above a limit L (for L from
  -6 to -13 dB), i.e. how low the control plane must reach for the criterion to hold.

No receiver runs here: it is a reading of ``docs/results/outage.json``. Run from the repository root::

    python experiments/outage_requirement.py --out docs/results/outage_requirement.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LIMITS_DB = tuple(float(v) for v in range(-6, -14, -1))
"""Realisation SNRs (dB in-band) down to which a receiver is supposed to give an image."""
BIN_DB = 2.0


def requirement(runs: list[dict], useful_db: float) -> dict:
    """The bins and per-mean-SNR shares described in the module docstring, from ``bench outage`` runs."""
    snr = np.array([r["realisation_snr_db"] for r in runs])
    image = np.array([bool(r["image"]) for r in runs])
    genie = np.array([r["genie_psnr_db"] for r in runs])
    edges = np.arange(np.floor(snr.min() / BIN_DB) * BIN_DB, snr.max() + BIN_DB, BIN_DB)
    bins = []
    for lo in edges[:-1]:
        sel = (snr >= lo) & (snr < lo + BIN_DB)
        if sel.any():
            bins.append({"snr_db": [float(lo), float(lo + BIN_DB)], "runs": int(sel.sum()),
                         "image_share": float(image[sel].mean()), "genie_median_psnr_db": float(np.median(genie[sel]))})
    per_mean = []
    for mean in sorted({r["snr_db"] for r in runs}):
        sel = np.array([r["snr_db"] == mean for r in runs]) & (genie >= useful_db)
        if not sel.any():
            continue
        per_mean.append({"mean_snr_db": mean, "genie_useful_runs": int(sel.sum()),
                         "image_share_now": float(image[sel].mean()),
                         "image_share_if_working_down_to": {
                             f"{lim:g}": float((image[sel] | (snr[sel] >= lim)).mean()) for lim in LIMITS_DB}})
    return {"useful_db": useful_db, "bins": bins, "per_mean_snr": per_mean}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--outage", default="docs/results/outage.json", help="a bench outage results file")
    p.add_argument("--useful-db", type=float, default=None,
                   help="the genie PSNR that counts as useful (default: the file's genie_useful_db)")
    p.add_argument("--out", default=None, help="write the result here as JSON")
    a = p.parse_args(argv)
    data = json.loads(Path(a.outage).read_text())
    res = {"source": a.outage, **requirement(data["runs"], a.useful_db or data["genie_useful_db"])}
    for row in res["per_mean_snr"]:
        reach = row["image_share_if_working_down_to"]
        first = next((k for k, v in reach.items() if v >= 0.95), "below -13")
        need = "met now" if row["image_share_now"] >= 0.95 else f">= 95 % needs images down to {first} dB in-band"
        print(f"mean {row['mean_snr_db']:g} dB: {row['image_share_now']:.1%} of {row['genie_useful_runs']} "
              f"useful runs now; {need}")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
