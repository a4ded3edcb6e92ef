"""Where the codec's detail goes (issue 18), on the validation split: the high-frequency luminance
energy ratio (``semantic.metrics.hf_energy_ratio``, above 1/8 cycle per pixel, decoded over
original) and PSNR of the shipped codec's decoder fed (a) the encoder's own latents, no projection
and no noise (``SemanticCodec.image_from_latents``: the most detail any latent estimate, a posterior
sample included, can bring through this decoder), (b) the values sent at each bandwidth ratio with
(almost) no noise (variance 1e-6: what the projection to 32, 16 or 8 dimensions per position leaves
for the ``direct`` decoder), and (c) the same at 10 dB per value (variance 0.1, one noise seed).
Run from the repository root (the validation split of ``--photo-dir`` as ``diffradio train`` makes
it, each cut to its central 512 x 512 pixels: ``semantic.train.validation_crops``)::

    python experiments/decoder_ceiling.py --out docs/results/decoder_ceiling_validation.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo-dir", default="../shared/datasets/photos")
    ap.add_argument("--val-every", type=int, default=10)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from semantic import SemanticCodec
    from semantic.data import photos_in_dirs, split_train_val
    from semantic.metrics import hf_energy_ratio, psnr
    from semantic.train import validation_crops

    torch.set_num_threads(1)
    codec = SemanticCodec.from_pretrained()
    _, val = split_train_val(photos_in_dirs([args.photo_dir]), args.val_every)
    names = list(val)
    rows = []
    for name, crop in zip(names, validation_crops(val)):
        img = np.ascontiguousarray(crop.permute(1, 2, 0).numpy())
        with torch.no_grad():
            z = codec.model.encode_latents(crop[None].float() / 255.0)
        row = {"photo": name}
        out = codec.image_from_latents(z, img.shape)
        row["true_latents"] = {"psnr_db": psnr(img, out), "hf_ratio": hf_energy_ratio(img, out)}
        for ratio in ("1/12", "1/24", "1/48"):
            sent = codec.encode(img, bandwidth_ratio=ratio)
            for label, var in (("noise_free", 1e-6), ("10db", 0.1)):
                noise = np.random.default_rng(0).normal(size=sent.shape).astype(np.float32) * np.sqrt(var)
                v = np.full(sent.shape, var, np.float32)
                out = codec.decode(sent + noise, v, img.shape, method="direct")
                row[f"direct_{ratio}_{label}"] = {"psnr_db": psnr(img, out), "hf_ratio": hf_energy_ratio(img, out)}
        rows.append(row)
        print(name, {k: round(v["hf_ratio"], 3) for k, v in row.items() if k != "photo"})
    keys = [k for k in rows[0] if k != "photo"]
    mean = {k: {m: float(np.mean([r[k][m] for r in rows])) for m in ("psnr_db", "hf_ratio")} for k in keys}
    res = {"photos": names, "mean": mean, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(mean, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
