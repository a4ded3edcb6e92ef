"""Classic test photos through the whole link: PSNR, MS-SSIM and colour at one SNR, per photo.

Each photo (a scikit-image or scikit-learn one, see ``semantic.data.load_photo``, or an image
file such as a Kodak photo) is resized to a
short side of --size pixels and centre-cropped to --size x --size, then sent with
``link.loopback`` through the simulated radio (like ``diffradio loopback``: OFDM, AWGN or TDL
fading at --snr dB in-band, the real receiver, the model's default decoder), once per seed.
Colour is CIEDE2000 and the chroma ratio (``semantic.metrics.colour_fidelity``): a saturated
green turned grey shows as a chroma ratio well below 1. A photo in the model's training list
(its ``data_split.json``) is measured but marked ``in_training`` (null when the model has no
training list). Writes one JSON object and a figure (sent above, the
first seed's reception below).

Usage: python experiments/classic_images.py [--model default|DIR] [--photo astronaut ...] [--size 256]
       [--snr 10] [--channel awgn] [--seeds 3] --out docs/results/classic_images.json
       [--figure docs/figures/classic_images.jpg]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tqdm import tqdm

from diffradio import link
from diffradio.images import atomic_target
from diffradio.settings import LinkSettings
from diffradio.sweep import sweep_photo
from phy import ChannelConfig
from semantic import SemanticCodec
from semantic.codec import DEFAULT_WEIGHTS
from semantic.data import centre_crop
from semantic.metrics import colour_fidelity, ms_ssim, psnr

#: Colour photos shipped by scikit-image / scikit-learn that people know as test images.
CLASSIC = ("astronaut", "chelsea", "coffee", "rocket", "sklearn:china", "sklearn:flower")


def training_list(model: str) -> set[str] | None:
    """Names of the photos the model at ``model`` ('default' = shipped) was trained on, from its
    ``data_split.json`` (``diffradio train`` writes it, ``scripts/ship_model.py`` ships it); None
    when the model does not say."""
    split = (DEFAULT_WEIGHTS if model == "default" else Path(model)) / "data_split.json"
    return set(json.loads(split.read_text())["train_photos"]) if split.exists() else None


def in_training(name: str, trained_on: set[str] | None) -> bool | None:
    """Whether photo ``name`` (a package name or a file) is in a training list (entries are
    compared whole and by file name); None when the list is unknown."""
    if trained_on is None:
        return None
    return name in trained_on or Path(name).name in {Path(t).name for t in trained_on}


def _stats(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="'default' (shipped) or a SemanticCodec directory")
    p.add_argument("--photo", nargs="+", default=list(CLASSIC),
                   help="packaged photo names (semantic.data.load_photo) or image files")
    p.add_argument("--size", type=int, default=256, help="crop side in pixels (default 256)")
    p.add_argument("--snr", type=float, default=10.0, help="in-band SNR in dB (default 10)")
    p.add_argument("--channel", default="awgn", help="simulated channel (default awgn)")
    p.add_argument("--seeds", type=int, default=3, help="noise seeds per photo (default 3)")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--figure", help="PNG: the sent crops above, the first seed's receptions below")
    args = p.parse_args(argv)
    codec = SemanticCodec.from_pretrained(None if args.model == "default" else args.model)
    trained_on = training_list(args.model)
    photos, shown = [], []
    with tqdm(total=len(args.photo) * args.seeds, desc="classic photos", unit="run") as bar:
        for name in args.photo:
            sent = centre_crop(sweep_photo(name, args.size), args.size, args.size)
            runs = []
            for seed in range(args.seeds):
                radio = ChannelConfig(snr_db=args.snr, channel=args.channel, seed=seed)
                settings = LinkSettings(snr_hint_db=args.snr, seed=seed, channel=args.channel)
                _, _, rec = link.loopback(sent, codec, radio, settings)
                runs.append({"seed": seed, "psnr_db": psnr(sent, rec.image), "ms_ssim": ms_ssim(sent, rec.image),
                             **colour_fidelity(sent, rec.image),
                             "frames_lost": rec.frames_expected - rec.frames_decoded})
                if seed == 0:
                    shown.append((name, sent, rec.image))
                bar.update()
            photos.append({"photo": name, "in_training": in_training(name, trained_on), "runs": runs,
                           **{k: _stats([r[k] for r in runs]) for k in ("psnr_db", "ms_ssim", "delta_e", "chroma_ratio")}})
    outside = [ph for ph in photos if ph["in_training"] is False]
    result = {"command": "python experiments/classic_images.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "model": args.model, "size": args.size, "snr_db": args.snr, "channel": args.channel,
              "seeds": args.seeds, "decoder": codec.default_method, "photos": photos,
              "outside_training_min_psnr_db": min((ph["psnr_db"]["mean"] for ph in outside), default=None)}
    with atomic_target(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    if args.figure:
        _figure(shown, photos, Path(args.figure))
    print(json.dumps({Path(ph["photo"]).name: round(ph["psnr_db"]["mean"], 2) for ph in photos}))
    return 0


def _figure(shown: list, photos: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(shown), figsize=(2.6 * len(shown), 5.6), squeeze=False)
    for col, ((name, sent, got), ph) in enumerate(zip(shown, photos)):
        axes[0, col].imshow(sent)
        axes[0, col].set_title(Path(name).name + (" (trained on)" if ph["in_training"] else ""), fontsize=9)
        axes[1, col].imshow(got)
        axes[1, col].set_title(f"{ph['psnr_db']['mean']:.1f} dB, chroma x{ph['chroma_ratio']['mean']:.2f}", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")   # photos: JPEG keeps the figure small
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="jpg" if jpeg else "png", dpi=80, **({"pil_kwargs": {"quality": 90}} if jpeg else {}))
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
