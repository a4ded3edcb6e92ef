"""What each ``diffradio`` subcommand does, composed from ``diffradio.link``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from diffradio import link
from diffradio.images import read_image, write_image
from phy import OfdmParams, Transmitter
from sdr import RadioConfig, open_radio


def run(args, emit) -> int:
    """Dispatch ``args.command``; ``emit(dict, as_json)`` prints the result."""
    return {"loopback": loopback, "tx": tx, "rx": rx, "replay": replay, "broadcast": broadcast, "sweep": sweep,
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


def _finish(rec: link.Reception, run_: link.RxRun, args, reference, sample_rate_hz: float, extra: dict,
            emit) -> int:
    result = {**link.measurements(rec, reference, args.out), **extra}  # checks the reference before writing
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
    uri = args.radio or link.sim_uri(args.snr, args.channel, args.cfo, args.sro, args.seed)
    transmission, run_, rec = link.loopback(image, _codec(args.model), uri, decoder=args.decoder,
                                            snr_hint_db=args.snr, steps=args.steps, seed=args.seed,
                                            progress=_progress(args), channel=args.channel,
                                            source_codec=args.source_codec)
    extra = dict(frames_sent=transmission.frames_sent, radio=uri, decoder=args.decoder,
                 **link.digital_report(transmission))
    return _finish(rec, run_, args, image, OfdmParams().sample_rate_hz, extra, emit)


def tx(args, emit) -> int:
    """Transmit an image; a ``file:`` radio writes exactly the baseband samples as SigMF."""
    image = read_image(args.image)
    params = OfdmParams(sample_rate_hz=args.rate)
    transmission = link.build_transmission(image, _codec(args.model), Transmitter(params), args.scheme,
                                           args.snr_hint, args.stream_id, source_codec=args.source_codec)
    config = RadioConfig(sample_rate_hz=args.rate, center_freq_hz=args.freq)
    if args.gain is not None:
        config.tx_gain_db = args.gain
    with open_radio(args.radio, config) as radio:
        link.transmit(radio, transmission, repeat=args.repeat is not None)
        if args.repeat is not None:
            time.sleep(args.repeat)
    emit({**dict(scheme=args.scheme, frames_sent=transmission.frames_sent, channel_uses=transmission.channel_uses,
                 samples=int(sum(b.size for b in transmission.bursts)), radio=args.radio,
                 modulation=transmission.modulation, code_rate=transmission.code_rate),
          **link.digital_report(transmission)}, args.json)
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


def broadcast(args, emit) -> int:
    """One transmission, one simulated receiver per ``--snr``: semantic and digital side by side."""
    from diffradio.broadcast import run_broadcast
    if args.decoder == "digital":
        raise ValueError("broadcast sends the semantic and the digital stream; --decoder picks the semantic "
                         "decoder (diffusion, snr-matched, posterior or direct)")
    image = read_image(args.image)
    result = run_broadcast(image, _codec(args.model), args.out, snrs=args.snr, channel=args.channel,
                           digital_target_snr=args.digital_target_snr, seed=args.seed, method=args.decoder,
                           steps=args.steps, source_codec=args.source_codec, image_path=args.image)
    emit(result, args.json)
    return 0


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
            from semantic.bench import run_decoder_bench
            result = run_decoder_bench(args.out, quick=args.quick)
    if args.json:
        emit(result, True)
    else:
        print(f"figures and results in {args.out}")
    return 0
