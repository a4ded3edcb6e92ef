"""``diffradio sweep``: SNR × channel × decoder over the held-out photos, through the full PHY.

Every point is one ``link.loopback`` on the simulated radio. Rows go to ``sweep.csv`` as points
finish, so an interrupted sweep resumes where it stopped. Points run in parallel on local processes
or, with ``--ray``, on a Ray cluster (the optional ``diffradio[cluster]`` extra); the CSV is the same.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEY = ("image", "channel", "snr_db", "decoder", "seed")
FIELDS = KEY + ("psnr_db", "ms_ssim", "vif", "frames_sent", "frames_detected", "frames_decoded", "frames_lost",
                "channel_uses", "snr_db_est", "cfo_hz_est", "decode_s", "modulation", "code_rate", "jpeg_quality",
                       "error")


@dataclass(frozen=True)
class Point:
    """One measurement: held-out photo ``image`` at ``snr_db`` (in-band, dB) over ``channel``."""

    image: str
    channel: str
    snr_db: float
    decoder: str
    seed: int
    steps: int = 10
    model: str | None = None
    size: int = 128

    def key(self) -> tuple[str, ...]:
        return (self.image, self.channel, f"{self.snr_db:g}", self.decoder, str(self.seed))


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snr", type=float, nargs="+", default=[0, 5, 10, 15], help="in-band SNRs in dB")
    p.add_argument("--channel", nargs="+", default=["awgn", "tdl-c"], help="channel models")
    p.add_argument("--decoder", nargs="+", default=["diffusion", "direct", "digital"], help="decoders")
    p.add_argument("--images", nargs="+", default=None, help="held-out photo names (default: all)")
    p.add_argument("--size", type=int, default=128,
                   help="short side in pixels the held-out photos are resized to (default 128)")
    p.add_argument("--seeds", type=int, default=1, help="channel/sampler seeds per point")
    p.add_argument("--steps", type=int, default=10, help="diffusion steps")
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")
    p.add_argument("--out", default="out/sweep", help="folder for sweep.csv, plots and the image grid")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local worker processes")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run on Ray: 'auto', 'local' or ray://host:port")
    p.add_argument("--json", action="store_true", help="print one JSON summary")


_CODEC = {}


def run_point(point: Point, grid_dir: str | None = None) -> dict:
    """Measure one point; with ``grid_dir``, also save the received image there for the grid figure."""
    import torch

    from diffradio import link
    from diffradio.commands import measurements, sim_uri
    from semantic import SemanticCodec
    torch.set_num_threads(1)
    if point.model not in _CODEC:
        _CODEC[point.model] = SemanticCodec.from_pretrained(point.model)
    image = sweep_photo(point.image, point.size)
    uri = sim_uri(point.snr_db, point.channel, 0.0, 0.0, point.seed)
    row = dict(zip(KEY, point.key()))
    try:
        transmission, _, rec = link.loopback(image, _CODEC[point.model], uri, decoder=point.decoder,
                                             snr_hint_db=point.snr_db, steps=point.steps, seed=point.seed)
        received = rec.image
        row.update({k: v for k, v in measurements(rec, image, None).items() if k in FIELDS})
        row.update(frames_sent=transmission.frames_sent, modulation=transmission.modulation,
                   code_rate=transmission.code_rate,
                   jpeg_quality=transmission.jpeg.quality if transmission.jpeg else None)
    except link.LinkError as exc:
        # nothing decodable arrived (or the baseline had nothing to send): score the failure image
        from semantic.metrics import all_metrics
        received = np.full_like(image, link.FAILURE_GRAY)
        row.update(all_metrics(image, received), frames_decoded=0, error=str(exc))
    if grid_dir:
        from diffradio.images import write_image
        stem = "_".join(part.replace("_", "-") for part in point.key())
        write_image(Path(grid_dir) / f"{stem}.png", received)
        write_image(Path(grid_dir) / "reference" / f"{point.image.replace('_', '-')}.png", image)
    return row


def _done_keys(csv_path: Path) -> set[tuple[str, ...]]:
    if not csv_path.exists():
        return set()
    with csv_path.open(newline="") as fh:
        return {tuple(r[k] for k in KEY) for r in csv.DictReader(fh)}


def sweep_photo(name: str, size: int) -> np.ndarray:
    """Held-out photo ``name`` resized so that its short side is ``size`` pixels, uint8 (H, W, 3)."""
    from PIL import Image

    from semantic.data import load_photo
    img = Image.fromarray(load_photo(name))
    scale = size / min(img.size)
    return np.asarray(img.resize((round(img.size[0] * scale), round(img.size[1] * scale)),
                                 Image.Resampling.LANCZOS))


def _points(args) -> list[Point]:
    from semantic.data import HELDOUT_PHOTOS
    names = list(HELDOUT_PHOTOS)
    chosen = args.images or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(f"unknown held-out image(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    return [Point(i, c, float(s), d, seed, args.steps, args.model, args.size)
            for i, c, s, d, seed in itertools.product(chosen, args.channel, args.snr, args.decoder, range(args.seeds))]


def _execute(todo: list[Point], args, grid_dir: str):
    """Yield rows as points finish, locally or on Ray."""
    if args.ray:
        import ray
        ray.init(address=None if args.ray == "local" else args.ray, ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)
        remote = ray.remote(run_point)
        pending = [remote.remote(p, grid_dir) for p in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
        return
    if args.workers <= 1:
        for p in todo:
            yield run_point(p, grid_dir)
        return
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for fut in as_completed([pool.submit(run_point, p, grid_dir) for p in todo]):
            yield fut.result()


def run_sweep(args) -> dict:
    """Run (or resume) the sweep; write sweep.csv, the plots and the image grid; return a summary."""
    from tqdm import tqdm

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "sweep.csv"
    points = _points(args)
    done = _done_keys(csv_path)
    todo = [p for p in points if p.key() not in done]
    grid_dir = out / "images"
    new_file = not csv_path.exists()
    with csv_path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        for row in tqdm(_execute(todo, args, str(grid_dir)), total=len(todo), desc="sweep",
                        disable=args.json):
            writer.writerow(row)
            fh.flush()
    from diffradio.figures import plot_sweep
    figures = plot_sweep(csv_path, out)
    return {"csv": str(csv_path), "points": len(points), "run_now": len(todo), "resumed": len(points) - len(todo),
            "figures": [str(f) for f in figures]}
