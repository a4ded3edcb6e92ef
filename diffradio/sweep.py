"""``diffradio sweep``: SNR × channel × decoder over the held-out photos, through the full PHY.

Every point is one ``link.loopback`` on the simulated radio (seed = fading and noise realisation;
the semantic and digital rows of one (image, channel, SNR, seed) see the same realisation). Rows
go to ``sweep.csv`` as points finish, so an interrupted sweep resumes where it stopped; the resume
key holds the model's fingerprint, the diffusion steps, the image size, the source codec, the
bandwidth ratio (the digital rows get the semantic stream's channel uses at that ratio) and the
refinement steps, so a new model or setting never reuses old rows. Besides the decoders:

- ``direct-refined``: the semantic link with the transmitter refining the latents for the point's
  nominal SNR (``--refine-steps`` decoder passes, ``semantic.refine``), decoded by ``direct``: the
  semantic transmitter given the knowledge the calibrated digital MCS is chosen with;

and two digital references:

- ``digital-oracle``: the best MCS in hindsight for this realisation: the most efficient MCS whose
  every frame decodes (searched by bisection over the MCS list ordered by efficiency, assuming a
  realisation that decodes an MCS also decodes the more robust ones);
- ``capacity``: the source codec at the Shannon capacity of the same channel uses and this
  realisation (no PHY): bytes = channel uses × C / 8, C = mean over the data subcarriers of
  log2(1 + SNR·|H_k|²) (|H_k| = 1 on AWGN).

A row whose image did not arrive (no frame detected, or a digital stream with a frame missing: the
mid-gray failure image) has ``image_lost`` = 1 and is scored like any other. ``sweep_summary.csv``
gives, per (channel, SNR, decoder), the mean and the 95 % Student-t interval of the mean over
images × seeds (for ``image_lost``: the share of lost images); ``sweep_paired.csv`` the mean and
interval of paired differences (direct − digital, direct − digital-oracle, direct-refined − digital
and − direct, and with a diffusion decoder diffusion − direct and − digital, on the same photo and
realisation), which is what says whether one scheme beats another. Points run in parallel on
local processes or, with ``--ray``, on a Ray cluster (the optional ``diffradio[cluster]`` extra); the CSV is the same.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import os
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DECODERS = ("direct", "direct-refined", "diffusion", "digital", "digital-oracle", "capacity")
DEFAULT_DECODERS = ("direct", "digital", "digital-oracle", "capacity")
KEY = ("image", "channel", "snr_db", "decoder", "seed", "model", "steps", "size", "source_codec", "bandwidth_ratio",
       "refine_steps")
FIELDS = KEY + ("psnr_db", "ms_ssim", "vif", "frames_sent", "frames_detected", "frames_decoded", "frames_lost",
                "channel_uses", "snr_db_est", "cfo_hz_est", "decode_s", "mcs", "source_bytes", "source_quality",
                "source_downscale", "capacity_bits_per_use", "image_lost", "error")
SUMMARY_METRICS = ("psnr_db", "ms_ssim", "vif", "image_lost")
SUMMARY_FIELDS = ("channel", "snr_db", "decoder", "n") + tuple(
    f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "ci_lo", "ci_hi")) + ("mcs",)
PAIRS = (("direct", "digital"), ("direct", "digital-oracle"), ("direct-refined", "digital"),
         ("direct-refined", "direct"), ("diffusion", "direct"), ("diffusion", "digital"))
"""(a, b) decoder pairs whose paired differences a − b (same photo, same realisation) ``sweep_paired.csv`` holds."""
PAIRED_METRICS = ("psnr_db", "ms_ssim")
PAIRED_FIELDS = ("channel", "snr_db", "a", "b", "n") + tuple(
    f"{m}_diff_{s}" for m in PAIRED_METRICS for s in ("mean", "ci_lo", "ci_hi"))


@dataclass(frozen=True)
class Point:
    """One measurement: held-out photo ``image`` at ``snr_db`` (in-band, dB) over ``channel``.

    ``model`` is the codec path (None: shipped default) and ``fingerprint`` its content hash;
    ``refine_steps`` the transmitter's refinement passes (``direct-refined`` only, 0 for the others).
    """

    image: str
    channel: str
    snr_db: float
    decoder: str
    seed: int
    steps: int = 10
    model: str | None = None
    size: int = 128
    source_codec: str = "avif"
    fingerprint: str = ""
    bandwidth_ratio: str = "1/24"
    refine_steps: int = 0

    def key(self) -> tuple[str, ...]:
        return (self.image, self.channel, f"{self.snr_db:g}", self.decoder, str(self.seed), self.fingerprint,
                str(self.steps), str(self.size), self.source_codec, self.bandwidth_ratio, str(self.refine_steps))


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    """The sweep's options (``diffradio.cli`` adds ``--source-codec``)."""
    p.add_argument("--snr", type=float, nargs="+", default=[0, 5, 10, 15], help="in-band SNRs in dB")
    p.add_argument("--channel", nargs="+", default=["awgn", "tdl-c"], help="channel models")
    p.add_argument("--decoder", nargs="+", default=list(DEFAULT_DECODERS), choices=DECODERS,
                   help=f"decoders and digital references (default: {' '.join(DEFAULT_DECODERS)}; diffusion needs "
                        "a model with a diffusion prior)")
    p.add_argument("--bandwidth-ratio", choices=("1/12", "1/24", "1/48"), default="1/24",
                   help="semantic stream's bandwidth ratio; the digital rows get its channel uses (default 1/24)")
    p.add_argument("--images", nargs="+", default=None, help="held-out photo names (default: all)")
    p.add_argument("--size", type=int, default=128,
                   help="short side in pixels the held-out photos are resized to (default 128)")
    p.add_argument("--seeds", type=int, default=5, help="channel/sampler seeds (realisations) per point (default 5)")
    p.add_argument("--steps", type=int, default=10, help="diffusion steps")
    p.add_argument("--refine-steps", type=int, default=20, metavar="N",
                   help="direct-refined: decoder passes that refine the latents for the nominal SNR (default 20)")
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")
    p.add_argument("--out", default="out/sweep", help="folder for sweep.csv, sweep_summary.csv, plots, image grid")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local worker processes")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run on Ray: 'auto', 'local' or ray://host:port")
    p.add_argument("--json", action="store_true", help="print one JSON summary")


def model_fingerprint(model: str | None) -> str:
    """First 12 hex digits of the SHA-256 of a codec directory's files (None: the shipped default);
    a hub id is its own fingerprint."""
    from semantic.codec import DEFAULT_WEIGHTS
    path = DEFAULT_WEIGHTS if model is None else Path(model)
    if not path.is_dir():
        return str(model)
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(str(f.relative_to(path)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def capacity_bits_per_use(snr_db: float, channel: str, seed: int) -> float:
    """Shannon capacity (bits per complex channel use) of the simulated radio's realisation
    ``seed`` of ``channel`` at in-band ``snr_db``: mean over the data subcarriers of
    log2(1 + SNR·|H_k|²), with H the realisation's frequency response (the sim radio's channel
    draws its fading first, so the same seed gives the same taps)."""
    from phy import OfdmParams
    from phy.channel import Channel, ChannelConfig
    params = OfdmParams()
    snr = 10 ** (snr_db / 10)
    if channel == "awgn":
        return float(np.log2(1 + snr))
    impulse = np.zeros(4 * params.n_fft, complex)
    impulse[params.n_fft] = 1.0
    response = Channel(ChannelConfig(channel=channel, seed=seed), params.sample_rate_hz).apply(impulse)
    window = response[params.n_fft // 2:params.n_fft // 2 + params.n_fft]  # the whole response, circularly
    gain = np.abs(np.fft.fft(window)[params.bins(params.data_subcarriers)]) ** 2
    return float(np.mean(np.log2(1 + snr * gain)))


_CODEC = {}


def _loopback(point: Point, image: np.ndarray, decoder: str, mcs=None):
    """One loopback of ``point`` with ``decoder`` ('digital', a semantic method or 'direct-refined': the
    latents refined by ``point.refine_steps`` passes for the nominal SNR) and, for the digital scheme,
    ``mcs`` (a ``phy.mcs.Mcs``; None = the calibrated choice)."""
    from diffradio import link
    from diffradio.settings import LinkSettings
    from phy.channel import ChannelConfig
    radio = ChannelConfig(snr_db=float(point.snr_db), channel=point.channel, seed=point.seed)
    settings = LinkSettings.for_decoder("direct" if decoder == "direct-refined" else decoder, snr_hint_db=point.snr_db,
                                        steps=point.steps, seed=point.seed, channel=point.channel,
                                        source_codec=point.source_codec, bandwidth_ratio=point.bandwidth_ratio,
                                        mcs=mcs, refine_steps=point.refine_steps)
    return link.loopback(image, _CODEC[point.model], radio, settings)


def _oracle(point: Point, image: np.ndarray):
    """Loopback at the most efficient MCS that decodes every frame of this realisation (bisection)."""
    from diffradio import link
    from phy.mcs import CANDIDATES
    ordered = sorted(CANDIDATES, key=lambda m: m.efficiency)
    results = {}

    def attempt(i):
        try:
            results[i] = _loopback(point, image, decoder="digital", mcs=ordered[i])
        except link.LinkError as exc:
            results[i] = exc
        r = results[i]
        return not isinstance(r, Exception) and r[2].frames_decoded == r[2].frames_expected \
            and not r[2].extra.get("failure_image")

    lo, hi = -1, len(ordered)  # ordered[lo] decodes (or none), ordered[hi] fails (or none)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if attempt(mid) else (lo, mid)
    best = results[max(lo, 0)]
    if isinstance(best, Exception):
        raise best
    return best


def _capacity_row(point: Point, image: np.ndarray) -> tuple[dict, np.ndarray]:
    from diffradio import link
    from semantic import source_codec
    from semantic.metrics import all_metrics
    codec = _CODEC[point.model]
    channel_uses = codec.values_per_image(image.shape, point.bandwidth_ratio) // 2
    c = capacity_bits_per_use(point.snr_db, point.channel, point.seed)
    fit = source_codec.fit(image, int(channel_uses * c // 8), point.source_codec)
    received = source_codec.decode(fit.data, image.shape[:2]) if fit else np.full_like(image, link.FAILURE_GRAY)
    row = dict(all_metrics(image, received), channel_uses=channel_uses, capacity_bits_per_use=round(c, 4),
               image_lost=int(fit is None))
    if fit:
        row.update(source_bytes=len(fit.data), source_quality=fit.quality, source_downscale=fit.downscale)
    else:
        row.update(error="no encoding fits the capacity")
    return row, received


def run_point(point: Point, grid_dir: str | None = None) -> dict:
    """Measure one point; with ``grid_dir``, also save the received image there for the grid figure."""
    import torch

    from diffradio import link
    from semantic import SemanticCodec
    torch.set_num_threads(1)
    if point.model not in _CODEC:
        _CODEC[point.model] = SemanticCodec.from_pretrained(point.model)
    image = sweep_photo(point.image, point.size)
    row = dict(zip(KEY, point.key()))
    try:
        if point.decoder == "capacity":
            values, received = _capacity_row(point, image)
            row.update(values)
        else:
            transmission, _, rec = (_oracle(point, image) if point.decoder == "digital-oracle"
                                    else _loopback(point, image, decoder=point.decoder))
            received = rec.image
            row.update({k: v for k, v in link.measurements(rec, image, None).items() if k in FIELDS})
            row.update(frames_sent=transmission.frames_sent, image_lost=int(bool(rec.extra.get("failure_image"))), **{
                k: v for k, v in link.digital_report(transmission).items() if k in FIELDS})
    except link.LinkError as exc:
        # nothing decodable arrived (or the baseline had nothing to send): score the failure image
        from semantic.metrics import all_metrics
        received = np.full_like(image, link.FAILURE_GRAY)
        row.update(all_metrics(image, received), frames_decoded=0, image_lost=1, error=str(exc))
    if grid_dir:
        from diffradio.images import write_image
        stem = "_".join(part.replace("_", "-") for part in point.key()[:5])
        write_image(Path(grid_dir) / f"{stem}.png", received)
        write_image(Path(grid_dir) / "reference" / f"{point.image.replace('_', '-')}.png", image)
    return row


def _read_rows(csv_path: Path) -> list[dict]:
    if not csv_path.exists():
        return []
    with csv_path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def sweep_photo(name: str, size: int) -> np.ndarray:
    """Photo ``name`` resized so that its short side is ``size`` pixels, uint8 (H, W, 3): a packaged
    photo (``semantic.data.load_photo``) or, when ``name`` is an existing file, that image."""
    from PIL import Image

    from diffradio.images import read_image
    from semantic.data import load_photo
    img = Image.fromarray(read_image(name) if Path(name).is_file() else load_photo(name))
    scale = size / min(img.size)
    return np.asarray(img.resize((round(img.size[0] * scale), round(img.size[1] * scale)),
                                 Image.Resampling.LANCZOS))


def _points(args) -> list[Point]:
    from semantic.data import HELDOUT_PHOTOS
    from semantic.source_codec import check_codec, default_codec
    names = list(HELDOUT_PHOTOS)
    chosen = args.images or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(f"unknown held-out image(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if "direct-refined" in args.decoder and args.refine_steps < 1:
        raise ValueError(f"--refine-steps {args.refine_steps}: direct-refined needs at least 1 (e.g. 20)")
    codec = check_codec(args.source_codec) if args.source_codec else default_codec()
    fingerprint = model_fingerprint(args.model)
    return [Point(i, c, float(s), d, seed, args.steps, args.model, args.size, codec, fingerprint, args.bandwidth_ratio,
                  args.refine_steps if d == "direct-refined" else 0)
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


def mean_interval(values) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % Student-t confidence interval of the mean (low = high = mean for n = 1)."""
    from scipy.stats import t
    x = np.asarray(values, dtype=float)
    mean = float(np.mean(x))
    if x.size < 2:
        return mean, mean, mean
    half = float(t.ppf(0.975, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def summarise(rows: list[dict]) -> list[dict]:
    """Per (channel, SNR, decoder): n, mean and 95 % interval of each metric, and the most used MCS."""
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["channel"], float(r["snr_db"]), r["decoder"])].append(r)
    order = {d: i for i, d in enumerate(DECODERS)}
    out = []
    for (channel, snr, decoder), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                               order.get(kv[0][2], 99))):
        entry = {"channel": channel, "snr_db": f"{snr:g}", "decoder": decoder, "n": len(rs)}
        for metric in SUMMARY_METRICS:
            vals = [float(r[metric]) for r in rs if r.get(metric) not in (None, "")]
            if vals:
                m, lo, hi = mean_interval(vals)
                entry.update({f"{metric}_mean": round(m, 4), f"{metric}_ci_lo": round(lo, 4),
                              f"{metric}_ci_hi": round(hi, 4)})
        mcs = Counter(r["mcs"] for r in rs if r.get("mcs"))
        entry["mcs"] = mcs.most_common(1)[0][0] if mcs else ""
        out.append(entry)
    return out


def paired(rows: list[dict]) -> list[dict]:
    """Per (channel, SNR) and pair (a, b) of ``PAIRS``: mean and 95 % interval of a − b over the
    (photo, seed) realisations both rows have — the interval of the difference, not of each mean."""
    by = {(r["channel"], float(r["snr_db"]), r["decoder"], r["image"], r["seed"]): r for r in rows}
    points = sorted({(r["channel"], float(r["snr_db"])) for r in rows})
    out = []
    for channel, snr in points:
        for a, b in PAIRS:
            keys = sorted((k[3], k[4]) for k in by if k[:3] == (channel, snr, a) and (channel, snr, b, *k[3:]) in by)
            if not keys:
                continue
            entry = {"channel": channel, "snr_db": f"{snr:g}", "a": a, "b": b, "n": len(keys)}
            for metric in PAIRED_METRICS:
                diffs = [float(by[(channel, snr, a, *k)][metric]) - float(by[(channel, snr, b, *k)][metric])
                         for k in keys]
                m, lo, hi = mean_interval(diffs)
                entry.update({f"{metric}_diff_mean": round(m, 4), f"{metric}_diff_ci_lo": round(lo, 4),
                              f"{metric}_diff_ci_hi": round(hi, 4)})
            out.append(entry)
    return out


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_sweep(args) -> dict:
    """Run (or resume) the sweep; write sweep.csv, then sweep_summary.csv (every row in the CSV with this
    run's model, steps, size and source codec, so that sweeps of other channels or seed counts into the
    same folder add up), the plots and the image grid."""
    from tqdm import tqdm

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "sweep.csv"
    points = _points(args)
    existing = _read_rows(csv_path)
    if existing and tuple(existing[0]) != FIELDS:
        raise ValueError(f"{csv_path} was written by an older diffradio (other columns); use a new --out folder")
    done = {tuple(r[k] for k in KEY) for r in existing}
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
    setting = points[0].key()[5:-1] if points else None  # model, steps, size, source codec, ratio
    rows = [r for r in _read_rows(csv_path) if tuple(r[k] for k in KEY[5:-1]) == setting
            and int(r["refine_steps"]) in (0, args.refine_steps)]
    summary = _write_csv(out / "sweep_summary.csv", SUMMARY_FIELDS, summarise(rows))
    _write_csv(out / "sweep_paired.csv", PAIRED_FIELDS, paired(rows))
    from diffradio.figures import plot_sweep
    figures = plot_sweep(summary, out)
    return {"csv": str(csv_path), "summary": str(summary), "points": len(points), "run_now": len(todo),
            "resumed": len(points) - len(todo), "figures": [str(f) for f in figures]}
