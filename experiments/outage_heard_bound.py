"""What the control plane loses at the bottom of ``bench outage`` when the stream is known (issue 21):
the runs of ``docs/results/outage.json`` at ``--snr`` whose genie image reaches
``diffradio.outage.GENIE_USEFUL_DB`` but which gave no image, received again by a receiver told the
stream's six headers before the first sample (``Receiver._hear``: every failed header is matched
against them, as once a descriptor has been decoded). Per run: the realisation's in-band SNR, the
receiver's counters (STF triggers, LTF confirmations, headers failed and matched) and the frames it
files, with and without the headers told. Where even the told receiver files no analog frame,
detection and synchronisation lose the bursts before any header could be matched. Run from the
repository root (the transmission as ``bench outage`` builds it, the shipped codec)::

    python experiments/outage_heard_bound.py --snr 0 --out docs/results/outage_heard_bound.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0])
    ap.add_argument("--channel", nargs="+", default=["tdl-c", "rayleigh"])
    ap.add_argument("--outage", type=Path, default=Path("docs/results/outage.json"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from diffradio.link import semantic_transmission
    from diffradio.outage import GENIE_USEFUL_DB, LEAD_RANGE, _radio
    from diffradio.stream import DESCRIPTOR_BYTES
    from diffradio.sweep import sweep_photo
    from phy import OfdmParams, Receiver, Transmitter
    from phy.channel import ChannelConfig
    from semantic import SemanticCodec

    p = OfdmParams()
    bench = json.loads(args.outage.read_text())
    t = semantic_transmission(sweep_photo(bench["photo"], min(bench["image_shape"])), SemanticCodec.from_pretrained(),
                              Transmitter(p, nonce=0x0A7E), stream_id=1)
    clean = Receiver(p, control_lengths=(DESCRIPTOR_BYTES,))
    told = [f.header for f in clean.receive(np.concatenate([np.zeros(1000, np.complex64), *t.bursts,
                                                            np.zeros(3000, np.complex64)]))]
    assert len(told) == len(t.bursts), "the noise-free stream must decode whole"
    rows = []
    for r in bench["runs"]:
        if r["channel"] not in args.channel or r["snr_db"] not in args.snr or r["image"] \
                or r["genie_psnr_db"] < GENIE_USEFUL_DB:
            continue
        lead = int(np.random.default_rng([r["seed"], 2]).integers(LEAD_RANGE[0], LEAD_RANGE[1] + 1))
        radio = _radio(ChannelConfig(snr_db=r["snr_db"], channel=r["channel"], seed=r["seed"]), lead, p)
        for b in t.bursts:
            radio.transmit(b)
        x = np.concatenate(list(radio.stream(1 << 16, None)))
        row = {k: r[k] for k in ("channel", "snr_db", "seed", "realisation_snr_db", "genie_psnr_db")}
        for name, headers in (("alone", []), ("told", told)):
            rx = Receiver(p, control_lengths=(DESCRIPTOR_BYTES,))
            for h in headers:
                rx._hear(h)
            frames = rx.receive(x) + rx.flush()
            row[name] = {"stats": {k: v for k, v in rx.stats.items() if k != "header_cfo_tries"},
                         "frames": [[f.header.mode, f.header.frame_index] for f in frames]}
        rows.append(row)

    def count(name, pred):
        return sum(pred([m for m, _ in row[name]["frames"]]) for row in rows)

    summary = {"runs": len(rows), "bursts_sent": len(rows) * len(t.bursts)}
    for name in ("alone", "told"):
        summary[name] = {"runs_with_a_frame": count(name, bool),
                         "runs_with_an_analog_frame": count(name, lambda m: "analog" in m),
                         "runs_with_a_descriptor_frame": count(name, lambda m: "control" in m),
                         **{k: sum(row[name]["stats"].get(k, 0) for row in rows)
                            for k in ("stf_triggers", "ltf_confirmed", "header_failed", "header_matched", "frames")}}
    res = {"outage_file": str(args.outage), "channels": args.channel, "snr_db": args.snr,
           "genie_useful_db": GENIE_USEFUL_DB, "summary": summary, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
