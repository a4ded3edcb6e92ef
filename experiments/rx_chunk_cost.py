"""The receiver's CPU time per frame against the size of the chunks it is fed, and how much one small
NumPy operation costs right after a long one: where the receiver's time goes besides its kernels.

The capture is ``rx_speed_ab``'s 100 analog frames at 20 dB (the ``bench phy`` capture, 560 495
samples); a fresh ``Receiver`` takes it in chunks of each size (time.process_time, best of
``--repeats``, sizes interleaved in every repeat). A fixed cost per ``process`` call (Python glue
that runs per call and per batch of bursts) shows as CPU per frame falling with the chunk size; the
fit cpu_per_run = a + b * calls gives it (``per_call_ms``). ``glue_after_stream_us``: the CPU time of
``phy.sync.gap_dc`` on 600 samples (a typical glue operation) on its own in a loop, and right after
a NumPy pass over 60 000 samples (``np.sin``, ~0.5 MB in, 0.5 MB out), as the receiver's glue runs
after its streaming passes over a chunk. Prints and writes (``--out``) one JSON object.

Example::

    taskset -c 1 python experiments/rx_chunk_cost.py --out docs/results/rx_chunk_cost.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rx_speed_ab import _captures

CHUNKS = (1 << 12, 1 << 13, 1 << 14, 1 << 16, 1 << 18)


def _glue_cost(repeats: int) -> dict:
    """CPU µs of one ``gap_dc`` call, alone in a loop and right after a 60 000-sample ``np.sin``."""
    from phy.params import OfdmParams
    from phy.sync import gap_dc

    p = OfdmParams()
    x = (np.random.default_rng(0).normal(size=70_000) + 1j).astype(np.complex64)
    big = np.random.default_rng(1).normal(size=60_000)
    alone, after = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(1000):
            gap_dc(x, 1000, 1600, p)
        alone.append((time.process_time() - c0) / 1000 * 1e6)
        total = 0.0
        for _ in range(200):
            np.sin(big)
            c0 = time.process_time()
            gap_dc(x, 1000, 1600, p)
            total += time.process_time() - c0
        after.append(total / 200 * 1e6)
    return {"alone_us": min(alone), "after_60k_numpy_pass_us": min(after)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    from phy.rx import Receiver

    p, caps = _captures()
    y = caps["frames"]

    def run(chunk: int) -> tuple[float, int, int]:
        rx = Receiver(p)
        c0 = time.process_time()
        frames = [f for i in range(0, y.size, chunk) for f in rx.process(y[i: i + chunk])] + rx.flush()
        return time.process_time() - c0, len(frames), -(-y.size // chunk)

    best = {c: (np.inf, 0, 0) for c in CHUNKS}
    with threadpool_limits(1):
        run(1 << 16)                                               # compiled kernels loaded
        for _ in range(args.repeats):
            for c in CHUNKS:
                r = run(c)
                best[c] = (min(best[c][0], r[0]), r[1], r[2])
        glue = _glue_cost(args.repeats)
    calls = np.array([best[c][2] for c in CHUNKS], float)
    cpu = np.array([best[c][0] for c in CHUNKS])
    slope, intercept = np.polyfit(calls, cpu, 1)
    result = {"samples": int(y.size), "frames_sent": 100, "repeats": args.repeats,
              "chunks": {str(c): {"process_calls": best[c][2], "frames": best[c][1],
                                  "cpu_ms_per_frame": best[c][0] / 100 * 1e3} for c in CHUNKS},
              "per_call_ms": slope * 1e3, "cpu_ms_at_no_calls": intercept * 1e3,
              "glue_after_stream_us": glue}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
