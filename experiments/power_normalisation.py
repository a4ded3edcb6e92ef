"""How the sent values' power constraint moves the `direct` decoder's figures (issue 17).

The codec sends values of unit mean power over its training photos (``SemanticCodec.encode``), so a
photo's own mean power p, and with it its SNR per value, follows its content; the latent-channel
benchmark (``semantic.bench.received``) adds noise of a fixed variance.  Published JSCC results
normalise each image to unit power instead.  For each photo, ratio, SNR and seed this decodes the
same noise draw both ways: ``fixed`` (as the link and every other result file: y = s + n) and
``per_image`` (y = g s + n with g = 1 / sqrt(p), decoded from y / g with noise variance var / g^2,
the scale g assumed known at the receiver, as side information the link does not carry today).

Photos: the validation split as ``diffradio train`` makes it (central 512 x 512 crops,
``semantic.train.validation_crops``), or every photo of ``--test-dir`` whole (Kodak: report only);
``--model`` another codec folder.  Usage::

    python experiments/power_normalisation.py --out docs/results/power_normalisation.json
    python experiments/power_normalisation.py --test-dir ../shared/datasets/kodak \\
        --out docs/results/power_normalisation_kodak.json
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from validation_crops import validation_experiment  # experiments/ (the script's own folder)


def main(argv: list[str] | None = None) -> int:
    a, codec, val = validation_experiment(__doc__.split("\n\n")[0], argv, {
        "--test-dir": {"default": None, "help": "measure these photos, whole, instead of the validation split"},
        "--bandwidth-ratio": {"nargs": "+", "default": ["1/24", "1/48"]},
        "--snr": {"type": float, "nargs": "+", "default": [0.0, 5.0, 10.0], "help": "dB per real value"},
        "--seeds": {"type": int, "default": 2}})
    from tqdm import tqdm

    from semantic.bench import received
    from semantic.data import photos_in_dirs
    from semantic.metrics import psnr
    from semantic.train import validation_crops

    if a.test_dir:
        try:
            photos = photos_in_dirs([a.test_dir])
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    else:
        photos = {n: np.ascontiguousarray(c.permute(1, 2, 0).numpy()) for n, c in zip(val, validation_crops(val))}
    rows, cells = [], {}
    for name, img in tqdm(photos.items(), desc="photos"):
        for ratio in a.bandwidth_ratio:
            sent = codec.encode(img, bandwidth_ratio=ratio)
            power = float(np.mean(sent.astype(np.float64) ** 2))
            g = 1.0 / np.sqrt(power)
            for snr in a.snr:
                for seed in range(a.seeds):
                    y, var = received(sent, snr, "awgn", 0.0, seed)
                    noise = y - sent
                    fixed = psnr(img, codec.decode(y, var, img.shape, method="direct"))
                    scaled = psnr(img, codec.decode(((g * sent + noise) / g).astype(np.float32),
                                                    (var / g ** 2).astype(np.float32), img.shape, method="direct"))
                    rows.append({"photo": name, "ratio": ratio, "snr_db": snr, "seed": seed, "power": power,
                                 "fixed_psnr_db": fixed, "per_image_psnr_db": scaled})
                    cells.setdefault(f"{ratio} awgn {snr:g} dB", []).append((fixed, scaled, power))
    summary = {}
    for cell, v in cells.items():
        m = np.array(v)
        summary[cell] = {"fixed_psnr_db": float(m[:, 0].mean()), "per_image_psnr_db": float(m[:, 1].mean()),
                         "difference_db": float((m[:, 1] - m[:, 0]).mean()), "power_mean": float(m[:, 2].mean()),
                         "power_min": float(m[:, 2].min()), "power_max": float(m[:, 2].max())}
        print(f"{cell:18s} fixed {summary[cell]['fixed_psnr_db']:.2f} per-image {summary[cell]['per_image_psnr_db']:.2f} "
              f"({summary[cell]['difference_db']:+.2f} dB), photo power {summary[cell]['power_mean']:.2f} "
              f"[{summary[cell]['power_min']:.2f}, {summary[cell]['power_max']:.2f}]")
    out = {"photos": sorted(photos), "source": a.test_dir or "the validation split of diffradio train",
           "seeds": a.seeds, "summary": summary, "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
