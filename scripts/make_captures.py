"""Make the SigMF captures that ship in captures/ (see captures/README.md for what each holds).

Each capture carries one held-out photo (``coffee``, short side 128 px → 128×192, 6 tiles, two analog frames) sent by the
real transmitter with the shipped model; ``two-streams`` carries two transmissions (``coffee``, then
``chelsea``) with the same stream id, as two ``tx`` runs recorded back to back. ``clean`` is exactly
what ``diffradio tx`` writes; the others went through the simulated radio (``phy.channel``) and were
recorded as a receiver would, idle noise before and after included. Every transmission's stream
nonce is fixed (from the capture's name), so the output is reproducible. Rerun after retraining the
shipped model, or after a waveform change: a stream carries its encoder's fingerprint and a
receiver with another model refuses it. One command remakes every capture.

With ``--results PATH`` every capture is then replayed through the CLI (default decoder) against
the photo it carries, and the figures are written to PATH (``docs/results/captures_replay.json``,
quoted in captures/README.md).

Usage: python scripts/make_captures.py [--out captures] [--results docs/results/captures_replay.json]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from diffradio import link
from diffradio.settings import LinkSettings
from diffradio.sweep import sweep_photo
from phy import OfdmParams, Transmitter
from sdr import RadioConfig, SigMFRecorder, open_radio
from semantic import SemanticCodec

PHOTO = "coffee"
SECOND_PHOTO = "chelsea"
PHOTO_SIZE = 128
CENTER_FREQ_HZ = 2.4e9

#: name -> (simulated radio URI or None for the clean transmitter output, recorded sample rate Hz,
#: datatype, scheme, description)
CAPTURES = {
    "clean": (None, 2e6, "cf32_le", "semantic",
              "diffradio tx output, noiseless: semantic stream of the held-out photo coffee (128x192)"),
    "impaired": ("sim:snr=6,cfo=25000,sro=40,timing=0.3,seed=21", 2e6, "ci16_le", "semantic",
                 "6 dB in-band SNR, CFO +25 kHz, SRO +40 ppm, 0.3-sample timing offset, AWGN; ci16"),
    "tdl-c": ("sim:snr=12,channel=tdl-c,delay_spread=300e-9,cfo=-4000,seed=22", 2e6, "cf32_le", "semantic",
              "3GPP TDL-C, 300 ns delay spread, 12 dB in-band SNR, CFO -4 kHz"),
    "rate-2m4": ("sim:snr=15,cfo=1000,seed=23", 2.4e6, "cf32_le", "semantic",
                 "15 dB AWGN, recorded at 2.4 MS/s (resampled 6/5 from the 2 MS/s waveform); replay resamples"),
    "digital": ("sim:snr=15,seed=24", 2e6, "cf32_le", "digital",
                "digital baseline stream (AVIF + 5G LDPC, MCS for 15 dB AWGN) at 15 dB AWGN"),
    "two-streams": ("sim:snr=15,cfo=-2000,seed=25", 2e6, "ci16_le", "semantic",
                    "two tx runs back to back, same stream id 7, two nonces: coffee then chelsea (128 px), "
                    "15 dB AWGN, CFO -2 kHz; replays as two images"),
}
PHOTOS = {"two-streams": (PHOTO, SECOND_PHOTO)}
"""Photos sent one after the other, by capture (default: PHOTO alone)."""


def nonce(name: str, index: int) -> int:
    """The fixed stream nonce of transmission ``index`` of capture ``name``."""
    return (zlib.crc32(name.encode()) + index) & 0xFFFF


def make(out: Path, name: str, codec) -> Path:
    uri, rate, datatype, scheme, description = CAPTURES[name]
    params = OfdmParams()
    settings = LinkSettings(scheme=scheme, snr_hint_db=15.0, stream_id=7)
    transmissions = [link.build_transmission(sweep_photo(photo, PHOTO_SIZE), codec,
                                             Transmitter(params, nonce=nonce(name, i)), settings)
                     for i, photo in enumerate(PHOTOS.get(name, (PHOTO,)))]
    meta = out / f"{name}.sigmf-meta"
    config = RadioConfig(sample_rate_hz=params.sample_rate_hz, center_freq_hz=CENTER_FREQ_HZ)
    if uri is None:
        with open_radio(f"file:{meta}", config) as radio:
            for transmission in transmissions:
                link.transmit(radio, transmission)
        return meta
    with open_radio(uri, config) as radio:
        for transmission in transmissions:
            link.transmit(radio, transmission)
        samples = np.concatenate(list(radio.stream(1 << 16)))
    if rate != params.sample_rate_hz:
        up, down = 6, 5
        assert abs(rate / params.sample_rate_hz - up / down) < 1e-12
        samples = resample_poly(samples, up, down).astype(np.complex64)
    with SigMFRecorder(meta, rate, CENTER_FREQ_HZ, datatype=datatype, hw=f"diffradio simulated radio {uri}",
                       author="diffradio scripts/make_captures.py", description=description) as rec:
        rec.write(samples)
    return meta


def replay_figures(out: Path) -> dict:
    """Replay every capture in ``out`` with ``diffradio replay --json`` against the photo(s) it carries."""
    from diffradio.cli import main as cli
    from diffradio.images import write_image
    from semantic.metrics import psnr

    def run(argv: list[str]) -> dict:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            if cli(argv) != 0:
                raise RuntimeError(f"diffradio {' '.join(argv)} failed")
        return json.loads(buf.getvalue())

    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        refs = {p: write_image(Path(tmp) / f"{p}.png", sweep_photo(p, PHOTO_SIZE)) for p in (PHOTO, SECOND_PHOTO)}
        for name in CAPTURES:
            meta = str(out / f"{name}.sigmf-meta")
            photos = PHOTOS.get(name, (PHOTO,))
            if len(photos) == 1:
                figures[name] = run(["replay", meta, "--reference", str(refs[photos[0]]),
                                     "--out", str(Path(tmp) / f"{name}.png"), "--json"])
                figures[name]["out"] = None
                continue
            result = run(["replay", meta, "--out", str(Path(tmp) / f"{name}-{{n}}.png"), "--json"])
            from diffradio.images import read_image
            for k, image in enumerate(result["images"], start=1):
                got = read_image(image["out"])
                image["psnr_db_vs"] = {p: psnr(sweep_photo(p, PHOTO_SIZE), got) for p in (PHOTO, SECOND_PHOTO)}
                image["out"] = None
            result["out"] = None
            figures[name] = result
    return {"commands": {"single image": "diffradio replay captures/NAME.sigmf-meta --reference REF.png --out X.png "
                                         "--json (REF: PHOTO at PHOTO_SIZE in scripts/make_captures.py)",
                         "two-streams": "diffradio replay captures/two-streams.sigmf-meta --out two-{n}.png --json; "
                                        "PSNR of each image against both photos"},
            "replay": figures}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="captures", help="output folder (default captures/)")
    p.add_argument("--results", default=None, help="also replay every capture and write the figures (JSON) here")
    p.add_argument("--replay-only", action="store_true",
                   help="with --results: replay the captures already in --out (e.g. after a receiver change) "
                        "without making them again")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.replay_only:
        if not args.results:
            p.error("--replay-only needs --results FILE")
        missing = [name for name in CAPTURES if not (out / f"{name}.sigmf-meta").is_file()]
        if missing:
            p.error(f"no capture {', '.join(missing)} in {out}: make them first (without --replay-only)")
    else:
        out.mkdir(parents=True, exist_ok=True)
        codec = SemanticCodec.from_pretrained()
        for name in CAPTURES:
            path = make(out, name, codec)
            print(f"{path}  {path.with_suffix('.sigmf-data').stat().st_size / 1e3:.0f} kB")
    if args.results:
        Path(args.results).write_text(json.dumps(replay_figures(out), indent=1))
        print(f"replay figures in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
