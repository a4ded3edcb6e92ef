"""What each ``diffradio`` subcommand does, composed from ``diffradio.link``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from diffradio import link
from diffradio.images import read_image, write_image
from phy import OfdmParams, Transmitter
from sdr import RadioConfig, open_radio


def run(args, emit) -> int:
    """Dispatch ``args.command``; ``emit(dict, as_json)`` prints the result."""
    return {"loopback": loopback, "tx": tx, "rx": rx, "replay": replay, "sweep": sweep,
            "bench": bench}[args.command](args, emit)


def _progress(args) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


def _codec(model: str | None):
    """Load the codec; decoding runs on one torch thread (measured faster than two on 2-core CPUs,
    where a second thread competes with the receiver)."""
    import torch

    from semantic import SemanticCodec
    torch.set_num_threads(1)
    return SemanticCodec.from_pretrained(model)


def sim_uri(snr_db: float, channel: str, cfo_hz: float, sro_ppm: float, seed: int) -> str:
    """The simulated radio's URI for these channel settings."""
    return f"sim:snr={snr_db:g},channel={channel},cfo={cfo_hz:g},sro={sro_ppm:g},seed={seed}"


def measurements(rec: link.Reception, reference: np.ndarray | None, out: str | None) -> dict:
    """The JSON contract of a received image (MISSION.md): metrics when ``reference`` is known."""
    result: dict = {}
    if reference is not None:
        from semantic.metrics import all_metrics
        if reference.shape != rec.image.shape:
            raise ValueError(f"reference image is {reference.shape[1]}x{reference.shape[0]} but the received one "
                             f"is {rec.image.shape[1]}x{rec.image.shape[0]}; pass the image that was sent")
        result.update(all_metrics(reference, rec.image))
    result.update(
        scheme=rec.scheme,
        snr_db_est=rec.snr_db_est,
        cfo_hz_est=rec.cfo_hz_est,
        frames_detected=rec.frames_detected,
        frames_decoded=rec.frames_decoded,
        frames_expected=rec.frames_expected,
        frames_lost=rec.frames_expected - rec.frames_decoded,
        channel_uses=rec.channel_uses,
        samples=rec.samples,
        decode_s=round(rec.decode_s, 4),
        out=out,
        **rec.extra,
    )
    return result


def _finish(rec: link.Reception, run_: link.RxRun, args, reference, sample_rate_hz: float, extra: dict,
            emit) -> int:
    result = {**measurements(rec, reference, args.out), **extra}  # checks the reference before writing
    if args.out:
        write_image(args.out, rec.image)
    if getattr(args, "plot", None):
        from diffradio.diagnostics import plot_diagnostics
        plot_diagnostics(args.plot, run_, sample_rate_hz)
    emit(result, args.json)
    return 0


def loopback(args, emit) -> int:
    """Send an image through a (simulated) radio and back, report the metrics."""
    image = read_image(args.image)
    uri = args.radio or sim_uri(args.snr, args.channel, args.cfo, args.sro, args.seed)
    transmission, run_, rec = link.loopback(image, _codec(args.model), uri, decoder=args.decoder,
                                            snr_hint_db=args.snr, steps=args.steps, seed=args.seed,
                                            progress=_progress(args))
    extra = dict(frames_sent=transmission.frames_sent, radio=uri, decoder=args.decoder)
    if transmission.modulation:
        extra.update(modulation=transmission.modulation, code_rate=transmission.code_rate,
                     jpeg_quality=transmission.jpeg.quality, jpeg_downscale=transmission.jpeg.downscale)
    return _finish(rec, run_, args, image, OfdmParams().sample_rate_hz, extra, emit)


def tx(args, emit) -> int:
    """Transmit an image; a ``file:`` radio writes exactly the baseband samples as SigMF."""
    image = read_image(args.image)
    params = OfdmParams(sample_rate_hz=args.rate)
    transmission = link.build_transmission(image, _codec(args.model), Transmitter(params), args.scheme,
                                           args.snr_hint, args.stream_id)
    config = RadioConfig(sample_rate_hz=args.rate, center_freq_hz=args.freq)
    if args.gain is not None:
        config.tx_gain_db = args.gain
    with open_radio(args.radio, config) as radio:
        link.transmit(radio, transmission, repeat=args.repeat is not None)
        if args.repeat is not None:
            time.sleep(args.repeat)
    emit(dict(scheme=args.scheme, frames_sent=transmission.frames_sent, channel_uses=transmission.channel_uses,
              samples=int(sum(b.size for b in transmission.bursts)), radio=args.radio,
              modulation=transmission.modulation, code_rate=transmission.code_rate), args.json)
    return 0


def _decode_and_report(run_: link.RxRun, args, reference, params: OfdmParams, emit) -> int:
    rec = link.decode(run_, codec=_codec(args.model),
                      method="diffusion" if args.decoder == "digital" else args.decoder,
                      steps=args.steps, seed=args.seed)
    return _finish(rec, run_, args, reference, params.sample_rate_hz, {}, emit)


def rx(args, emit) -> int:
    """Listen on a radio for up to ``--timeout`` seconds, decode the first complete stream.

    With ``--record`` every received sample is also written to a SigMF capture, which is finalised
    whatever happens next (no frame, Ctrl-C, a radio error): what was heard is never lost, and the
    capture is never half-written.
    """
    reference = read_image(args.reference) if args.reference else None
    params = OfdmParams(sample_rate_hz=args.rate)
    config = RadioConfig(sample_rate_hz=args.rate, center_freq_hz=args.freq, rx_gain_db=args.gain)
    with open_radio(args.radio, config) as radio:
        recorder = None
        if args.record:
            from sdr import SigMFRecorder
            recorder = SigMFRecorder(args.record, args.rate, args.freq, hw=args.radio,
                                     description="diffradio rx --record")
        try:
            run_ = link.receive(radio, params, timeout_s=args.timeout, stop_when_complete=True,
                                recorder=recorder, progress=_progress(args))
        finally:
            if recorder is not None:
                recorder.close()
    return _decode_and_report(run_, args, reference, params, emit)


def replay(args, emit) -> int:
    """Decode every frame of a SigMF capture (resampled to ``--rate``)."""
    capture = Path(args.capture)
    if capture.suffix != ".sigmf-meta":
        raise ValueError(f"{capture} is not a .sigmf-meta file; give the capture's metadata file")
    reference = read_image(args.reference) if args.reference else None
    params = OfdmParams(sample_rate_hz=args.rate)
    with open_radio(f"file:{capture}", RadioConfig(sample_rate_hz=args.rate)) as radio:
        run_ = link.receive(radio, params, timeout_s=None, stop_when_complete=False, progress=_progress(args))
    return _decode_and_report(run_, args, reference, params, emit)


def sweep(args, emit) -> int:
    from diffradio.sweep import run_sweep
    emit(run_sweep(args), args.json)
    return 0


def bench(args, emit) -> int:
    """Run a benchmark; its human-readable table goes to stdout, or to stderr under ``--json`` so that
    stdout carries the one JSON object."""
    import contextlib

    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        if args.what == "phy":
            from phy.bench import run_phy_bench
            result = run_phy_bench(args.out, quick=args.quick)
        else:
            from semantic.bench import format_table, run_decoder_bench
            from semantic.data import heldout_photos, photos_in_dirs
            photos = photos_in_dirs([args.photo_dir]) if args.photo_dir else heldout_photos()
            result = run_decoder_bench(args.out, photos, weights=args.model, steps=args.steps, seeds=args.seeds,
                                       quick=args.quick)
            print(format_table(result))
    if args.json:
        emit(result, True)
    else:
        print(f"figures and results in {args.out}")
    return 0
