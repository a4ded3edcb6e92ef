"""The ``diffradio`` command line: loopback, tx, rx, replay, broadcast, sweep, train, bench.

Each command is a thin shell over ``diffradio.link``. User mistakes (a bad path, a missing device,
a capture with no frame) exit non-zero with one line on stderr; ``--json`` prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DECODERS = ("diffusion", "snr-matched", "posterior", "direct", "digital")
CHANNELS = ("awgn", "rayleigh", "tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e")


def _add_decoder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=DECODERS, default="diffusion",
                   help="how semantic frames are decoded (diffusion = the default diffusion sampler)")
    p.add_argument("--steps", type=int, default=10, help="diffusion steps (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the channel and the sampler")
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")


def add_source_codec_arg(p: argparse.ArgumentParser) -> None:
    """``--source-codec``, checked where it is used (``semantic.source_codec.check_codec``), so that
    building the parser imports no codec."""
    p.add_argument("--source-codec", default=None, metavar="avif|webp|jpeg",
                   help="digital baseline's image codec (default: the strongest available, AVIF)")


def _add_output_args(p: argparse.ArgumentParser, need_out: bool) -> None:
    p.add_argument("--out", required=need_out, default=None, help="where to write the received image (PNG)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the measurements")
    p.add_argument("--plot", default=None, help="save a receiver diagnostics figure (PNG)")


def _add_radio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gain", type=float, default=None, help="TX gain / RX gain in dB (device default if unset)")
    p.add_argument("--freq", type=float, default=2.4e9, help="centre frequency in Hz (default 2.4e9)")
    p.add_argument("--rate", type=float, default=2e6, help="sample rate in S/s (default 2e6)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffradio", description=__doc__.splitlines()[0])
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
    p.add_argument("--model", default=None, help="model directory or hub id (default: shipped weights)")
    add_source_codec_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_radio_args(p)

    p = sub.add_parser("rx", help="receive from a radio, decode, write the image")
    p.add_argument("--radio", required=True, help="radio URI, e.g. pluto:ip:192.168.2.1, soapy:driver=uhd")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds of samples to listen at most")
    p.add_argument("--record", default=None, help="also record the received samples to PATH.sigmf-meta")
    p.add_argument("--reference", default=None, help="the sent image, to report PSNR/MS-SSIM")
    _add_decoder_args(p)
    _add_output_args(p, need_out=True)
    _add_radio_args(p)

    p = sub.add_parser("replay", help="decode every frame of a SigMF capture")
    p.add_argument("capture", help="PATH.sigmf-meta")
    p.add_argument("--reference", default=None, help="the sent image, to report PSNR/MS-SSIM")
    p.add_argument("--rate", type=float, default=2e6, help="receiver sample rate in S/s (the capture is resampled)")
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
    add_source_codec_arg(p)
    p.add_argument("--out", required=True, help="folder for the received images, broadcast.json and broadcast.png")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("sweep", help="SNR × channel × decoder sweep → CSV + plots")
    from diffradio.sweep import add_sweep_args
    add_sweep_args(p)
    add_source_codec_arg(p)

    sub.add_parser("train", help="train the encoder and the diffusion prior (see diffradio train --help)",
                   add_help=False)

    p = sub.add_parser("bench", help="benchmarks: phy (receiver) or decoder (semantic)")
    p.add_argument("what", choices=("phy", "decoder"))
    p.add_argument("--out", default="out/bench", help="folder for figures")
    p.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        from semantic.train import main as train_main
        return _guard(lambda: train_main(argv[1:]))
    args = build_parser().parse_args(argv)
    from diffradio import commands
    return _guard(lambda: commands.run(args, _emit))


def _guard(fn) -> int:
    """Run ``fn``; user-facing errors become one stderr line and exit status 2."""
    from diffradio.errors import USER_ERRORS
    try:
        code = fn()
        return 0 if code is None else int(code)
    except KeyboardInterrupt:
        print("diffradio: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"diffradio: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
