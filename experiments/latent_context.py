"""Does a region's latent map depend on the rest of the photo?

The TAEF2 encoder and decoder are convolutional but hold GroupNorm layers (``semantic.taef2``: the
encoder's last stage, the decoder's first), which normalise over the whole map.  For each validation
photo this encodes the whole photo and, separately, its central 512 x 512 pixels (the crop
``diffradio train`` validates on), and reports for the central region: the relative mean square
difference of the two latent maps; the PSNR of the region cut from the whole photo's map and decoded
alone, and of the region's own map, clean (the decoder on the latents) and through ``direct`` at
1/24 and 10 dB AWGN (one noise draw, seed 0); and the region's PSNR when the whole photo's map is
decoded whole (``psnr_clean_whole_map_db``).  Training on cached latents (the codec's first stage,
the diffusion prior) decodes cuts of whole-photo maps; the link decodes each photo's own map whole.  Kodak is never read.

Usage: python experiments/latent_context.py [--model semantic/weights/default] --out docs/results/latent_context.json
"""
from __future__ import annotations

import json

import numpy as np
import torch

from semantic.bench import received
from semantic.metrics import psnr
from validation_crops import validation_experiment  # experiments/ (the script's own folder)

CROP = 512


def _decoded(codec, z: torch.Tensor) -> dict:
    """PSNR-ready uint8 images (H, W, 3) of latents z (1, 32, h, w): clean and through direct at 1/24, 10 dB."""
    m = codec.model
    shape = (z.shape[2] * 8, z.shape[3] * 8, 3)
    y, var = received(m.project(z, 16).numpy(), 10.0, "awgn", 0.0, 0)
    return {"clean": codec.image_from_latents(z, shape),
            "direct_1_24_10db": codec.image_from_latents(m.restore(torch.from_numpy(y), torch.from_numpy(var)), shape)}


def main(argv: list[str] | None = None) -> int:
    a, codec, val = validation_experiment(__doc__.splitlines()[0], argv)
    m = codec.model
    rows = {}
    with torch.no_grad():
        for name, img in sorted(val.items()):
            h, w = img.shape[0] // 8 * 8, img.shape[1] // 8 * 8
            r, q = (h // 8 - CROP // 8) // 2, (w // 8 - CROP // 8) // 2
            region = np.ascontiguousarray(img[r * 8: r * 8 + CROP, q * 8: q * 8 + CROP])
            whole = m.encode_latents(torch.from_numpy(img[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255)
            z_whole = whole[..., r: r + CROP // 8, q: q + CROP // 8]
            z_crop = m.encode_latents(torch.from_numpy(region).permute(2, 0, 1)[None].float() / 255)
            from_whole, from_crop = _decoded(codec, z_whole), _decoded(codec, z_crop)
            in_place = codec.image_from_latents(whole, (h, w, 3))[r * 8: r * 8 + CROP, q * 8: q * 8 + CROP]
            rows[name] = {"latent_rel_mse": float((z_whole - z_crop).square().mean() / z_crop.var()),
                          "psnr_clean_whole_map_db": psnr(region, in_place),
                          **{f"psnr_{k}_db": {"whole_photo_latents": psnr(region, from_whole[k]),
                                              "crop_latents": psnr(region, from_crop[k])} for k in from_whole}}
    res = {"command": "python experiments/latent_context.py" + (f" --model {a.model}" if a.model else "")
           + f" --out {a.out}", "model": a.model or "semantic/weights/default", "crop": CROP, "photos": rows}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    for name, r in rows.items():
        print(name, f"latents {r['latent_rel_mse']:.3f}, whole map decoded whole {r['psnr_clean_whole_map_db']:.2f} dB",
              *(f"{k} cut / own map: {v['whole_photo_latents']:.2f} / {v['crop_latents']:.2f} dB"
                for k, v in r.items() if isinstance(v, dict)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
