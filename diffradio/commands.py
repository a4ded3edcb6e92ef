"""What each ``diffradio`` subcommand does, composed from ``diffradio.link``."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from diffradio import link
from diffradio.images import read_image, write_image
from diffradio.settings import LinkSettings, ReceiveOptions
from phy import ChannelConfig, OfdmParams, Transmitter
from sdr import RadioConfig, open_radio


def run(args, emit) -> int:
    """Dispatch ``args.command``; ``emit(dict, as_json)`` prints the result."""
    return {"loopback": loopback, "tx": tx, "rx": rx, "replay": replay, "broadcast": broadcast, "sweep": sweep,
            "bench": bench}[args.command](args, emit)


RX_KEEP_FRAMES = 4096
"""Frames an ``rx`` with ``{n}`` keeps for its diagnostics figure (the most recent ones): a long
reception does not grow without bound."""


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


def _decoder_settings(args, **fields) -> LinkSettings:
    """The receiver's settings from the decoder flags (``--decoder``, ``--steps``, ``--seed``,
    ``--realism``) and ``fields``."""
    return LinkSettings.for_decoder(args.decoder, steps=args.steps, seed=args.seed, realism=args.realism, **fields)


SIM_CHANNEL_FIELDS = ("snr_db", "channel", "cfo_hz", "sro_ppm", "seed")
"""The ``phy.ChannelConfig`` fields that ``loopback``'s flags set, reported as ``sim_channel``."""


def loopback(args, emit) -> int:
    """Send an image through a (simulated) radio and back, report the metrics."""
    image = read_image(args.image)
    sim = None if args.radio else ChannelConfig(snr_db=args.snr, channel=args.channel, cfo_hz=args.cfo,
                                                sro_ppm=args.sro, seed=args.seed)
    settings = _decoder_settings(args, snr_hint_db=args.snr, channel=args.channel, source_codec=args.source_codec,
                                 refine_steps=args.refine_steps, bandwidth_ratio=args.bandwidth_ratio)
    transmission, run_, rec = link.loopback(image, _codec(args.model), args.radio or sim, settings,
                                            progress=_progress(args))
    # the simulated radio is reported by its typed channel fields, a radio the user named by its URI
    extra = dict(frames_sent=transmission.frames_sent, radio=args.radio,
                 sim_channel={k: getattr(sim, k) for k in SIM_CHANNEL_FIELDS} if sim else None,
                 decoder=args.decoder, **link.digital_report(transmission))
    return _finish(rec, run_, args, image, OfdmParams().sample_rate_hz, extra, emit)


def tx(args, emit) -> int:
    """Transmit an image; a ``file:`` radio writes exactly the baseband samples as SigMF. The radio is
    opened before the model loads, so that a missing device or a port in use fails at once."""
    image = read_image(args.image)
    params = OfdmParams(sample_rate_hz=args.rate)
    transmitter = Transmitter(params, nonce=args.nonce)  # a random stream nonce per run unless --nonce
    config = RadioConfig(sample_rate_hz=args.rate, center_freq_hz=args.freq, tx_gain_db=args.tx_gain)
    with open_radio(args.radio, config) as radio:
        settings = LinkSettings(scheme=args.scheme, snr_hint_db=args.snr_hint, stream_id=args.stream_id,
                                source_codec=args.source_codec, refine_steps=args.refine_steps,
                                bandwidth_ratio=args.bandwidth_ratio)
        transmission = link.build_transmission(image, _codec(args.model), transmitter, settings)
        link.transmit(radio, transmission, repeat=args.repeat is not None)
        if args.repeat is not None:
            radio.wait(args.repeat)
    emit({**dict(scheme=args.scheme, bandwidth_ratio=args.bandwidth_ratio if args.scheme == "semantic" else None,
                 frames_sent=transmission.frames_sent, channel_uses=transmission.channel_uses,
                 samples=int(sum(b.size for b in transmission.bursts)), radio=args.radio,
                 stream_id=args.stream_id, nonce=transmitter.nonce, modulation=transmission.modulation,
                 code_rate=transmission.code_rate, **radio.stats.as_dict()),
          **link.digital_report(transmission)}, args.json)
    return 0


_NUMBERED = re.compile(r"\{n(:[^{}]*)?\}")


def _numbered(out: str | None) -> bool:
    """Whether ``--out`` holds ``{n}``: then every image is written, numbered in arrival order."""
    return bool(out) and _NUMBERED.search(out) is not None


def _check_out(args) -> None:
    """User errors in ``--out`` / ``--count``, raised before anything is received."""
    if getattr(args, "count", None) is not None:
        if args.count < 1:
            raise ValueError(f"--count must be ≥ 1, got {args.count}")
        if not _numbered(args.out):
            raise ValueError("--count needs {n} in --out (e.g. --out rx-{n}.png) to write more than one image")
    if _numbered(args.out):
        try:
            args.out.format(n=1)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"--out {args.out!r} is not a valid name pattern ({exc}); use {{n}} once, "
                             "e.g. rx-{n}.png") from None


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _decode_and_report(run_: link.RxRun, args, reference, params: OfdmParams, emit,
                       extra: dict | None = None, written: list[dict] | None = None) -> int:
    """Decode the first image (or, with ``{n}`` in ``--out``, every image, numbered from 1 in arrival
    order) and report it with ``extra`` (e.g. the radio's event counts); every measurement is checked
    before any file is written. ``written``: the JSON of the first images, already decoded and
    written during reception (``ImageWriter``)."""
    numbered = _numbered(args.out)
    written = written or []
    if run_.interrupted and not run_.assembler.images():
        raise KeyboardInterrupt
    streams = link.images(run_, first_only=not numbered)[len(written):getattr(args, "count", None)]
    codec = _codec(args.model) if any(s.descriptor.scheme == "semantic" for s in streams) else None
    settings = _decoder_settings(args)
    recs = [link.decode(run_, codec=codec, settings=settings, stream=s) for s in streams]
    if not numbered:
        return _finish(recs[0], run_, args, reference, params.sample_rate_hz, extra or {}, emit)
    outs = [args.out.format(n=n) for n in range(len(written) + 1, len(written) + len(recs) + 1)]
    results = [link.measurements(rec, reference, out) for rec, out in zip(recs, outs)]
    for rec, out in zip(recs, outs):
        write_image(out, rec.image)
    if getattr(args, "plot", None):
        from diffradio.diagnostics import plot_diagnostics
        plot_diagnostics(args.plot, run_, params.sample_rate_hz)
    emit(dict(images=written + results, frames_detected=run_.assembler.frames_detected, samples=run_.samples,
              interrupted=run_.interrupted, out=args.out, **(extra or {})), args.json)
    return 0


def rx(args, emit) -> int:
    """Listen on a radio and decode what it hears: the first complete image, or with ``{n}`` in
    ``--out`` every image until ``--timeout`` (radio time), ``--count`` images or Ctrl-C. One line
    per frame and per complete image goes to stderr.

    With ``--record`` every received sample is also written to a SigMF capture, which is finalised
    whatever happens next (no frame, Ctrl-C, a radio error): what was heard is never lost, and the
    capture is never half-written. The capture holds the rate, frequency and gain read back from
    the device and the radio's overflow and late events as annotations at their sample positions;
    the JSON reports the radio's ``overflows``, ``underflows`` and ``late`` counts.

    With ``--live`` a web page (``diffradio.live``) shows the reception while it runs; once reception
    ends (not by Ctrl-C) the JSON is printed and the page stays until Ctrl-C, which then exits 0.
    """
    _check_out(args)
    live = getattr(args, "live", False)
    if live and not _numbered(args.out):
        raise ValueError("--live shows every image as it arrives: give --out with {n} (e.g. --out rx-{n}.png)")
    reference = read_image(args.reference) if args.reference else None
    params = OfdmParams(sample_rate_hz=args.rate)
    config = RadioConfig(sample_rate_hz=args.rate, center_freq_hz=args.freq, rx_gain_db=args.rx_gain)
    writer = monitor = server = None
    try:
        if _numbered(args.out):  # every image decoded and written as it completes, beside the receive loop
            import threading

            from diffradio.image_writer import ImageWriter
            decoding = threading.Lock()  # the writer and the live previews share the codec
            if live:  # first: a port in use fails at once
                from diffradio.live import LiveMonitor, LiveServer
                monitor = LiveMonitor(decode_lock=decoding)
                server = LiveServer(monitor, args.host, args.port)
            codec = _codec(args.model)  # loaded before the radio streams: a wrong --model fails at once
            if monitor is not None:
                monitor.codec = codec
                _log(f"live page at {server.url}")

            settings = _decoder_settings(args)

            def decode(run_, state):
                with decoding:
                    return link.decode(run_, codec=codec, settings=settings, stream=state)

            writer = ImageWriter(args.out, decode, reference, _log, on_written=monitor.on_written if monitor else None)
        on_image = writer.submit if writer else None
        if monitor is not None:
            def on_image(run_, number, state):
                monitor.on_image(number, state)
                writer.submit(run_, number, state)
        try:
            with open_radio(args.radio, config) as radio:
                recorder = None
                if args.record:
                    from sdr import SigMFRecorder
                    recorder = SigMFRecorder.from_radio(args.record, radio, hw=args.radio,
                                                        description="diffradio rx --record")
                try:
                    options = ReceiveOptions(timeout_s=args.timeout, count=args.count if writer else 1,
                                             stop_when_complete=True, keep_frames=RX_KEEP_FRAMES if writer else None,
                                             warm=True, progress=_progress(args))
                    run_ = link.receive(radio, params, options, recorder=recorder, log=_log, on_image=on_image,
                                        on_frame=monitor.on_frame if monitor else None)
                finally:
                    if recorder is not None:
                        recorder.close()
        finally:
            written = writer.close() if writer else None  # the images completed so far, whatever happened
        report = emit
        if monitor is not None:
            def report(result, as_json):
                for number, image in enumerate(result.get("images", []), start=1):
                    if number > len(written):  # decoded at the end (incomplete streams)
                        monitor.on_written(number, image)
                emit(result, as_json)
        code = _decode_and_report(run_, args, reference, params, report, radio.stats.as_dict(), written)
        if server is not None and not run_.interrupted:
            from diffradio.live import wait_for_interrupt
            monitor.set_status("ended")
            _log(f"reception ended; the live page stays at {server.url} until Ctrl-C")
            sys.stdout.flush()
            wait_for_interrupt()
        return code
    finally:
        if server is not None:
            server.close()
        if monitor is not None:
            monitor.close()


def replay(args, emit) -> int:
    """Decode every frame of a SigMF capture (resampled to ``--rate``): the first image, or with
    ``{n}`` in ``--out`` every image in the capture. One line per frame and per complete image goes
    to stderr."""
    _check_out(args)
    capture = Path(args.capture)
    if capture.suffix != ".sigmf-meta":
        raise ValueError(f"{capture} is not a .sigmf-meta file; give the capture's metadata file")
    reference = read_image(args.reference) if args.reference else None
    params = OfdmParams(sample_rate_hz=args.rate)
    with open_radio(f"file:{capture}", RadioConfig(sample_rate_hz=args.rate)) as radio:
        run_ = link.receive(radio, params, ReceiveOptions(stop_when_complete=False, progress=_progress(args)),
                            log=_log)
    return _decode_and_report(run_, args, reference, params, emit)


def broadcast(args, emit) -> int:
    """One transmission, one simulated receiver per ``--snr``: semantic and digital side by side."""
    from diffradio.broadcast import run_broadcast
    if args.decoder == "digital":
        raise ValueError("broadcast sends the semantic and the digital stream; --decoder picks the semantic "
                         "decoder (direct or diffusion)")
    image = read_image(args.image)
    settings = LinkSettings(channel=args.channel, seed=args.seed, method=args.decoder, steps=args.steps,
                            source_codec=args.source_codec, bandwidth_ratio=args.bandwidth_ratio)
    result = run_broadcast(image, _codec(args.model), args.out, settings, snrs=args.snr,
                           digital_target_snr=args.digital_target_snr, image_path=args.image)
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
        elif args.what == "outage":
            from diffradio.outage import OutagePlan, run_outage_bench
            if args.runs < 1:
                raise ValueError(f"--runs must be >= 1, got {args.runs}")
            plan = OutagePlan(photo=args.photo, size=args.size, channels=tuple(args.channel),
                              snrs=tuple(args.snr or (-5.0, 0.0, 5.0, 10.0, 15.0)), runs_per_cell=args.runs,
                              first_seed=args.first_seed, steps=args.steps, quick=args.quick)
            result = run_outage_bench(args.out, _codec(args.model), plan, progress=not args.json)
            result = {k: v for k, v in result.items() if k != "runs"}
        else:
            from semantic.bench import BenchGrid, format_table, refine_plan, run_decoder_bench
            from semantic.data import heldout_photos, photos_in_dirs
            photos = photos_in_dirs([args.photo_dir]) if args.photo_dir else heldout_photos()
            if args.max_photos is not None:
                if args.max_photos < 1:
                    raise ValueError(f"--max-photos must be >= 1, got {args.max_photos}")
                photos = dict(list(photos.items())[: args.max_photos])
            grid = BenchGrid(ratios=tuple(args.bandwidth_ratio), snrs=tuple(args.snr or (0.0, 5.0, 10.0, 15.0)),
                             channels=tuple(args.latent_channel), realisms=tuple(args.realism or ()),
                             refine_steps=args.refine_steps, refine_snr_db=refine_plan(args.refine_snr))
            result = run_decoder_bench(args.out, photos, grid, weights=args.model, steps=args.steps, seeds=args.seeds,
                                       quick=args.quick, reference=not args.no_reference)
            print(format_table(result))
    if args.json:
        emit(result, True)
    else:
        print(f"figures and results in {args.out}")
    return 0
