"""Choosing the diffusion decoder on the validation split: ``diffradio bench decoder`` on codec folders
that hold a diffusion prior, over the validation photos only.

Each candidate is a codec folder (``SemanticCodec.from_pretrained``) with ``prior/`` and
``scheduler/``.  The photos are the validation split of ``--photo-dir`` as ``diffradio train`` and
``semantic.prior_train`` split it (every ``--val-every``-th photo), each cut to its central 512 x 512
pixels (``semantic.train.validation_crops``).  The cells: latent AWGN at ``--bandwidth-ratio`` and
``--snr`` (dB per real value), plus each ratio's lost-tile cell (a quarter of the tiles lost at 5 dB);
for every ``--realism`` one bench run (``--jobs`` at once) with rows ``direct``, ``diffusion r=R``
and ``direct+unsharp`` sharpened to that row's PSNR (``semantic.bench``: the codec's default realism
is set to R for the run).  Each diffusion row is scored against issue 18's criteria
(:func:`criteria`), and the realism meeting most of them in the issue's cells is chosen
(:func:`choose_realism`).  The codec's decoder and the published TAEF2 decoder on the unsent latents
are measured too (:func:`clean_latent_decoders`).  Kodak is never read here.

Usage: python experiments/prior_validation.py NAME=FOLDER [NAME=FOLDER ...] [--realism 0 0.3 0.4 0.5 0.7 1]
                                              [--bandwidth-ratio 1/24 1/48] [--snr 0 5 10] [--seeds 2]
                                              [--steps 10] [--jobs 2] [--note TEXT]
                                              [--out docs/results/prior_validation.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from model_selection import named_folders  # experiments/ (the script's own folder)
from semantic.bench import BenchGrid, diffusion_row, run_decoder_bench
from semantic.codec import CONFIG_NAME
from semantic.data import photos_in_dirs, split_train_val
from semantic.train import validation_crops


#: The cells of issue 18's criteria (``semantic.bench`` cell names) and the criteria a realism is chosen by.
ISSUE_CELLS = ("1/24 awgn 0 dB", "1/48 awgn 5 dB", "1/24 lost 25% tiles, awgn 5 dB")
ISSUE_CRITERIA = ("psnr_within_1db", "ms_ssim_within_0.01", "hf_deficit_cut_by_a_third", "gmsd_below_sharpened_direct")


def criteria(rows: dict, row: str) -> dict:
    """Issue 18's criteria for diffusion row ``row`` of one cell (``rows``: row -> metric -> mean), against
    ``direct`` and ``direct+unsharp``: PSNR >= direct - 1 dB, MS-SSIM >= direct - 0.01, the high-frequency
    energy deficit |1 - ratio| at most 2/3 of direct's, GMSD below the sharpened direct's (meaningful
    for the row whose PSNR set the sharpening: the codec's default realism), and PSNR within 0.2 dB of
    direct or better (the realism-0 criterion)."""
    m = {r: {k: v["mean"] for k, v in rows[r].items()} for r in (row, "direct", "direct+unsharp")}
    d, u, x = m["direct"], m["direct+unsharp"], m[row]
    return {"psnr_within_1db": x["psnr_db"] >= d["psnr_db"] - 1.0,
            "ms_ssim_within_0.01": x["ms_ssim"] >= d["ms_ssim"] - 0.01,
            "hf_deficit_cut_by_a_third": abs(1 - x["hf_ratio"]) <= 2 / 3 * abs(1 - d["hf_ratio"]),
            "gmsd_below_sharpened_direct": x["gmsd"] < u["gmsd"],
            "psnr_within_0.2db": x["psnr_db"] >= d["psnr_db"] - 0.2}


def clean_latent_decoders(folder: str, photos: dict[str, np.ndarray]) -> dict:
    """Mean PSNR (dB), GMSD and high-frequency energy ratio of the codec's encoder latents, unsent,
    decoded by the codec's fine-tuned decoder and by the published TAEF2 decoder (the test fixture in
    ``semantic/weights/taef2-published``): which decoder makes the image from posterior latents, and the
    detail a perfect latent estimate would give."""
    from safetensors.torch import load_file

    from semantic.codec import DEFAULT_WEIGHTS, SemanticCodec
    from semantic.metrics import gmsd, hf_energy_ratio, psnr
    from semantic.taef2 import taef2_decoder
    model = SemanticCodec.from_pretrained(folder).model
    published = taef2_decoder()
    published.load_state_dict({k: v.float() for k, v in load_file(
        DEFAULT_WEIGHTS.parent / "taef2-published" / "taef2_decoder.safetensors").items()})
    rows: dict = {"fine-tuned": [], "published": []}
    with torch.no_grad():
        for img in photos.values():
            z = model.encode_latents(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0)
            for name, dec in (("fine-tuned", model.decoder), ("published", published)):
                out = (dec(z).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                rows[name].append([psnr(img, out), gmsd(img, out), hf_energy_ratio(img, out)])
    return {name: dict(zip(("psnr_db", "gmsd", "hf_ratio"), np.mean(v, axis=0).tolist())) for name, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidates", nargs="+", help="NAME=FOLDER, a codec folder holding a diffusion prior")
    p.add_argument("--photo-dir", default="../shared/datasets/photos")
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--realism", type=float, nargs="+", default=[0.0, 0.3, 0.4, 0.5, 0.7, 1.0])
    p.add_argument("--bandwidth-ratio", nargs="+", default=["1/24", "1/48"], choices=("1/12", "1/24", "1/48"))
    p.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0], help="dB per real value")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2, help="realisms measured at once (one process and thread each)")
    p.add_argument("--note", default="", help="how the candidates were made (written to the file)")
    p.add_argument("--out", default="docs/results/prior_validation.json")
    args = p.parse_args(argv)
    named = named_folders(args.candidates, holding="prior")
    if named is None:
        return 2
    _, val = split_train_val(photos_in_dirs([args.photo_dir]), args.val_every)
    photos = {name: np.ascontiguousarray(crop.permute(1, 2, 0).numpy())
              for name, crop in zip(val, validation_crops(val))}
    jobs = [(name, folder, r) for name, folder in named for r in args.realism]
    with ProcessPoolExecutor(args.jobs) as pool:
        done = list(pool.map(_bench_at_realism, *zip(*jobs), [photos] * len(jobs), [args] * len(jobs)))
    results: dict = {}
    for (name, folder, realism), res in zip(jobs, done):
        cand = results.setdefault(name, {"folder": folder, "realisms": {}})
        cand["realisms"][f"{realism:g}"] = {
            **{k: res[k] for k in ("quality", "quality_cpu_s", "s_per_tile", "s_per_tile_diffusion", "torch_threads")},
            "criteria": {cell: criteria(rows, diffusion_row(realism)) for cell, rows in res["quality"].items()}}
        print(f"{name} realism {realism:g}: done ({res['quality_cpu_s']:.0f} CPU s)", file=sys.stderr)
    for cand in results.values():
        cand["chosen_realism"] = choose_realism(cand["realisms"])
    out = {"note": args.note, "photos": sorted(photos), "val_every": args.val_every, "seeds": args.seeds,
           "steps": args.steps, "realisms": args.realism, "candidates": results,
           "decoders_on_clean_latents": clean_latent_decoders(named[0][1], photos)}
    Path(args.out).write_text(json.dumps(out, indent=1))
    for name, cand in results.items():
        for realism, r in cand["realisms"].items():
            for cell, rows in r["quality"].items():
                met = sum(r["criteria"][cell][k] for k in ISSUE_CRITERIA)
                print(name, cell, f"{met}/4", "  ".join(f"{row}: {m['psnr_db']['mean']:.2f} dB "
                                                      f"hf {m['hf_ratio']['mean']:.2f} "
                                                      f"gmsd {m['gmsd']['mean']:.3f}" for row, m in rows.items()))
        print(name, "chosen realism", cand["chosen_realism"])
    return 0


def _bench_at_realism(name: str, folder: str, realism: float, photos: dict, args) -> dict:
    """The bench on ``photos`` with one diffusion row at ``realism``, the codec's default realism set to
    it (so that ``direct+unsharp`` is sharpened to that row's PSNR); one torch thread."""
    torch.set_num_threads(1)
    grid = BenchGrid(ratios=tuple(args.bandwidth_ratio), snrs=tuple(args.snr), channels=("awgn",), realisms=(realism,))
    with tempfile.TemporaryDirectory() as tmp:
        codec = Path(tmp) / "codec"
        codec.mkdir()
        for item in Path(folder).iterdir():
            (codec / item.name).symlink_to(item.resolve())
        (codec / CONFIG_NAME).unlink(missing_ok=True)
        (codec / CONFIG_NAME).write_text(json.dumps({"default_method": "direct", "default_realism": realism}))
        return run_decoder_bench(Path(tmp) / "out", photos, grid, weights=codec, steps=args.steps, seeds=args.seeds,
                                 reference=False)


def choose_realism(per_realism: dict) -> str:
    """The realism whose diffusion row meets the most of issue 18's four criteria (``ISSUE_CRITERIA``)
    over ``ISSUE_CELLS``; a tie goes to the lower realism (the better PSNR)."""
    def score(item):
        realism, r = item
        return (sum(r["criteria"][c][k] for c in ISSUE_CELLS if c in r["criteria"] for k in ISSUE_CRITERIA),
                -float(realism))
    return max(per_realism.items(), key=score)[0]


if __name__ == "__main__":
    raise SystemExit(main())
