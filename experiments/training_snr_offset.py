"""How far the training channel's SNR sits from the link's, per bandwidth ratio.

``diffradio train`` (``semantic.train``) and ``semantic.prior_train`` send a crop at the ratio with k
dimensions as the first k of the 32 values ``ProjectedLatentCodec.project(z, 32)`` gives (unit mean
power over all 32 on the training latents), the later ones masked as lost.  The link sends
``project(z, k)``: unit mean power over its own k.  So the values of a ratio-k crop in training
carry mean power p_k / p_32 (p_k: the mean power of the first k rows of the learnt basis over the
latent covariance), and with noise variance 10^(-SNR/10) per value, as the shipped codec and prior
were trained, a training draw at nominal SNR s is the link at s + 10 log10(p_k / p_32) dB.  (Training
now scales the noise by p_k / p_32: ``ProjectedLatentCodec.sent_power``, ``power_ratio``.)  This writes that offset per ratio from the codec's latent
covariance (``analytic``), the same ratio measured on the validation photos' latents (``measured``:
the mean square of the first k of the 32 training-style values over that of all 32), and the link
SNR range the training draw covers.  Kodak is never read.

Usage: python experiments/training_snr_offset.py [--model semantic/weights/default]
                                                 --out docs/results/training_snr_offset.json
"""
from __future__ import annotations

import json
import math

import torch

from semantic.latent_codec import RATIO_DIMS
from semantic.train import FinetuneConfig, validation_crops
from validation_crops import validation_experiment  # experiments/ (the script's own folder)


def main(argv: list[str] | None = None) -> int:
    a, codec, val = validation_experiment(__doc__.splitlines()[0], argv)
    cfg = FinetuneConfig()
    model = codec.model
    with torch.no_grad():
        sent = torch.cat([model.project(model.encode_latents(c[None].float() / 255), 32).flatten(2)
                          for c in validation_crops(val)], 2)[0]          # (32, positions)
    power = sent.square().mean(1)
    ratios = {}
    for name, dims in RATIO_DIMS.items():
        analytic = 10 * math.log10(float(model.power_ratio(torch.tensor(dims))))
        ratios[name] = {"dims": dims, "offset_db": {"analytic": round(analytic, 3),
                                                    "measured": round(10 * math.log10(float(power[:dims].mean() / power.mean())), 3)},
                        "link_snr_range_db": [round(cfg.snr_min_db + analytic, 2), round(cfg.snr_max_db + analytic, 2)]}
    res = {"command": "python experiments/training_snr_offset.py" + (f" --model {a.model}" if a.model else "")
           + f" --out {a.out}", "model": a.model or "semantic/weights/default",
           "fingerprint": f"{codec.fingerprint():08x}", "training_snr_db": [cfg.snr_min_db, cfg.snr_max_db],
           "validation_photos": sorted(val), "ratios": ratios}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    for name, r in ratios.items():
        print(f"{name}: training values {r['offset_db']['analytic']:+.2f} dB (measured {r['offset_db']['measured']:+.2f}) "
              f"above the link's; the training draw covers the link at {r['link_snr_range_db'][0]:g}…"
              f"{r['link_snr_range_db'][1]:g} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
