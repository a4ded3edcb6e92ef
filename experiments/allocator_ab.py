"""CPU time of the codec's heavy loops with glibc's default malloc and with ``semantic.allocator``.

Each workload runs in a fresh process, alternately without (A) and with (B)
``semantic.allocator.keep_freed_memory()``, on one torch thread, ``--rounds`` times; the process's
user and system CPU seconds, wall seconds and peak RSS are recorded, and the best round of each
kept. Workloads (shipped codec, the held-out photo ``coffee``):

- ``decode``: ``SemanticCodec.decode`` (direct) of a 768x512 image at 1/24, 4 times;
- ``refine``: ``SemanticCodec.encode`` of a 512x512 crop with 10 steps of transmitter-side refinement;
- ``train``: 6 training steps as ``diffradio train --encoder-lr`` takes them (``ChannelInTheLoop``,
  batch 8 of 128x128 crops, AdamW on every parameter).

Run from the repository root (pin it to one core: ``taskset -c 1``)::

    python experiments/allocator_ab.py --rounds 3 --out docs/results/allocator_ab.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKLOADS = ("decode", "refine", "train")

_CHILD = r'''
import os, resource, sys, time
import numpy as np, torch
if sys.argv[2] == "B":
    from semantic.allocator import keep_freed_memory
    assert keep_freed_memory()
torch.set_num_threads(1)
from semantic import SemanticCodec
from semantic.data import load_photo
codec = SemanticCodec.from_pretrained(None)
photo = load_photo("coffee")
work = sys.argv[1]
if work == "decode":
    img = np.resize(photo, (512, 768, 3)).astype(np.uint8)
    z = codec.encode(img)
    var = np.full_like(z, 0.1)
    run = lambda: [codec.decode(z, var, img.shape) for _ in range(4)]
elif work == "refine":
    img = np.resize(photo, (512, 512, 3)).astype(np.uint8)
    run = lambda: codec.encode(img, refine_steps=10, refine_snr_db=10.0)
else:
    from semantic.train import ChannelInTheLoop
    model = codec.model.float().train()
    model.encoder.requires_grad_(True)
    graph = ChannelInTheLoop(model, train_encoder=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.from_numpy(np.resize(photo, (128, 128 * 8, 3)).astype(np.float32) / 255).permute(2, 0, 1)
    x = torch.stack(x.chunk(8, dim=2))
    def run():
        for _ in range(6):
            var = torch.full((8, 32, 16, 16), 0.1)
            var[:, 16:] = float("inf")
            loss = (graph(x, None, var, g) - x).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
t, w = os.times(), time.perf_counter()
run()
t2 = os.times()
print(json.dumps({"user_s": t2.user - t.user, "sys_s": t2.system - t.system, "wall_s": time.perf_counter() - w,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run_child(work: str, variant: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", "import json\n" + _CHILD, work, variant], capture_output=True,
                         text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    res = {"rounds": a.rounds, "cores_allowed": len(os.sched_getaffinity(0)), "workloads": {}}
    for work in a.workloads:
        runs = {"A": [], "B": []}
        for _ in range(a.rounds):
            for variant in ("A", "B"):
                runs[variant].append(run_child(work, variant))
        best = {v: min(r, key=lambda x: x["user_s"] + x["sys_s"]) for v, r in runs.items()}
        cpu = {v: b["user_s"] + b["sys_s"] for v, b in best.items()}
        res["workloads"][work] = {"default_malloc": runs["A"], "keep_freed_memory": runs["B"],
                                  "best_cpu_s": cpu, "cpu_speedup": cpu["A"] / cpu["B"],
                                  "sys_share_default": best["A"]["sys_s"] / cpu["A"]}
        print(f"{work}: CPU {cpu['A']:.2f} s -> {cpu['B']:.2f} s ({cpu['A'] / cpu['B']:.2f}x; system time "
              f"{best['A']['sys_s']:.2f} -> {best['B']['sys_s']:.2f} s), peak RSS "
              f"{best['A']['max_rss_mb']:.0f} -> {best['B']['max_rss_mb']:.0f} MB")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
