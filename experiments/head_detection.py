"""How far down the stream head (``phy.head``) is found and its map decoded, and what it costs on other
signals (issue 21).

Heads carrying a 27-byte payload (the link's descriptor) with a random CFO in ±20 kHz and a random
lead go through AWGN or one block-static TDL-C realisation at each mean in-band SNR, into the link's
receiver configuration (``Receiver(control_lengths=(27,))``); a trial succeeds when the head's control
frame comes out with the sent payload and stream fields. Each trial also records the realisation's own
in-band SNR (mean |H_k|^2 / sigma^2 over the used subcarriers, from the noiseless channel's response to
the sync), the CFO and start errors. Then the test's behaviour on other signals: 200 analog frames at
20 and 5 dB (OFDM data, the one signal that raises the coherent test: how many windows pass it, how many
then pass the structure test, and the head detections), and 10^7 noise samples. Run from the repository
root::

    python experiments/head_detection.py --trials 100 --out docs/results/head_detection.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from phy import OfdmParams, Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.head import (DETECT_BLOCKS, coherent_test, detect_threshold, head_scores, structure_test,
                      sync_length)
from phy.ofdm import fft_windows
from phy.preamble import ltf_freq

P = OfdmParams()
PAYLOAD = bytes(range(27))


def head_trial(tx: Transmitter, snr_db: float, channel: str, seed: int) -> dict:
    """One head through the channel: decoded or not, errors, the realisation's in-band SNR (dB)."""
    rng = np.random.default_rng([seed, 21])
    lead, cfo = int(rng.integers(500, 3000)), float(rng.uniform(-20e3, 20e3))
    burst = tx.head_burst(PAYLOAD, frame_count=6, stream_id=5)
    power = float(np.mean(np.abs(burst[burst != 0]) ** 2))
    timeline = np.concatenate([np.zeros(lead, np.complex64), burst, np.zeros(3000, np.complex64)])
    cfg = ChannelConfig(snr_db=snr_db, channel=channel, cfo_hz=cfo, seed=seed)
    x = Channel(cfg, P.sample_rate_hz).apply(timeline, signal_power=power)
    clean = Channel(ChannelConfig(channel=channel, seed=seed), P.sample_rate_hz).apply(timeline, signal_power=power)
    periods = lead + P.n_fft * np.arange(8, 40)
    h = fft_windows(P, clean, periods).mean(axis=0) * ltf_freq(P)
    realisation = 10 * np.log10(np.mean(np.abs(h) ** 2) / Channel(cfg, P.sample_rate_hz).noise_variance(power))
    rx = Receiver(P, control_lengths=(len(PAYLOAD),))
    frames = rx.receive(x)
    ok = [f for f in frames if f.payload == PAYLOAD and f.header.nonce == tx.nonce and f.header.stream_id == 5]
    row = {"channel": channel, "snr_db": snr_db, "seed": seed, "realisation_snr_db": float(realisation),
           "detected": rx.stats["head_detections"] > 0, "decoded": bool(ok)}
    if ok:
        row.update(cfo_error_hz=ok[0].cfo_hz - cfo, start_error=ok[0].start_sample - lead)
    return row


def traffic(snr_db: float, n_frames: int, rng) -> dict:
    """Analog frames (random values, idle gaps of 200-600 samples) at ``snr_db``: windows passing the
    coherent test, then the structure test, the structure test's share on the former, head detections."""
    tx = Transmitter(P, nonce=3)
    pieces = []
    for i in range(n_frames):
        pieces += [np.zeros(int(rng.integers(200, 601)), np.complex64),
                   tx.analog_burst(rng.normal(size=tx.max_analog_values()), frame_index=i)]
    x = np.concatenate(pieces)
    power = float(np.mean(np.abs(pieces[1]) ** 2))
    y = Channel(ChannelConfig(snr_db=snr_db, seed=int(rng.integers(1 << 31))), P.sample_rate_hz).apply(
        x, signal_power=power).astype(np.complex64)
    n, k = P.n_fft, DETECT_BLOCKS
    n_windows = y.size // n // k
    score, best, _ = coherent_test(y, n_windows, P)
    passing = score > detect_threshold(P)
    windows = y[: n_windows * k * n].reshape(n_windows, k, n)[passing]
    share = structure_test(windows, best[passing], P, 2)
    scores, _ = head_scores(y, n_windows, P)
    rx = Receiver(P, control_lengths=(len(PAYLOAD),))
    rx.receive(y)
    return {"snr_db": snr_db, "frames": n_frames, "windows": int(n_windows),
            "coherent_test_passing": int(passing.sum()), "detection_passing": int((scores > 0).sum()),
            "structure_share_of_coherent_passing": {q: float(np.percentile(share, q)) if share.size else None
                                                    for q in (50, 90, 99, 100)},
            "head_detections": rx.stats["head_detections"], "heads": rx.stats["heads"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100, help="heads per channel and SNR")
    ap.add_argument("--snr", type=float, nargs="+", default=[-16, -14, -12, -10, -8, -6, 0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    t0 = time.time()
    tx = Transmitter(P, nonce=0x5EED)
    rows = [head_trial(tx, snr, ch, seed) for ch in ("awgn", "tdl-c") for snr in args.snr
            for seed in range(1, args.trials + 1)]
    cells = []
    for ch in ("awgn", "tdl-c"):
        for snr in args.snr:
            rs = [r for r in rows if r["channel"] == ch and r["snr_db"] == snr]
            ok = [r for r in rs if r["decoded"]]
            cells.append({"channel": ch, "snr_db": snr, "trials": len(rs),
                          "detected": float(np.mean([r["detected"] for r in rs])),
                          "decoded": len(ok) / len(rs),
                          "cfo_error_rms_hz": (float(np.sqrt(np.mean([r["cfo_error_hz"] ** 2 for r in ok])))
                                               if ok else None),
                          "start_error_max": int(max(abs(r["start_error"]) for r in ok)) if ok else None})
    by_realisation = []
    edges = np.arange(-18, 1, 2)
    for lo, hi in zip(edges[:-1], edges[1:]):
        rs = [r for r in rows if lo <= r["realisation_snr_db"] < hi]
        if rs:
            by_realisation.append({"from_db": float(lo), "to_db": float(hi), "trials": len(rs),
                                   "decoded": float(np.mean([r["decoded"] for r in rs]))})
    rng = np.random.default_rng(2126)
    noise_rx = Receiver(P, control_lengths=(len(PAYLOAD),))
    for _ in range(40):
        noise_rx.process((rng.normal(size=250_000) + 1j * rng.normal(size=250_000)).astype(np.complex64))
    noise_rx.flush()
    out = {"payload_bytes": len(PAYLOAD), "head_samples": sync_length(P), "cells": cells,
           "by_realisation_snr": by_realisation,
           "traffic": [traffic(s, 200, rng) for s in (20.0, 5.0)],
           "noise": {"samples": 10_000_000, "head_detections": noise_rx.stats["head_detections"]},
           "wall_s": time.time() - t0, "trials": rows}
    args.out.write_text(json.dumps(out, indent=1))
    for c in cells:
        print(f"{c['channel']:6s} {c['snr_db']:6.1f} dB  detected {c['detected']:.2f}  decoded {c['decoded']:.2f}")
    for b in by_realisation:
        print(f"realisation {b['from_db']:5.1f}..{b['to_db']:5.1f} dB: {b['trials']:4d} trials, "
              f"decoded {b['decoded']:.2f}")
    print(json.dumps({k: out[k] for k in ("traffic", "noise")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
