"""Measure the SNR each digital MCS needs (frame error rate ≤ 1e-2, AWGN, the real receiver) and
store it in phy/data/mcs_thresholds.json, which ``phy.mcs.select_mcs`` (the digital baseline) reads.

For each MCS the SNR rises in --step dB steps from a low start until --frames full frames all
decode (zero errors in 100 frames bounds the FER near 1e-2 at ~63 % confidence; use more frames
for a tighter bound). Frames go through ``phy.channel.Channel`` (AWGN at the in-band SNR) and the
streaming ``phy.Receiver``, with no genie knowledge.

Usage: python scripts/calibrate_mcs.py [--frames 100] [--step 0.5] [--out phy/data/mcs_thresholds.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from tqdm import tqdm

from phy import OfdmParams, Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.mcs import CANDIDATES, THRESHOLDS_PATH

START_DB = {"bpsk": -3.0, "qpsk": -1.0, "16qam": 5.0, "64qam": 11.0}


def frame_error_rate(mcs, snr_db: float, n_frames: int, seed: int) -> float:
    """FER of ``n_frames`` full frames of ``mcs`` at ``snr_db`` (in-band, AWGN)."""
    params = OfdmParams()
    tx = Transmitter(params)
    rng = np.random.default_rng(seed)
    n_bytes = tx.max_digital_bytes(mcs.modulation, mcs.code_rate)
    payloads = [rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes() for _ in range(n_frames)]
    bursts = [tx.digital_burst(p, modulation=mcs.modulation, code_rate=mcs.code_rate, frame_index=i,
                               frame_count=n_frames) for i, p in enumerate(payloads)]
    stream = np.concatenate([np.zeros(1000, np.complex64), *bursts, np.zeros(1000, np.complex64)])
    power = float(np.mean([np.mean(np.abs(b[b != 0]) ** 2) for b in bursts]))
    y = Channel(ChannelConfig(snr_db=snr_db, seed=seed), params.sample_rate_hz).apply(stream, power)
    ok = {f.header.frame_index for f in Receiver(params).receive(y)
          if f.crc_ok and f.payload == payloads[f.header.frame_index]}
    return 1.0 - len(ok) / n_frames


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100, help="frames per SNR point (default 100)")
    p.add_argument("--step", type=float, default=0.5, help="SNR step in dB (default 0.5)")
    p.add_argument("--out", default=str(THRESHOLDS_PATH), help="output JSON")
    args = p.parse_args(argv)
    t0 = time.time()
    result = {}
    for mcs in tqdm(CANDIDATES, desc="MCS"):
        snr = START_DB[mcs.modulation] + 4 * (mcs.code_rate - 0.5)
        while snr < 40:
            fer = frame_error_rate(mcs, snr, args.frames, seed=int(round((snr + 50) * 10)))
            tqdm.write(f"{mcs.name:>14}  {snr:5.1f} dB  FER {fer:.3f}")
            if fer == 0.0:
                result[mcs.name] = round(snr, 2)
                break
            snr += args.step
    doc = {"required_snr_db": result,
           "how": (f"scripts/calibrate_mcs.py --frames {args.frames} --step {args.step}: lowest SNR on a "
                   f"{args.step} dB grid at which {args.frames} full frames all decoded (AWGN, real receiver)"),
           "seconds": round(time.time() - t0, 1)}
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=2)
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
