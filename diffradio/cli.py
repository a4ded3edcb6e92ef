"""The ``diffradio`` command line: loopback, tx, rx, replay, broadcast, sweep, train, bench.

Each command is a thin shell over ``diffradio.link``. User mistakes (a bad path, a missing device,
a capture with no frame) exit with status 2 and one line on stderr; a bug keeps its traceback
(``diffradio.errors``); ``--debug`` shows the traceback of any error. ``--json`` prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import numpy as np

from sdr.base import RadioConfig

DECODERS = ("direct", "diffusion", "digital")
RATIOS = ("1/12", "1/24", "1/48")
CHANNELS = ("awgn", "rayleigh", "tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e")


def _add_decoder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=DECODERS, default=None,
                   help="how semantic frames are decoded (default: the model's, see its codec_config.json: "
                        "direct for the shipped model; diffusion needs a model with a diffusion prior)")
    p.add_argument("--steps", type=int, default=10,
                   help="diffusion decoder: UNet evaluations (ancestral DDIM steps; default 10)")
    p.add_argument("--realism", type=float, default=None,
                   help="diffusion decoder: 0 = the prior's posterior-mean estimate (one UNet evaluation), 1 = a "
                        "posterior sample; between: the sampler stops at noise level 1 - realism (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the channel and the decoder")
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")


def add_source_codec_arg(p: argparse.ArgumentParser) -> None:
    """``--source-codec``, checked where it is used (``semantic.source_codec.check_codec``), so that
    building the parser imports no codec."""
    p.add_argument("--source-codec", default=None, metavar="avif|webp|jpeg",
                   help="digital baseline's image codec (default: the strongest available, AVIF)")


def _add_output_args(p: argparse.ArgumentParser, need_out: bool) -> None:
    p.add_argument("--out", required=need_out, default=None,
                   help="where to write the received image (PNG)" + (
                       "; with {n} (e.g. rx-{n}.png) every image received is written, numbered from 1 in "
                       "arrival order" if need_out else ""))
    p.add_argument("--json", action="store_true", help="print one JSON object with the measurements")
    p.add_argument("--plot", default=None, help="save a receiver diagnostics figure (PNG)")


def _add_radio_args(p: argparse.ArgumentParser, direction: str) -> None:
    if direction == "tx":
        p.add_argument("--tx-gain", "--gain", dest="tx_gain", type=float, default=RadioConfig.tx_gain_db,
                       metavar="DB", help="TX gain in dB relative to full power: 0 = full power, negative = "
                                          f"attenuation (Pluto: -89.75..0; default {RadioConfig.tx_gain_db:g})")
    else:
        p.add_argument("--rx-gain", "--gain", dest="rx_gain", type=float, default=None, metavar="DB",
                       help="RX gain in dB, manual (default: the device's AGC; Pluto: fast_attack, "
                            "pluto:...,agc=MODE picks another)")
    p.add_argument("--freq", type=float, default=2.4e9, help="centre frequency in Hz (default 2.4e9)")
    p.add_argument("--rate", type=float, default=2e6, help="sample rate in S/s (default 2e6)")


def _add_ratio_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bandwidth-ratio", choices=RATIOS, default="1/24",
                   help="semantic scheme: complex channel uses per real image value (1/12: 32 values per "
                        "8x8-pixel position, 1/24: 16, 1/48: 8; default 1/24); the receiver reads it from the stream")


def _add_refine_arg(p: argparse.ArgumentParser, snr_flag: str) -> None:
    p.add_argument("--refine-steps", type=int, default=0, metavar="N",
                   help=f"semantic scheme: refine the latents for the SNR of {snr_flag} with N decoder passes at the "
                        "transmitter (0 = off; 60 gained +0.3 / +0.7 dB at 0 / 10 dB on held-out photos for ~1.4 CPU-s "
                        "per 64x64 tile; README)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffradio", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("loopback", help="image → encoder → OFDM → simulated (or real) radio → receiver → decoder")
    p.add_argument("--image", required=True, help="input image (PNG/JPEG)")
    p.add_argument("--snr", type=float, default=10.0, help="in-band SNR of the simulated channel in dB")
    p.add_argument("--channel", choices=CHANNELS, default="awgn", help="simulated channel model")
    p.add_argument("--cfo", type=float, default=0.0, help="carrier frequency offset in Hz")
    p.add_argument("--sro", type=float, default=0.0, help="sampling rate offset in ppm")
    p.add_argument("--radio", default=None,
                   help="radio URI instead of the simulated one built from --snr/--channel/--cfo/--sro")
    _add_decoder_args(p)
    _add_ratio_arg(p)
    _add_refine_arg(p, "--snr")
    add_source_codec_arg(p)
    _add_output_args(p, need_out=False)

    p = sub.add_parser("tx", help="transmit an image (file:PATH.sigmf-meta writes the baseband as SigMF)")
    p.add_argument("--radio", required=True, help="radio URI, e.g. file:out/x.sigmf-meta, pluto:ip:192.168.2.1")
    p.add_argument("--image", required=True, help="input image (PNG/JPEG)")
    p.add_argument("--scheme", choices=("semantic", "digital"), default="semantic")
    p.add_argument("--snr-hint", type=float, default=10.0,
                   help="SNR in dB the digital scheme picks its modulation and code rate for")
    p.add_argument("--repeat", type=float, default=None, metavar="SECONDS",
                   help="loop the stream (cyclic buffer) for this many seconds on a hardware radio")
    p.add_argument("--stream-id", type=int, default=1, help="stream id written in every frame header")
    p.add_argument("--nonce", type=int, default=None, metavar="0..65535",
                   help="stream nonce written in every frame header (default: drawn at random per run); fixed, "
                        "two runs with the same image write the same samples")
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")
    _add_ratio_arg(p)
    _add_refine_arg(p, "--snr-hint")
    add_source_codec_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_radio_args(p, "tx")

    p = sub.add_parser("rx", help="receive from a radio, decode, write the image")
    p.add_argument("--radio", required=True, help="radio URI, e.g. pluto:ip:192.168.2.1, soapy:driver=uhd, "
                                                  "zmq:sub=tcp://127.0.0.1:5555,rate=2e6 (a GNU Radio flowgraph)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds of samples to listen at most")
    p.add_argument("--count", type=int, default=None,
                   help="with {n} in --out: stop after this many images (default: listen until --timeout or Ctrl-C)")
    p.add_argument("--record", default=None, help="also record the received samples to PATH.sigmf-meta")
    p.add_argument("--reference", default=None, help="the sent image, to report PSNR/MS-SSIM")
    p.add_argument("--live", action="store_true",
                   help="serve a web page showing the reception as it runs (images as their tiles arrive, SNR/CFO, "
                        "constellation, frame counters); needs {n} in --out; the page stays until Ctrl-C")
    p.add_argument("--port", type=int, default=8765, help="--live: the page's TCP port (default 8765; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="--live: the address to serve on (default 127.0.0.1: this machine only)")
    _add_decoder_args(p)
    _add_output_args(p, need_out=True)
    _add_radio_args(p, "rx")

    p = sub.add_parser("replay", help="decode every frame of a SigMF capture")
    p.add_argument("capture", help="PATH.sigmf-meta")
    p.add_argument("--reference", default=None, help="the sent image, to report PSNR/MS-SSIM")
    p.add_argument("--rate", type=float, default=2e6,
                   help="sample rate the stream was sent at (tx --rate) in S/s, which sets the OFDM numerology "
                        "(default 2e6); the capture is resampled from its own rate to this one")
    _add_decoder_args(p)
    _add_output_args(p, need_out=True)

    p = sub.add_parser("broadcast", help="one transmission heard by simulated receivers at several SNRs: "
                                         "semantic and digital side by side")
    p.add_argument("--image", required=True, help="input image (PNG/JPEG)")
    p.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0],
                   help="in-band SNR of each receiver in dB (default 0 5 10 15)")
    p.add_argument("--channel", choices=CHANNELS, default="awgn", help="simulated channel model of every receiver")
    p.add_argument("--digital-target-snr", type=float, default=None, metavar="DB",
                   help="SNR the digital stream's MCS is chosen for (default: the median receiver's)")
    _add_decoder_args(p)
    _add_ratio_arg(p)
    add_source_codec_arg(p)
    p.add_argument("--out", required=True, help="folder for the received images, broadcast.json and broadcast.png")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("sweep", help="SNR × channel × decoder sweep → CSV + plots")
    from diffradio.sweep import add_sweep_args
    add_sweep_args(p)
    add_source_codec_arg(p)

    sub.add_parser("train", help="fine-tune the codec with the channel in the loop (see diffradio train --help)",
                   add_help=False)

    p = sub.add_parser("bench", help="benchmarks: phy (receiver), decoder (semantic) or outage (loopbacks in fading)")
    p.add_argument("what", choices=("phy", "decoder", "outage"))
    p.add_argument("--out", default="out/bench", help="folder for figures")
    p.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--photo-dir", default=None,
                   help="decoder: folder of photos to measure on (default: the packaged held-out photos)")
    p.add_argument("--max-photos", type=int, default=None,
                   help="decoder: only the first N photos of --photo-dir, sorted by name (default: all)")
    p.add_argument("--seeds", type=int, default=3, help="decoder: noise seeds per cell (default 3)")
    p.add_argument("--steps", type=int, default=10, help="decoder: diffusion UNet evaluations (default 10)")
    p.add_argument("--realism", type=float, nargs="+", default=None,
                   help="decoder: one diffusion row per realism value, 0..1 (default: the model's; only for a "
                        "model with a diffusion prior)")
    p.add_argument("--model", default=None,
                   help="decoder, outage: model directory or hub id (default: shipped weights)")
    p.add_argument("--bandwidth-ratio", choices=RATIOS, nargs="+", default=list(RATIOS),
                   help="decoder: bandwidth ratios to measure (default: all three)")
    p.add_argument("--latent-channel", nargs="+", choices=("awgn", "rayleigh"), default=["awgn", "rayleigh"],
                   help="decoder: latent channels (default both)")
    p.add_argument("--no-reference", action="store_true",
                   help="decoder: skip the AVIF-at-capacity row (its rate search takes seconds per photo and cell)")
    p.add_argument("--refine-steps", type=int, default=0, metavar="N",
                   help="decoder: refine every photo's sent values at the transmitter with N decoder passes "
                        "(semantic.refine; default 0: the encoder alone)")
    p.add_argument("--refine-snr", type=float, nargs="+", default=None, metavar="DB",
                   help="decoder: the SNR, or a LOW HIGH range in dB, refinement plans for (default: each cell's own)")
    p.add_argument("--snr", type=float, nargs="+", default=None,
                   help="decoder: SNRs in dB per real value (default 0 5 10 15); outage: mean in-band SNRs in dB "
                        "(default -5 0 5 10 15)")
    p.add_argument("--runs", type=int, default=200,
                   help="outage: fading realisations per channel and SNR (default 200, seeds from --first-seed)")
    p.add_argument("--first-seed", type=int, default=1, help="outage: seed of the first realisation (default 1)")
    p.add_argument("--channel", nargs="+", choices=CHANNELS, default=["tdl-c", "rayleigh"],
                   help="outage: channels (default tdl-c rayleigh)")
    p.add_argument("--photo", default="coffee", help="outage: held-out photo name or image file (default coffee)")
    p.add_argument("--size", type=int, default=192, help="outage: the photo's short side in pixels (default 192)")
    return parser


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=_json_default))
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:<{width}}  {v}")


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def _check_args(args: argparse.Namespace) -> None:
    """Refuse option combinations argparse cannot express (ValueError: one line)."""
    if args.command in ("rx", "replay") and args.decoder == "digital":
        raise ValueError(f"{args.command} takes no --decoder digital: the receiver learns each stream's scheme "
                         f"from its frame headers; --decoder picks how semantic frames are decoded "
                         f"({', '.join(d for d in DECODERS if d != 'digital')})")
    refine = getattr(args, "refine_steps", 0)
    if refine < 0:
        raise ValueError(f"--refine-steps {refine} is negative; give 0 (off) or a number of steps such as 60")
    if refine and "digital" in (getattr(args, "scheme", None), getattr(args, "decoder", None)):
        raise ValueError("--refine-steps refines semantic latents; the digital scheme sends none (drop one of them)")
    realism = getattr(args, "realism", None)
    for r in realism if isinstance(realism, list) else [] if realism is None else [realism]:
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"--realism {r:g} is outside 0..1 (0 = posterior-mean estimate, 1 = posterior sample)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from semantic.allocator import keep_freed_memory
    keep_freed_memory()   # a third less CPU time in torch's decoders and training (semantic.allocator)
    debug = argv[:1] == ["--debug"]
    if argv[debug:debug + 1] == ["train"]:
        from semantic.train import main as train_main
        return _guard(lambda: train_main(argv[debug + 1:]), debug)
    args = build_parser().parse_args(argv)

    def run() -> int:
        _check_args(args)
        from diffradio import commands
        return commands.run(args, _emit)

    return _guard(run, args.debug)


def _guard(fn, debug: bool = False) -> int:
    """Run ``fn``: a user error (``diffradio.errors.is_user_error``) becomes one stderr line and exit
    status 2, Ctrl-C exit status 130; a bug propagates with its traceback. ``debug`` prints the
    traceback of user errors and interrupts too."""
    from diffradio.errors import is_user_error
    try:
        code = fn()
        return 0 if code is None else int(code)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("diffradio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_user_error(exc):
            raise
        if debug:
            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"diffradio: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
