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

import json
import statistics
from pathlib import Path

import numpy as np

from diffradio import link
from diffradio.images import write_image
from phy import ChannelConfig, OfdmParams, Transmitter

REPORTED = ("psnr_db", "ms_ssim", "vif", "frames_lost", "frames_decoded", "frames_expected", "snr_db_est", "out")


def receiver_seed(seed: int, index: int) -> int:
    """Channel seed of receiver ``index`` in a broadcast with ``seed``."""
    return seed * 1000 + index


def _hear(transmission: link.Transmission, image: np.ndarray, channel: ChannelConfig, out: Path, codec,
          method: str | None, steps: int, seed: int) -> dict:
    """One receiver's decode of one stream: the reported metrics; the failure image when nothing arrived."""
    try:
        _, rec = link.hear(transmission, channel, codec=codec, method=method, steps=steps, seed=seed)
    except link.LinkError:
        from semantic.metrics import all_metrics
        received = np.full_like(image, link.FAILURE_GRAY)
        write_image(out, received)
        n = transmission.descriptor.n_data_frames
        return dict(all_metrics(image, received), frames_lost=n, frames_decoded=0, frames_expected=n,
                    snr_db_est=None, out=str(out))
    write_image(out, rec.image)
    return {k: v for k, v in link.measurements(rec, image, str(out)).items() if k in REPORTED}


def run_broadcast(image: np.ndarray, codec, out_dir: str | Path, *, snrs: list[float], channel: str = "awgn",
                  digital_target_snr: float | None = None, seed: int = 0, method: str | None = None,
                  steps: int = 10, source_codec: str | None = None, image_path: str | None = None,
                  bandwidth_ratio: str | None = None) -> dict:
    """Broadcast ``image`` (uint8 (H, W, 3)) to one receiver per SNR in ``snrs`` (dB); write each
    received image, ``broadcast.json`` and the figure ``broadcast.png`` into ``out_dir``.

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
    tx = Transmitter(OfdmParams(), nonce=seed & 0xFFFF)   # seeded: the same run gives the same samples
    semantic = link.build_transmission(image, codec, tx, "semantic", stream_id=1, bandwidth_ratio=bandwidth_ratio)
    digital = link.build_transmission(image, codec, tx, "digital", target, stream_id=2, channel=channel,
                                      source_codec=source_codec)
    receivers = []
    for i, snr in enumerate(snrs):
        radio = ChannelConfig(snr_db=float(snr), channel=channel, seed=receiver_seed(seed, i))
        entry = {"snr_db": float(snr), "seed": receiver_seed(seed, i)}
        for scheme, transmission in (("semantic", semantic), ("digital", digital)):
            entry[scheme] = _hear(transmission, image, radio, out / f"rx{i}-{snr:g}dB-{scheme}.png", codec, method,
                                  steps, seed)
        receivers.append(entry)
    report = link.digital_report(digital)
    result = {
        "receivers": receivers, "channel": channel, "digital_mcs": report["mcs"], "digital_target_snr_db": target,
        "source_codec": report["source_codec"], "source_bytes": report["source_bytes"],
        "source_quality": report["source_quality"], "source_downscale": report["source_downscale"],
        "channel_uses": {"semantic": semantic.channel_uses, "digital": digital.channel_uses},
        "frames_sent": {"semantic": semantic.frames_sent, "digital": digital.frames_sent},
        "semantic_decoder": method or codec.default_method, "bandwidth_ratio": bandwidth_ratio or "1/24", "steps": steps, "seed": seed, "image": image_path,
        "json": str(out / "broadcast.json"), "figure": str(out / "broadcast.png"),
    }
    reference = write_image(out / "sent.png", image)
    from diffradio.figures import plot_broadcast
    plot_broadcast(result, reference, out / "broadcast.png")
    (out / "broadcast.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
