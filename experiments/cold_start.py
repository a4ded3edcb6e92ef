"""Cold start: wall and CPU time of ``diffradio replay`` of each shipped capture in a fresh process,
and of the heavy imports it may need.

Each replay runs as ``python -m diffradio.cli replay CAPTURE --out TMP.png --json`` in a new
process (the default decoder and steps): with numba's cache warm (after one unmeasured run) and
with it cold (``NUMBA_CACHE_DIR`` an empty folder: every kernel compiles). CPU time is the child's
user + system time (``resource.getrusage(RUSAGE_CHILDREN)``): on a shared machine it is the figure
to compare, wall time depends on the load, which is recorded beside it (``os.getloadavg``).

Usage: python experiments/cold_start.py [--repeats 2] [--captures clean ...] [--no-imports] [--root TREE]
                                    [--out docs/results/cold_start.json]
(``--root``: measure another checkout of diffradio, e.g. an older commit, with this script.)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
IMPORTS = {"torch": "import torch",
           "diffusers UNet2DModel": "from diffusers import UNet2DModel",
           "sionna LDPC5GDecoder": "from sionna.phy.fec.ldpc import LDPC5GDecoder",
           "diffradio.commands (replay's own modules)": "import diffradio.commands"}


def timed(cmd: list[str], root: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of running ``cmd`` in ``root`` to completion; RuntimeError if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def duration_ms(meta: Path) -> float:
    """Length of a capture in ms, from its datatype (cf32_le: 8 bytes a sample, ci16_le: 4) and rate."""
    core = json.loads(meta.read_text())["global"]
    size = meta.with_suffix(".sigmf-data").stat().st_size
    return round(size / {"cf32_le": 8, "ci16_le": 4}[core["core:datatype"]] / core["core:sample_rate"] * 1e3, 1)


def _median(runs: list[tuple[float, float]]) -> dict:
    return {"wall_s": round(statistics.median(r[0] for r in runs), 2),
            "cpu_s": round(statistics.median(r[1] for r in runs), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2, help="measured runs per case (median reported)")
    p.add_argument("--captures", nargs="*", default=None, help="capture names (default: every shipped one)")
    p.add_argument("--no-imports", action="store_true", help="skip the import timings")
    p.add_argument("--root", default=str(HERE), help="the diffradio checkout to measure (default: this one)")
    p.add_argument("--out", default="docs/results/cold_start.json", help="result JSON (relative to this checkout)")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    env = {**os.environ, "PYTHONPATH": str(root)}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    result: dict = {"command": "python -m diffradio.cli replay CAPTURE --out TMP.png --json",
                    "commit": commit or None, "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg(),
                    "repeats": args.repeats, "imports": {}, "replay": {}}
    for name, stmt in ({} if args.no_imports else IMPORTS).items():
        runs = [timed([sys.executable, "-c", stmt], root, env) for _ in range(args.repeats)]
        result["imports"][name] = _median(runs)
        print(f"import {name:45s} {result['imports'][name]}", flush=True)
    metas = sorted((root / "captures").glob("*.sigmf-meta"))
    if args.captures:
        metas = [m for m in metas if m.name.removesuffix(".sigmf-meta") in args.captures]
    with tempfile.TemporaryDirectory() as tmp:
        for meta in metas:
            cmd = [sys.executable, "-m", "diffradio.cli", "replay", str(meta), "--out", f"{tmp}/out.png", "--json"]
            timed(cmd, root, env)                             # fills numba's cache
            warm = _median([timed(cmd, root, env) for _ in range(args.repeats)])
            with tempfile.TemporaryDirectory() as cache:
                cold = _median([timed(cmd, root, {**env, "NUMBA_CACHE_DIR": cache})])
            result["replay"][meta.name.removesuffix(".sigmf-meta")] = {
                "duration_ms": duration_ms(meta), "numba_cache_warm": warm, "numba_cache_cold": cold}
            print(f"replay {meta.name:28s} warm {warm}  cold {cold}", flush=True)
    result["loadavg_end"] = os.getloadavg()
    out = HERE / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
