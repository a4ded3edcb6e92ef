"""Receiver-only outage: which realisations of ``diffradio bench outage`` give an image, for the
receiver on the path, without decoding any image (so it runs in minutes, not a quarter of an hour).

The same transmission (the shipped codec's latents of the held-out photo), channels, mean SNRs, seeds
and idle leads as ``diffradio.outage.run_outage_bench``; per run: whether a stream descriptor was
decoded (an image), else the cause (no frame / no descriptor), the realisation's in-band SNR
(``genie_latents``), frames filed, and the receiver's CPU time. Run it with another checkout first on
PYTHONPATH to measure that checkout's receiver on exactly the runs of a committed ``outage.json``
(whose genie PSNRs, which do not depend on the receiver, then tell where an image is useful)::

    git worktree add --detach /tmp/base 786e975
    cd /tmp/base && PYTHONPATH=/tmp/base python /path/to/experiments/outage_receiver_ab.py \\
        --out /path/to/docs/results/outage_receiver_786e975.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--channel", nargs="+", help="channels (default: the bench's)")
    ap.add_argument("--snr", type=float, nargs="+", help="mean in-band SNRs in dB (default: the bench's)")
    ap.add_argument("--genie", type=Path, help="a committed outage.json of the same runs: its genie PSNRs "
                    "give each cell's share of images where the genie's is useful")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from diffradio.link import LinkError, images, receive, semantic_transmission
    from diffradio.outage import CHANNELS, LEAD_RANGE, SNRS_DB, _radio, genie_latents
    from diffradio.sweep import sweep_photo
    from phy.channel import ChannelConfig
    from phy.params import OfdmParams
    from phy.tx import Transmitter
    from semantic import SemanticCodec

    try:                                     # the link's options object (issue 20), else the keyword (786e975)
        from diffradio.link import ReceiveOptions

        def rx(radio):
            return receive(radio, p, ReceiveOptions(keep=1 << 22))
    except ImportError:
        def rx(radio):
            return receive(radio, p, keep=1 << 22)

    p = OfdmParams()
    image = sweep_photo("coffee", 192)
    transmission = semantic_transmission(image, SemanticCodec.from_pretrained(), Transmitter(p, nonce=0x0A7E),
                                         stream_id=1)
    channels, snrs = args.channel or CHANNELS, args.snr or SNRS_DB
    rows = []
    for channel in channels:
        for snr in snrs:
            for seed in range(args.first_seed, args.first_seed + args.runs):
                lead = int(np.random.default_rng([seed, 2]).integers(LEAD_RANGE[0], LEAD_RANGE[1] + 1))
                cfg = ChannelConfig(snr_db=float(snr), channel=channel, seed=seed)
                radio = _radio(cfg, lead, p)
                for burst in transmission.bursts:
                    radio.transmit(burst)
                c0 = time.process_time()
                run = rx(radio)
                cpu = time.process_time() - c0
                try:
                    images(run, first_only=True)
                    image_ok, cause = True, None
                except LinkError:
                    image_ok = False
                    cause = "no_frame" if not run.assembler.frames_detected else "no_descriptor"
                _, _, inst = genie_latents(transmission, run.head, cfg, lead, p)
                rows.append({"channel": channel, "snr_db": float(snr), "seed": seed, "image": image_ok, "cause": cause,
                             "frames_detected": run.assembler.frames_detected, "realisation_snr_db": inst,
                             "rx_cpu_s": cpu})
    genie = {}
    if args.genie:
        from diffradio.outage import GENIE_USEFUL_DB
        genie = {(r["channel"], r["snr_db"], r["seed"]): r["genie_psnr_db"] >= GENIE_USEFUL_DB
                 for r in json.loads(args.genie.read_text())["runs"]}
    cells = []
    for channel in channels:
        for snr in snrs:
            rs = [r for r in rows if r["channel"] == channel and r["snr_db"] == float(snr)]
            cell = {"channel": channel, "snr_db": float(snr), "runs": len(rs),
                    "no_image": sum(not r["image"] for r in rs) / len(rs),
                    "no_frame": sum(r["cause"] == "no_frame" for r in rs) / len(rs),
                    "no_descriptor": sum(r["cause"] == "no_descriptor" for r in rs) / len(rs),
                    "rx_cpu_s": sum(r["rx_cpu_s"] for r in rs)}
            useful = [r for r in rs if genie.get((channel, float(snr), r["seed"]))]
            if useful:
                cell["genie_useful_runs"] = len(useful)
                cell["image_where_genie_useful"] = sum(r["image"] for r in useful) / len(useful)
            cells.append(cell)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip() or None
    res = {"commit": commit, "photo": "coffee", "frames_sent": transmission.frames_sent,
           "realisations_per_cell": args.runs, "first_seed": args.first_seed, "cells": cells, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    for c in cells:
        print(f"{c['channel']:9s} {c['snr_db']:+5.1f} dB  no image {100 * c['no_image']:5.1f} %  "
              f"(no frame {100 * c['no_frame']:.0f} %, no descriptor {100 * c['no_descriptor']:.0f} %)"
              + (f", image where the genie's is useful {100 * c['image_where_genie_useful']:.1f} %"
                 if "image_where_genie_useful" in c else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
