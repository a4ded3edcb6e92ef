"""Measure the SNR each digital MCS needs per channel family (frame error rate ≤ 1e-2, real receiver)
and store it in phy/data/mcs_thresholds.json, which ``phy.mcs.select_mcs`` (the digital baseline) reads.

Model and criterion. A frame is one full-size 5G LDPC codeword on 48 OFDM symbols, sent through
``phy.channel.Channel`` and the streaming ``phy.Receiver`` (no genie knowledge); it counts as an
error unless its header and CRC-32 decode and the bytes match. On a fading family every frame gets
its own ``Channel.apply`` call, i.e. its own independent, block-static fading realisation (TDL
profile at 300 ns delay spread, average power gain 1), so the FER is averaged over realisations.
An SNR *passes* when at most ``--max-errors`` errors occur in ``--frames`` frames (default 4 in
400: point estimate ≤ 1e-2). Frames are sent in batches of 50 and a point stops as soon as it has
failed. For each MCS the threshold is found by bisection on SNR (resolution ``--resolution`` dB)
between a failing and a passing SNR, and the JSON records the frames, errors and the Clopper–Pearson
95 % interval of the FER at the threshold. FER is not strictly monotone in a finite sample, so a
threshold is the bisection's answer, accurate to about the resolution plus the sampling spread.

Usage: nice -n 10 python scripts/calibrate_mcs.py [--channel awgn tdl-c tdl-a] [--frames 400]
       [--max-errors 4] [--resolution 0.25] [--out phy/data/mcs_thresholds.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import beta

from phy import OfdmParams, Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.mcs import CANDIDATES, THRESHOLDS_PATH

BATCH = 50
MAX_SNR_DB = 45.0
START_DB = {"bpsk": -2.0, "qpsk": 0.0, "16qam": 5.0, "64qam": 11.0}
GAP = 200  # idle samples around each burst


class Trial:
    """Frames of one MCS, ready to be sent: ``BATCH`` bursts of random full payloads."""

    def __init__(self, mcs, params: OfdmParams, seed: int) -> None:
        tx = Transmitter(params)
        rng = np.random.default_rng(seed)
        n_bytes = tx.max_digital_bytes(mcs.modulation, mcs.code_rate)
        self.params = params
        self.payloads = [rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes() for _ in range(BATCH)]
        pad = np.zeros(GAP, np.complex64)
        self.bursts = [np.concatenate([pad, tx.digital_burst(p, modulation=mcs.modulation, code_rate=mcs.code_rate,
                                                             frame_index=i, frame_count=BATCH), pad])
                       for i, p in enumerate(self.payloads)]
        self.power = float(np.mean([np.mean(np.abs(b[b != 0]) ** 2) for b in self.bursts]))

    def errors(self, channel: str, snr_db: float, seed: int) -> int:
        """Frame errors in one batch at ``snr_db`` (each burst its own fading block)."""
        ch = Channel(ChannelConfig(snr_db=snr_db, channel=channel, seed=seed), self.params.sample_rate_hz)
        y = np.concatenate([ch.apply(b, self.power) for b in self.bursts])
        ok = {f.header.frame_index for f in Receiver(self.params).receive(y)
              if f.crc_ok and f.payload == self.payloads[f.header.frame_index]}
        return BATCH - len(ok)


def measure(trial: Trial, channel: str, snr_db: float, frames: int, max_errors: int) -> tuple[bool, int, int]:
    """(passed, frames sent, errors) at ``snr_db``; stops at the first batch that makes it fail."""
    sent = errors = 0
    while sent < frames:
        errors += trial.errors(channel, snr_db, seed=int(round(snr_db * 100)) * 1000 + sent // BATCH + 10**6)
        sent += BATCH
        if errors > max_errors:
            return False, sent, errors
    return True, sent, errors


def fer_interval(errors: int, frames: int) -> list[float]:
    """Clopper–Pearson 95 % interval of the frame error rate."""
    lo = 0.0 if errors == 0 else float(beta.ppf(0.025, errors, frames - errors + 1))
    hi = 1.0 if errors == frames else float(beta.ppf(0.975, errors + 1, frames - errors))
    return [round(lo, 5), round(hi, 5)]


def threshold(mcs, channel: str, args, log) -> dict | None:
    """Bisection for the lowest passing SNR of ``mcs`` on ``channel``; None if 45 dB does not pass."""
    trial = Trial(mcs, OfdmParams(), seed=7)
    start = START_DB[mcs.modulation] + 4 * (mcs.code_rate - 0.5)
    lo = start
    passed, n, e = measure(trial, channel, lo, args.frames, args.max_errors)
    log(mcs, channel, lo, passed, n, e)
    while passed:  # make sure the bracket starts at a failing SNR
        lo -= 3.0
        passed, n, e = measure(trial, channel, lo, args.frames, args.max_errors)
        log(mcs, channel, lo, passed, n, e)
    hi, step, at_hi = lo, 3.0, None
    while at_hi is None:
        hi = min(hi + step, MAX_SNR_DB)
        passed, n, e = measure(trial, channel, hi, args.frames, args.max_errors)
        log(mcs, channel, hi, passed, n, e)
        if passed:
            at_hi = (n, e)
        elif hi >= MAX_SNR_DB:
            return None
        else:
            lo, step = hi, step * 1.5
    while hi - lo > args.resolution:
        mid = round((lo + hi) / 2 / 0.05) * 0.05
        passed, n, e = measure(trial, channel, mid, args.frames, args.max_errors)
        log(mcs, channel, mid, passed, n, e)
        if passed:
            hi, at_hi = mid, (n, e)
        else:
            lo = mid
    n, e = at_hi
    return {"snr_db": round(hi, 2), "frames": n, "errors": e, "fer_ci95": fer_interval(e, n)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channel", nargs="+", default=["awgn", "tdl-c", "tdl-a"], help="channel families")
    p.add_argument("--frames", type=int, default=400, help="frames per passing SNR point (default 400)")
    p.add_argument("--max-errors", type=int, default=4, help="errors allowed in --frames (default 4)")
    p.add_argument("--resolution", type=float, default=0.25, help="bisection resolution in dB (default 0.25)")
    p.add_argument("--out", default=str(THRESHOLDS_PATH), help="output JSON (updated channel by channel)")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    out = Path(args.out)

    def log(mcs, channel, snr, passed, n, e):
        print(f"{channel:>6} {mcs.name:>14} {snr:6.2f} dB  {'pass' if passed else 'fail'}  {e}/{n}", flush=True)

    for channel in args.channel:
        t0 = time.process_time()
        entries = {}
        for mcs in CANDIDATES:
            entries[mcs.name] = threshold(mcs, channel, args, log)
        doc = json.loads(out.read_text()) if out.exists() else {}  # re-read: other runs add channels
        if "channels" not in doc:  # an older single-channel file: start afresh
            doc = {"channels": {}}
        doc["channels"][channel] = {
            "required_snr_db": {k: (v["snr_db"] if v else None) for k, v in entries.items()},
            "points": entries,
            "cpu_s": round(time.process_time() - t0, 1),
        }
        doc["how"] = (f"nice -n 10 python scripts/calibrate_mcs.py --channel CHANNEL "
                      f"--frames {args.frames} --max-errors {args.max_errors} --resolution {args.resolution}")
        doc["criterion"] = (f"lowest SNR (bisection, {args.resolution} dB) with at most {args.max_errors} frame "
                            f"errors in {args.frames} full frames, each frame its own fading realisation; "
                            "fer_ci95 = Clopper-Pearson 95 % interval at that SNR")
        out.write_text(json.dumps(doc, indent=2) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
