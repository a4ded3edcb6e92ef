"""``diffradio broadcast``: one transmission heard by several simulated receivers, semantic and digital
side by side — the case analog semantic links exist for.

The semantic stream and the digital stream (source codec + 5G LDPC, the same channel uses) are each
built once. The digital MCS is chosen, with the channel family's calibrated thresholds, for one
target SNR (default: the median receiver, the lower middle one for an even count), as a broadcaster
must: it cannot adapt to every receiver. Receiver i hears both streams through its own simulated
radio (in-band SNR ``snrs[i]``, channel seed ``seed * 1000 + i``: its own noise and fading
realisation, the same for its two streams) and decodes them through ``diffradio.link``.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import numpy as np

from diffradio import link
from diffradio.images import write_image
from diffradio.settings import LinkSettings
from phy import ChannelConfig, OfdmParams, Transmitter

REPORTED = ("psnr_db", "ms_ssim", "vif", "frames_lost", "frames_decoded", "frames_expected", "snr_db_est", "out")


def receiver_seed(seed: int, index: int) -> int:
    """Channel seed of receiver ``index`` in a broadcast with ``seed``."""
    return seed * 1000 + index


def _hear(transmission: link.Transmission, image: np.ndarray, channel: ChannelConfig, out: Path, codec,
          settings: LinkSettings) -> dict:
    """One receiver's decode of one stream: the reported metrics; the failure image when nothing arrived."""
    try:
        _, rec = link.hear(transmission, channel, settings, codec=codec)
    except link.LinkError:
        from semantic.metrics import all_metrics
        received = np.full_like(image, link.FAILURE_GRAY)
        write_image(out, received)
        n = transmission.descriptor.n_data_frames
        return dict(all_metrics(image, received), frames_lost=n, frames_decoded=0, frames_expected=n,
                    snr_db_est=None, out=str(out))
    write_image(out, rec.image)
    return {k: v for k, v in link.measurements(rec, image, str(out)).items() if k in REPORTED}


def run_broadcast(image: np.ndarray, codec, out_dir: str | Path, settings: LinkSettings = LinkSettings(), *,
                  snrs: list[float], digital_target_snr: float | None = None, image_path: str | None = None) -> dict:
    """Broadcast ``image`` (uint8 (H, W, 3)) to one receiver per SNR in ``snrs`` (dB); write each
    received image, ``broadcast.json`` and the figure ``broadcast.png`` into ``out_dir``.

    ``settings`` give every receiver's channel family (``channel``, also the digital MCS's
    calibration), the seed, the semantic decoder (``method``, ``steps``), the semantic stream's
    ``bandwidth_ratio`` and ``refine_steps`` (refined for the digital target SNR) and the digital
    ``source_codec``; the two streams are ids 1 (semantic) and 2 (digital), the digital MCS is
    chosen for ``digital_target_snr`` (dB; None = the median receiver's), whatever
    ``settings.scheme``, ``stream_id``, ``snr_hint_db`` and ``mcs`` say.

    Returns the JSON object: ``receivers`` (per receiver ``snr_db``, ``seed`` and ``semantic`` /
    ``digital`` objects with ``psnr_db``, ``ms_ssim``, ``vif``, ``frames_lost``, ``out``, ...),
    ``digital_mcs``, ``digital_target_snr_db``, the digital stream's source coding, ``channel_uses``
    of both streams, and the paths written.
    """
    if not snrs or not all(np.isfinite(snrs)):
        raise ValueError(f"broadcast needs finite receiver SNRs, got {snrs}; pass --snr DB [DB ...]")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = statistics.median_low(snrs) if digital_target_snr is None else float(digital_target_snr)
    seed, channel = settings.seed, settings.channel
    tx = Transmitter(OfdmParams(), nonce=seed & 0xFFFF)   # seeded: the same run gives the same samples
    sent = dataclasses.replace(settings, snr_hint_db=target, mcs=None)
    semantic = link.build_transmission(image, codec, tx, dataclasses.replace(sent, scheme="semantic", stream_id=1))
    digital = link.build_transmission(image, codec, tx, dataclasses.replace(sent, scheme="digital", stream_id=2))
    receivers = []
    for i, snr in enumerate(snrs):
        radio = ChannelConfig(snr_db=float(snr), channel=channel, seed=receiver_seed(seed, i))
        entry = {"snr_db": float(snr), "seed": receiver_seed(seed, i)}
        for scheme, transmission in (("semantic", semantic), ("digital", digital)):
            entry[scheme] = _hear(transmission, image, radio, out / f"rx{i}-{snr:g}dB-{scheme}.png", codec,
                                  settings)
        receivers.append(entry)
    report = link.digital_report(digital)
    result = {
        "receivers": receivers, "channel": channel, "digital_mcs": report["mcs"], "digital_target_snr_db": target,
        "source_codec": report["source_codec"], "source_bytes": report["source_bytes"],
        "source_quality": report["source_quality"], "source_downscale": report["source_downscale"],
        "channel_uses": {"semantic": semantic.channel_uses, "digital": digital.channel_uses},
        "frames_sent": {"semantic": semantic.frames_sent, "digital": digital.frames_sent},
        "semantic_decoder": settings.method or codec.default_method,
        "bandwidth_ratio": settings.bandwidth_ratio or "1/24", "steps": settings.steps, "seed": seed, "image": image_path,
        "json": str(out / "broadcast.json"), "figure": str(out / "broadcast.png"),
    }
    reference = write_image(out / "sent.png", image)
    from diffradio.figures import plot_broadcast
    plot_broadcast(result, reference, out / "broadcast.png")
    (out / "broadcast.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
