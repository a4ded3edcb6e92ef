"""Receiver speed of two checkouts side by side, in CPU time, on a shared machine.

Each round runs one worker process per checkout in turn (A, B, then B, A, ...), each with that
checkout's ``phy`` first on its path; a worker times ``Receiver`` (time.process_time, best of
``--repeats``) on the same captures (one fixed stream nonce): 100 analog frames of 48 payload
symbols at 20 dB (the ``bench phy`` capture), the same with a DC offset and with a CW spur
(317 kHz) at the noise power, 400 000 samples of noise alone, and 40 streams like the outage
benchmark's (a descriptor, 4 analog frames of 3840 values, the descriptor again) through TDL-C
realisations at -5 dB mean in-band SNR, each received by a fresh receiver (``tdlc_minus5``: where
failed headers make the control plane's searches run). Prints and writes (``--out``)
one JSON object: each checkout's best over the rounds per capture (MS/s, CPU ms per frame, frames
decoded, STF triggers), B's speed over A's (best over best; and per round, with the rounds' median
and range: the spread of the measurement), and each checkout's commit (None outside git).

Example (the commit before the front-end work against this checkout)::

    git worktree add /tmp/rx_old ba459ed
    python experiments/rx_speed_ab.py /tmp/rx_old . --rounds 3 --out docs/results/rx_speed_ab.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = ("frames", "frames_dc", "frames_spur", "noise", "tdlc_minus5")
FADED_STREAMS = 40


def _captures():
    """The captures, built with the checkout's own transmitter and channel model."""
    import numpy as np
    from phy.channel import Channel, ChannelConfig
    from phy.params import OfdmParams
    from phy.tx import Transmitter

    p = OfdmParams()
    tx, rng = Transmitter(p, nonce=0), np.random.default_rng(0)     # one nonce: the same samples on both sides
    pieces = []
    for i in range(100):
        pieces += [np.zeros(int(rng.integers(200, 601)), np.complex64),
                   tx.analog_burst(rng.normal(size=tx.max_analog_values()), frame_index=i)]
    x = np.concatenate(pieces)
    power = float(np.mean(np.abs(pieces[1][: pieces[1].size - p.idle_gap]) ** 2))
    ch = Channel(ChannelConfig(seed=0, snr_db=20.0), p.sample_rate_hz)
    y = ch.apply(x, signal_power=power).astype(np.complex64)
    amp = float(np.sqrt(ch.noise_variance(power)))                 # a tone at the noise power
    tone = amp * np.exp(2j * np.pi * 317e3 / p.sample_rate_hz * np.arange(y.size))
    noise = ((rng.normal(size=400_000) + 1j * rng.normal(size=400_000)) / np.sqrt(2)).astype(np.complex64)
    return p, {"frames": y, "frames_dc": (y + amp).astype(np.complex64),
               "frames_spur": (y + tone).astype(np.complex64), "noise": noise, "tdlc_minus5": _faded_streams(p)}


def _faded_streams(p) -> list:
    """FADED_STREAMS captures of one 6-frame stream each through a TDL-C realisation at -5 dB."""
    import numpy as np
    from diffradio.link import _descriptor_bursts
    from diffradio.outage import _radio
    from diffradio.stream import StreamDescriptor, frame_slices
    from phy.channel import ChannelConfig
    from phy.tx import Transmitter

    tx = Transmitter(p, nonce=0x0A7E)
    v = np.random.default_rng(1).normal(size=4 * 3840).astype(np.float32)
    desc = StreamDescriptor("semantic", (192, 288), 4, v.size, (15, 16, 8, 8))       # 15 tiles at 1/24
    first, last = _descriptor_bursts(tx, desc, 1)
    bursts = [first] + [tx.analog_burst(v[sl], frame_index=i, frame_count=desc.frame_count, stream_id=1)
                        for i, sl in enumerate(frame_slices(v.size, 4), start=1)] + [last]
    out = []
    for seed in range(1, FADED_STREAMS + 1):
        radio = _radio(ChannelConfig(snr_db=-5.0, channel="tdl-c", seed=seed), 1000, p)
        for b in bursts:
            radio.transmit(b)
        out.append(np.concatenate(list(radio.stream(1 << 16, None))).astype(np.complex64))
    return out


def worker(repeats: int, control_lengths: tuple[int, ...] = ()) -> dict:
    """Time the checkout on the path; one JSON-able dict per capture. ``control_lengths``: the
    receiver's on the frames and noise captures (with any, a receiver since the stream head, issue 21,
    also searches for heads; the faded streams always get the link's)."""
    from threadpoolctl import threadpool_limits
    from diffradio.stream import DESCRIPTOR_BYTES
    from phy.rx import Receiver

    p, caps = _captures()

    def run(sig, control_lengths=control_lengths):
        if isinstance(sig, list):                   # streams, each to a fresh receiver that knows the descriptor
            runs = [run(s, (DESCRIPTOR_BYTES,)) for s in sig]
            return tuple(sum(r[k] for r in runs) for k in range(3))
        rx = Receiver(p, control_lengths=control_lengths)
        c0 = time.process_time()
        frames = [f for i in range(0, sig.size, 1 << 16) for f in rx.process(sig[i: i + (1 << 16)])] + rx.flush()
        return time.process_time() - c0, len(frames), rx.stats["stf_triggers"]

    out = {}
    with threadpool_limits(1):
        run(caps["frames"][:50_000])                                # compiled kernels loaded
        for name, sig in caps.items():
            cpu, found, triggers = min(run(sig) for _ in range(repeats))
            size = sum(x.size for x in sig) if isinstance(sig, list) else sig.size
            out[name] = {"msps": size / cpu / 1e6, "frames": found, "stf_triggers": triggers,
                         "realtime_factor": size / cpu / p.sample_rate_hz,
                         "cpu_ms_per_frame": cpu / 100 * 1e3 if name.startswith("frames") else None}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="checkout A (e.g. the older commit's worktree)")
    ap.add_argument("b", type=Path, help="checkout B")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per capture in each worker")
    ap.add_argument("--control-lengths", type=int, nargs="*", default=[],
                    help="the receiver's control_lengths on the frames and noise captures (e.g. 27, the link's "
                         "descriptor: then a receiver that has the stream head also searches for heads)")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, tuple(args.control_lengths))))
        return 0
    for d in (args.a, args.b):
        if not (d / "phy" / "rx.py").is_file():
            ap.error(f"{d} is not a diffradio checkout (no phy/rx.py)")
    best: dict = {}
    rounds: dict = {n: [] for n in CASES}          # B's speed over A's in each round (A and B back to back)
    for i in range(args.rounds):
        speed = {}
        for key, d in (("a", args.a), ("b", args.b))[:: 1 if i % 2 == 0 else -1]:     # A first, then B first
            res = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(d), str(d),
                                  "--worker", str(args.repeats), "--control-lengths",
                                  *map(str, args.control_lengths)], cwd=d,
                                 env={**os.environ, "PYTHONPATH": str(d.resolve()), "OPENBLAS_NUM_THREADS": "1"},
                                 capture_output=True, text=True, check=True)
            for name, r in json.loads(res.stdout.strip().splitlines()[-1]).items():
                speed[key, name] = r["msps"]
                if name not in best.setdefault(key, {}) or r["msps"] > best[key][name]["msps"]:
                    best[key][name] = r
        for n in CASES:
            rounds[n].append(speed["b", n] / speed["a", n])
    commits = [subprocess.run(["git", "-C", str(d), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False).stdout.strip() or None for d in (args.a, args.b)]
    result = {"a": str(args.a), "b": str(args.b), "a_commit": commits[0], "b_commit": commits[1],
              "rounds": args.rounds, "repeats": args.repeats, "control_lengths": args.control_lengths,
              "best": best, "b_over_a_speed": {n: best["b"][n]["msps"] / best["a"][n]["msps"] for n in CASES},
              "b_over_a_per_round": rounds,
              "b_over_a_round_median": {n: statistics.median(r) for n, r in rounds.items()},
              "b_over_a_round_range": {n: [min(r), max(r)] for n, r in rounds.items()}}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
