"""The digital baseline (AVIF + 5G LDPC through the full PHY) against JPEG at the same source bytes.

For each photo (centre crop of --crop pixels; a held-out photo name or a path): one
``link.loopback`` with the digital decoder on the simulated radio (like ``diffradio loopback
--decoder digital``), then the best JPEG (``semantic.source_codec.fit``) no larger than the bytes the
digital link carried. Writes one JSON object (``runs``: one per photo) that the README table is
generated from.

Usage: python experiments/digital_vs_jpeg.py [--image coffee PATH ...] [--crop 256] [--snr 10]
       [--channel awgn] [--seed 0] --out docs/results/digital_vs_jpeg.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from diffradio import link
from diffradio.images import read_image
from diffradio.settings import LinkSettings
from diffradio.sweep import sweep_photo
from phy import ChannelConfig
from semantic import SemanticCodec, source_codec
from semantic.data import HELDOUT_PHOTOS, centre_crop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", nargs="+", default=["coffee"], help="held-out photo names or image paths")
    p.add_argument("--crop", type=int, default=256, help="centre crop side in pixels (default 256)")
    p.add_argument("--snr", type=float, default=10.0, help="in-band SNR in dB (default 10)")
    p.add_argument("--channel", default="awgn", help="simulated channel (default awgn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="result JSON")
    args = p.parse_args(argv)
    codec = SemanticCodec.from_pretrained()
    runs = []
    for name in args.image:
        full = sweep_photo(name, args.crop) if name in HELDOUT_PHOTOS else read_image(name)
        image = centre_crop(full, args.crop, args.crop)
        radio = ChannelConfig(snr_db=args.snr, channel=args.channel, seed=args.seed)
        settings = LinkSettings(scheme="digital", snr_hint_db=args.snr, channel=args.channel)
        transmission, _, rec = link.loopback(image, codec, radio, settings)
        report = link.digital_report(transmission)
        measured = link.measurements(rec, image, None)
        jpeg = source_codec.fit(image, report["source_bytes"], "jpeg")
        runs.append(dict(photo=Path(name).name, size=args.crop, snr_db=args.snr, channel=args.channel,
                         seed=args.seed, psnr_db=measured["psnr_db"], ms_ssim=measured["ms_ssim"],
                         frames_lost=measured["frames_lost"], frames_expected=measured["frames_expected"],
                         channel_uses=transmission.channel_uses, **report,
                         jpeg_bytes=len(jpeg.data) if jpeg else None,
                         jpeg_psnr_db=jpeg.psnr_db if jpeg else None))
        print(json.dumps(runs[-1]), file=sys.stderr)
    doc = {"how": "python experiments/digital_vs_jpeg.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
