"""Outage benchmark behind ``diffradio bench outage``: how often a loopback gives no image at all.

For every channel (block-static fading: one realisation per run, as the simulated radio draws it) and
mean in-band SNR, ``n`` seeded realisations each send the same semantic stream of one photo through
the simulated radio (``sdr.sim.SimRadio``, the loopback path) and receive it twice:

- **ours**: the real receiver (``diffradio.link.receive`` + ``decode``), no knowledge of timing,
  CFO, channel or stream; a run has *no image* when no stream descriptor was decoded;
- **genie**: knows each burst's first sample, the CFO (0 here), the channel's frequency response
  (from the same realisation without noise: the LTF's FFT over its known values) and the
  descriptor; it zero-forces every payload symbol with that response and hands the values with
  their exact noise variance sigma^2 / |H_k|^2 to the same decoder, so it always gives an image.

Reported per cell: the fraction of runs with no image (split into no frame at all and frames but no
descriptor), the mean PSNR of the images that arrived (ours) and of all the genie's images, the
payload frames lost, the realisation's in-band SNR (mean over the used subcarriers of
|H_k|^2 / sigma^2, dB), and how often ours gives an image, and one of that PSNR, where the genie's
PSNR reaches ``GENIE_USEFUL_DB``. The same JSON holds the control plane's side figures: false alarms on noise
alone, 802.11a bursts (same preamble, foreign payload) that come out as frames, and the receiver's
speed in CPU time (``phy.bench``).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from diffradio.link import LinkError, Transmission, decode, images, receive, transmit
from diffradio.settings import LinkSettings, ReceiveOptions
from diffradio.stream import DESCRIPTOR_BYTES, frame_slices
from phy.analog import symbols_to_values
from phy.channel import Channel, ChannelConfig
from phy.frame import payload_symbols, window_offsets
from phy.header import Header, n_header_symbols
from phy.ofdm import fft_windows, layout
from phy.params import OfdmParams
from phy.preamble import ltf_freq, stf_length
from semantic.metrics import psnr

GENIE_USEFUL_DB = 15.0
"""PSNR (dB) of the genie's image from which a realisation counts as one where an image is useful."""
CHANNELS = ("tdl-c", "rayleigh")
SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 15.0)
LEAD_RANGE = (500, 5000)
"""Idle samples before the stream, drawn per run (the simulated radio's default range)."""
TRAIL = 2000


@dataclasses.dataclass(frozen=True)
class OutagePlan:
    """What ``run_outage_bench`` measures.

    Attributes:
        photo: held-out photo name or image file sent in every run.
        size: the photo's short side in pixels.
        channels: channel families ('tdl-c', 'rayleigh', ...; ``phy.channel.ChannelConfig.channel``).
        snrs: mean in-band SNRs in dB.
        runs_per_cell: seeded realisations per (channel, SNR) cell.
        first_seed: seed of the first realisation of every cell (then first_seed + 1, ...).
        method: semantic decoding method (None = the codec's default).
        steps: diffusion decoder steps.
        quick: fewer trials in the control-plane checks (a smoke run).
    """

    photo: str = "coffee"
    size: int = 192
    channels: tuple[str, ...] = CHANNELS
    snrs: tuple[float, ...] = SNRS_DB
    runs_per_cell: int = 200
    first_seed: int = 1
    method: str | None = None
    steps: int = 10
    quick: bool = False


def _radio(cfg: ChannelConfig, lead: int, params: OfdmParams):
    """The loopback's simulated radio with a known lead (samples) instead of a random one."""
    from sdr import RadioConfig
    from sdr.sim import SimRadio
    return SimRadio(cfg, RadioConfig(sample_rate_hz=params.sample_rate_hz), lead_samples=(lead, lead),
                    trail_samples=TRAIL)


def genie_latents(transmission: Transmission, received: np.ndarray, cfg: ChannelConfig, lead: int,
                  params: OfdmParams) -> tuple[np.ndarray, np.ndarray, float]:
    """The genie receiver's latents of one run.

    Args:
        transmission: what was sent (bursts back to back after ``lead`` idle samples).
        received: complex64 (n,) the samples the real receiver got (the whole timeline).
        cfg: the run's channel (its seed fixes the fading realisation; no CFO, SRO or timing offset).
        lead: idle samples before the first burst.
    Returns:
        (values float32 (payload_len,), noise_var float32 (payload_len,), in-band SNR of the
        realisation in dB: mean over the used subcarriers of |H_k|^2 / sigma^2).
    """
    if cfg.cfo_hz or cfg.sro_ppm or cfg.timing_offset:
        raise ValueError("the genie receiver models block fading and noise only (no CFO, SRO or timing offset)")
    timeline = np.concatenate([np.zeros(lead, np.complex64), *transmission.bursts, np.zeros(TRAIL, np.complex64)])
    bursts = np.concatenate(transmission.bursts)
    power = float(np.mean(np.abs(bursts[bursts != 0]) ** 2))
    clean_channel = Channel(dataclasses.replace(cfg, snr_db=None), params.sample_rate_hz)
    clean = clean_channel.apply(timeline, signal_power=power)       # same seed: the same fading draw
    sigma2 = Channel(cfg, params.sample_rate_hz).noise_variance(power)
    _, data_pos, _ = layout(params)
    n_hdr = n_header_symbols(params)
    first_ltf = lead + stf_length(params) + params.n_fft // 2
    h = None
    desc = transmission.descriptor
    n = desc.payload_len
    values, noise_var = np.zeros(n, np.float32), np.full(n, np.inf, np.float32)
    for index, burst in enumerate(transmission.bursts):
        if 0 < index < desc.frame_count - 1:
            n_vals = frame_slices(n, desc.n_data_frames)[index - 1]
            n_pay = payload_symbols(Header("analog", n_vals.stop - n_vals.start), params)
            starts = first_ltf + window_offsets(params, n_hdr + n_pay)
            if h is None:
                ltf = fft_windows(params, clean, starts[:2]).mean(axis=0)
                h = ltf / ltf_freq(params)
            y = fft_windows(params, received, starts[2 + n_hdr:])[:, data_pos]
            hd = h[data_pos]
            v, var = symbols_to_values(y / hd, np.broadcast_to(sigma2 / np.abs(hd) ** 2, y.shape),
                                       n_vals.stop - n_vals.start)
            values[n_vals], noise_var[n_vals] = v, var
        first_ltf += burst.size
    snr_db = float(10 * np.log10(np.mean(np.abs(h) ** 2) / sigma2))
    return values, noise_var, snr_db


def outage_run(transmission: Transmission, image: np.ndarray, codec, cfg: ChannelConfig, params: OfdmParams, *,
               method: str | None = None, steps: int = 10) -> dict:
    """One realisation: the real receiver and the genie on the same samples; a JSON-able dict.

    ``cfg``: the run's channel (``channel``, mean in-band ``snr_db``; its ``seed`` also draws the idle
    lead and seeds the decoder). ``method``, ``steps``: the semantic decoder's.
    """
    channel, snr_db, seed = cfg.channel, cfg.snr_db, cfg.seed
    lead = int(np.random.default_rng([seed, 2]).integers(LEAD_RANGE[0], LEAD_RANGE[1] + 1))
    radio = _radio(cfg, lead, params)
    transmit(radio, transmission)
    c0 = time.process_time()
    run = receive(radio, params, ReceiveOptions(keep=1 << 22))
    rx_cpu = time.process_time() - c0
    row = {"channel": channel, "snr_db": snr_db, "seed": seed, "rx_cpu_s": rx_cpu, "samples": run.samples,
           "frames_detected": run.assembler.frames_detected}
    desc = transmission.descriptor
    try:
        state = images(run, first_only=True)[0]
        rec = decode(run, codec=codec, settings=LinkSettings(method=method, steps=steps, seed=seed), stream=state)
        row.update(image=True, psnr_db=psnr(image, rec.image), frames_lost=rec.frames_expected - rec.frames_decoded)
    except LinkError:
        row.update(image=False, psnr_db=None, frames_lost=desc.n_data_frames,
                   cause="no_frame" if not run.assembler.frames_detected else "no_descriptor")
    values, var, inst = genie_latents(transmission, run.head, cfg, lead, params)
    genie = codec.decode(values.reshape(desc.latent_shape), var.reshape(desc.latent_shape), desc.image_shape,
                         method=method, steps=steps, seed=seed)
    row.update(genie_psnr_db=psnr(image, genie), realisation_snr_db=inst)
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Per (channel, mean SNR) cell: runs, no-image fraction (and its causes), mean PSNRs, frames lost,
    and over the runs whose genie image reaches GENIE_USEFUL_DB the share where ours gives an image
    and the share where ours reaches GENIE_USEFUL_DB too (an image whose payload frames were all lost is
    an image, but not a useful one)."""
    cells = {}
    for r in rows:
        cells.setdefault((r["channel"], r["snr_db"]), []).append(r)
    out = []
    for (channel, snr), rs in cells.items():
        got = [r for r in rs if r["image"]]
        useful = [r for r in rs if r["genie_psnr_db"] >= GENIE_USEFUL_DB]
        out.append({
            "channel": channel, "snr_db": snr, "runs": len(rs),
            "no_image": 1 - len(got) / len(rs), "image": len(got) / len(rs),
            "no_frame": sum(r.get("cause") == "no_frame" for r in rs) / len(rs),
            "no_descriptor": sum(r.get("cause") == "no_descriptor" for r in rs) / len(rs),
            "psnr_db_mean": float(np.mean([r["psnr_db"] for r in got])) if got else None,
            "genie_psnr_db_mean": float(np.mean([r["genie_psnr_db"] for r in rs])),
            "frames_lost_mean": float(np.mean([r["frames_lost"] for r in got])) if got else None,
            "genie_useful_runs": len(useful),
            "image_where_genie_useful": (sum(r["image"] for r in useful) / len(useful)) if useful else None,
            "useful_image_where_genie_useful": (sum(r["image"] and r["psnr_db"] >= GENIE_USEFUL_DB for r in useful)
                                                / len(useful)) if useful else None,
        })
    return out


def plot_outage(summary: list[dict], path: Path, title: str) -> None:
    """Two panels per channel: the fraction of runs with no image, and the mean PSNR (ours: of the
    images that arrived; genie: of all), against the mean SNR."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    channels = sorted({s["channel"] for s in summary})
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, ch in enumerate(channels):
        cells = sorted((s for s in summary if s["channel"] == ch), key=lambda s: s["snr_db"])
        x = [s["snr_db"] for s in cells]
        ax[0].plot(x, [100 * s["no_image"] for s in cells], "o-", color=f"C{i}", label=f"{ch}")
        ax[1].plot(x, [np.nan if s["psnr_db_mean"] is None else s["psnr_db_mean"] for s in cells], "o-",
                   color=f"C{i}", label=f"{ch}, receiver (images that arrived)")
        ax[1].plot(x, [s["genie_psnr_db_mean"] for s in cells], "x--", color=f"C{i}", label=f"{ch}, genie")
    ax[0].set(xlabel="mean in-band SNR (dB)", ylabel="runs with no image (%)", title="outage", ylim=(-2, 102))
    ax[1].set(xlabel="mean in-band SNR (dB)", ylabel="PSNR (dB)", title="image quality")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def control_plane_checks(params: OfdmParams, quick: bool) -> dict:
    """False alarms on noise alone, 802.11a bursts taken as frames, and the receiver's speed
    (``phy.bench``), measured in this run."""
    from phy.bench import false_alarms, foreign_bursts, throughput

    rng = np.random.default_rng(2026)
    lengths = (DESCRIPTOR_BYTES,)                          # the link's receiver: stream heads searched
    res = {"false_alarms": false_alarms(params, 1_000_000 if quick else 20_000_000, rng, lengths),
           "foreign_80211a": foreign_bursts(params, 20 if quick else 200, rng, control_lengths=lengths)}
    speed = throughput(params, 20 if quick else 200, repeats=1 if quick else 3, control_lengths=lengths)
    res["speed"] = {k: speed[k] for k in ("rx_msps", "realtime_factor", "rx_cpu_ms_per_frame", "rx_msps_noise_only")}
    return res


def run_outage_bench(out_dir, codec, plan: OutagePlan = OutagePlan(), *, params: OfdmParams = OfdmParams(),
                     progress: bool = True) -> dict:
    """Run the outage benchmark ``plan``; write ``outage.json`` and ``outage.png`` into ``out_dir``;
    return the JSON-able result (``cells``: ``summarise``; ``runs``: every realisation; the
    control-plane checks)."""
    from tqdm import tqdm

    from diffradio.link import semantic_transmission
    from diffradio.sweep import sweep_photo
    from phy.tx import Transmitter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photo, n, method, steps = plan.photo, plan.runs_per_cell, plan.method, plan.steps
    image = sweep_photo(photo, plan.size)
    transmission = semantic_transmission(image, codec, Transmitter(params, nonce=0x0A7E), stream_id=1)
    rows = []
    grid = [(c, float(s), plan.first_seed + k) for c in plan.channels for s in plan.snrs for k in range(n)]
    t0 = time.time()
    for channel, snr, seed in tqdm(grid, desc="outage", disable=not progress):
        rows.append(outage_run(transmission, image, codec, ChannelConfig(snr_db=snr, channel=channel, seed=seed),
                               params, method=method, steps=steps))
    res = {"photo": photo, "image_shape": list(image.shape[:2]), "frames_sent": transmission.frames_sent,
           "realisations_per_cell": n, "first_seed": plan.first_seed, "decoder": method or codec.default_method,
           "steps": steps,
           "genie_useful_db": GENIE_USEFUL_DB, "wall_s": time.time() - t0,
           "cells": summarise(rows)}
    res.update(control_plane_checks(params, plan.quick))
    res["runs"] = rows
    (out / "outage.json").write_text(json.dumps(res, indent=1))
    plot_outage(res["cells"], out / "outage.png",
                f"{photo} {image.shape[1]}x{image.shape[0]}, {transmission.frames_sent} frames, "
                f"{n} block-fading realisations per point")
    for c in res["cells"]:
        psnr = "-" if c["psnr_db_mean"] is None else f"{c['psnr_db_mean']:.1f}"
        print(f"{c['channel']:9s} {c['snr_db']:+5.1f} dB  no image {100 * c['no_image']:5.1f} %  "
              f"(no frame {100 * c['no_frame']:.0f} %, no descriptor {100 * c['no_descriptor']:.0f} %)  "
              f"PSNR {psnr} dB  genie {c['genie_psnr_db_mean']:.1f} dB")
    return res
