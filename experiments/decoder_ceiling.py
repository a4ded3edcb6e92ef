"""Where the codec's detail goes (issue 18), on the validation split: the high-frequency luminance
energy ratio (``semantic.metrics.hf_energy_ratio``, above 1/8 cycle per pixel, decoded over
original) and PSNR of the shipped codec's decoder fed (a) the encoder's own latents, no projection
and no noise (``SemanticCodec.image_from_latents``: the most detail any latent estimate, a posterior
sample included, can bring through this decoder), (b) the values sent at each bandwidth ratio with
(almost) no noise (variance 1e-6: what the projection to 32, 16 or 8 dimensions per position leaves
for the ``direct`` decoder), and (c) the same at 10 dB per value (variance 0.1, one noise seed).
Run from the repository root (the validation photos of the shipped model's ``data_split.json``,
512x512 centre crops as in training)::

    python experiments/decoder_ceiling.py --out docs/results/decoder_ceiling_validation.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets"),
                    help="folder the split's photo paths are relative to")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch
    from PIL import Image

    from semantic import SemanticCodec
    from semantic.codec import DEFAULT_WEIGHTS
    from semantic.metrics import hf_energy_ratio, psnr

    torch.set_num_threads(1)
    codec = SemanticCodec.from_pretrained()
    names = json.loads((Path(DEFAULT_WEIGHTS) / "data_split.json").read_text())["val_photos"]
    rows = []
    for name in names:
        photo = args.photos / name
        if not photo.is_file():
            raise SystemExit(f"no validation photo {photo}: pass --photos, the folder that holds photos/")
        img = Image.open(photo).convert("RGB")
        w, h = img.size
        side = 512
        img = np.asarray(img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)))
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            z = codec.model.encode_latents(x)
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
    res = {"photos": names, "crop": 512, "mean": mean, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(mean, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
