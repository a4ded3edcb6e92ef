"""The link: image → encoder → frames → radio → receiver → decoder → image.

Every command (loopback, tx, rx, replay, sweep) goes through the functions here, so that there is
one place where the semantic codec, the modem and the radio meet.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from diffradio.settings import LinkSettings, ReceiveOptions
from diffradio.stream import (DESCRIPTOR_BYTES, StreamAssembler, StreamDescriptor, frame_slices, frames_needed,
                              gather_bytes, gather_latents, stream_key)
from phy import ChannelConfig, Header, OfdmParams, Receiver, Transmitter
from phy.mcs import mcs_by_name, select_mcs
from sdr import Radio
from sdr.base import NO_SIGNAL_HINT, StopOnInterrupt

if TYPE_CHECKING:
    from phy.mcs import Mcs
    from semantic.source_codec import SourceFit

FAILURE_GRAY = 128


class LinkError(RuntimeError):
    """A user-facing link problem (no frame found, no stream descriptor, ...): one line with the fix."""


@dataclass
class Transmission:
    """The bursts of one image and what they cost.

    Attributes:
        bursts: complex64 bursts in frame order, each ending with the idle gap: the stream head (frame 0,
            ``phy.head``), the payload frames, the descriptor's last copy.
        descriptor: the stream's descriptor.
        channel_uses: complex payload symbols the image occupies (latents: values / 2).
        modulation, code_rate: the digital payload's MCS (None for semantic).
        source: the digital baseline's source coding (codec, bytes, quality, downscale); None for semantic.
    """

    bursts: list[np.ndarray]
    descriptor: StreamDescriptor
    channel_uses: int
    modulation: str | None = None
    code_rate: float | None = None
    source: "SourceFit | None" = None

    @property
    def frames_sent(self) -> int:
        return len(self.bursts)

    @property
    def samples(self) -> np.ndarray:
        """All bursts back to back, complex64 (n,)."""
        return np.concatenate(self.bursts).astype(np.complex64)


@dataclass
class Reception:
    """What came out of the receiver for one stream (one image) in the samples.

    Attributes:
        image: uint8 (H, W, 3) decoded image (the failure image when the payload was lost).
        scheme: 'semantic' or 'digital'.
        frames: the stream's ReceivedFrames (descriptors included), in arrival order.
        frames_detected: frames of the stream whose header decoded.
        frames_decoded: payload frames used for the image (descriptors not counted).
        frames_expected: payload frames the descriptor announced.
        channel_uses: complex payload symbols of the stream.
        decode_s: wall time of the image decoder in seconds.
        samples: radio samples processed.
        extra: further JSON keys: 'stream_id', 'nonce' and, by scheme, 'values_missing' or
            'source_bytes', 'source_codec', 'source_downscale', 'mcs' (as far as received) and
            'failure_image'.
    """

    image: np.ndarray
    scheme: str
    frames: list
    frames_detected: int
    frames_decoded: int
    frames_expected: int
    channel_uses: int
    decode_s: float
    samples: int
    extra: dict = field(default_factory=dict)

    @property
    def snr_db_est(self) -> float | None:
        vals = [f.snr_db for f in self.frames if np.isfinite(f.snr_db)]
        return float(np.mean(vals)) if vals else None

    @property
    def cfo_hz_est(self) -> float | None:
        vals = [f.cfo_hz for f in self.frames]
        return float(np.mean(vals)) if vals else None


def model_id(codec) -> int:
    """Which model made a semantic stream: the codec's fingerprint (CRC-32 of its encoder and projection)."""
    return codec.fingerprint()


DESCRIPTOR_LEVEL = 1
"""Repetition level of the descriptor's control frames (``phy.control.LEVEL_COPIES``: 6 copies of each
code bit): the one frame a stream cannot do without is sent at a lower rate than any header."""


def _descriptor_bursts(tx: Transmitter, desc: StreamDescriptor, stream_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The descriptor's two copies: a stream head (``phy.head``: found and decoded far below the
    frames' own preambles and headers) before the frames, and a control frame at DESCRIPTOR_LEVEL last."""
    return (tx.head_burst(desc.pack(), frame_count=desc.frame_count, stream_id=stream_id),
            tx.control_burst(desc.pack(), frame_index=desc.frame_count - 1, frame_count=desc.frame_count,
                             stream_id=stream_id, level=DESCRIPTOR_LEVEL))


def stream_layout(header: Header, payload: bytes) -> list[Header]:
    """The frames that follow a stream's head (``phy.Receiver``'s ``layout``), from the head's control
    frame ``header`` and its ``payload`` (the descriptor): a semantic stream's analog frames (values cut
    by ``frame_slices``) and the descriptor's last copy; none for a digital stream (its frames' sizes
    and MCS are not in the descriptor) or a payload that is no descriptor of this stream."""
    desc = StreamDescriptor.unpack(payload)
    if desc is None or desc.scheme != "semantic" or desc.frame_count != header.frame_count:
        return []
    kw = dict(frame_count=desc.frame_count, stream_id=header.stream_id, nonce=header.nonce)
    frames = [Header("analog", sl.stop - sl.start, frame_index=i, **kw)
              for i, sl in enumerate(frame_slices(desc.payload_len, desc.n_data_frames), start=1)]
    return frames + [Header("control", len(payload), frame_index=desc.frame_count - 1, level=DESCRIPTOR_LEVEL, **kw)]


def semantic_transmission(image: np.ndarray, codec, tx: Transmitter, stream_id: int = 0, *,
                          bandwidth_ratio: str | None = None, refine_steps: int = 0,
                          refine_snr_db: float = 10.0) -> Transmission:
    """Encode ``image`` (uint8 (H, W, 3)) to latents at ``bandwidth_ratio`` ('1/12', '1/24', '1/48';
    None = 1/24) and put them on analog frames; the descriptor's latent shape tells the receiver the
    ratio. ``refine_steps`` > 0 refines the latents for ``refine_snr_db`` (dB) first
    (``SemanticCodec.encode``)."""
    latents = codec.encode(image, bandwidth_ratio, refine_steps=refine_steps, refine_snr_db=refine_snr_db)
    flat = latents.reshape(-1).astype(np.float32)
    n_frames = frames_needed(flat.size, tx.max_analog_values())
    desc = StreamDescriptor("semantic", image.shape[:2], n_frames, flat.size, tuple(latents.shape),
                            model_id(codec))
    return semantic_stream(tx, desc, flat, stream_id)


def semantic_stream(tx: Transmitter, desc: StreamDescriptor, values: np.ndarray, stream_id: int = 0) -> Transmission:
    """The bursts of a semantic stream: the head (frame 0, carrying ``desc``), the analog frames of
    ``values`` (float (desc.payload_len,), cut by ``frame_slices``) and the descriptor's last copy."""
    first, last = _descriptor_bursts(tx, desc, stream_id)
    payload = [tx.analog_burst(values[sl], frame_index=i, frame_count=desc.frame_count, stream_id=stream_id)
               for i, sl in enumerate(frame_slices(values.size, desc.n_data_frames), start=1)]
    return Transmission([first, *payload, last], desc, channel_uses=-(-values.size // 2))


def source_budget(channel_uses: int, mcs: "Mcs") -> int:
    """Source bytes that ``channel_uses`` complex symbols carry at ``mcs`` (per-frame CRC and padding
    not charged to the digital link)."""
    return int(channel_uses * mcs.efficiency // 8)


def digital_transmission(image: np.ndarray, channel_uses: int, snr_db: float, tx: Transmitter,
                         stream_id: int = 0, *, channel: str = "awgn", source_codec: str | None = None,
                         mcs: "Mcs | None" = None) -> Transmission:
    """The separation baseline: an image codec (AVIF by default) sized to ``channel_uses`` complex
    symbols, then 5G LDPC and QAM.

    The MCS (modulation, LDPC rate) is ``mcs`` if given, else the most efficient one whose calibrated
    FER stays ≤ 1e-2 at ``snr_db`` on ``channel``'s family (``phy.mcs``); the source coding is the best
    of ``source_codec`` ('avif', 'webp', 'jpeg'; None = the strongest available) whose bytes fit
    ``source_budget(channel_uses, mcs)`` (``semantic.source_codec.fit``).
    """
    from semantic import source_codec as sc

    codec = sc.check_codec(source_codec) if source_codec else sc.default_codec()
    mcs = mcs or select_mcs(snr_db, channel)
    budget = source_budget(channel_uses, mcs)
    fit = sc.fit(image, budget, codec)
    if fit is None:
        raise LinkError(f"the digital baseline cannot fit any {codec.upper()} of this image into {budget} bytes "
                        f"({channel_uses} channel uses at {mcs.name}); use a larger image or a higher SNR")
    per_frame = tx.max_digital_bytes(mcs.modulation, mcs.code_rate)
    chunks = [fit.data[i:i + per_frame] for i in range(0, len(fit.data), per_frame)]
    desc = StreamDescriptor("digital", image.shape[:2], len(chunks), len(fit.data))
    first, last = _descriptor_bursts(tx, desc, stream_id)
    payload = [tx.digital_burst(c, modulation=mcs.modulation, code_rate=mcs.code_rate, frame_index=i,
                                frame_count=desc.frame_count, stream_id=stream_id)
               for i, c in enumerate(chunks, start=1)]
    return Transmission([first, *payload, last], desc, channel_uses=mcs.channel_uses(len(fit.data)),
                        modulation=mcs.modulation,
                        code_rate=mcs.code_rate, source=fit)


def build_transmission(image: np.ndarray, codec, tx: Transmitter,
                       settings: LinkSettings = LinkSettings()) -> Transmission:
    """The bursts of ``image`` (uint8 (H, W, 3)) for ``settings.scheme``, as stream
    ``settings.stream_id``: 'semantic' (analog latents at ``bandwidth_ratio``, refined for
    ``snr_hint_db`` with ``refine_steps`` > 0), or 'digital' (the source-codec + LDPC baseline, given
    the semantic stream's channel uses and the MCS for ``snr_hint_db`` on ``channel``, or ``mcs``;
    see ``digital_transmission``)."""
    s = settings
    transmission = semantic_transmission(image, codec, tx, s.stream_id, bandwidth_ratio=s.bandwidth_ratio,
                                         refine_steps=s.refine_steps if s.scheme == "semantic" else 0,
                                         refine_snr_db=s.snr_hint_db)
    if s.scheme == "digital":
        transmission = digital_transmission(image, transmission.channel_uses, s.snr_hint_db, tx, s.stream_id,
                                            channel=s.channel, source_codec=s.source_codec, mcs=s.mcs)
    return transmission


def digital_report(transmission: Transmission) -> dict:
    """The digital JSON keys of a transmission (docs/cli.md): ``source_codec``, ``source_bytes``, ``mcs``,
    and the source coding's quality and downscale; empty for a semantic one."""
    fit = transmission.source
    if fit is None:
        return {}
    return dict(source_codec=fit.codec, source_bytes=len(fit.data), source_quality=fit.quality,
                source_downscale=fit.downscale, mcs=f"{transmission.modulation} r{transmission.code_rate:.3g}",
                modulation=transmission.modulation, code_rate=transmission.code_rate)


def transmit(radio: Radio, transmission: Transmission, repeat: bool = False) -> None:
    """Hand the stream to ``radio`` as one burst (looped, as a cyclic buffer, when ``repeat``): its frames
    go out back to back after the head, where the receiver looks for them (``stream_layout``)."""
    label = f"diffradio {transmission.descriptor.scheme} stream"
    radio.transmit(transmission.samples, repeat=repeat, label=label)


@dataclass
class RxRun:
    """What one receive pass produced.

    Attributes:
        assembler: frames filed by stream; ``assembler.images()`` lists the streams that give an image.
        frames: every ReceivedFrame in arrival order (the last ``keep_frames`` of them when
            ``receive`` was given that limit; ``assembler.frames_detected`` counts them all).
        samples: radio samples processed.
        head: the first samples (complex64, at most ``keep`` of them), for the diagnostics spectrum.
        interrupted: reception ended by Ctrl-C (what was received is kept).
        hint: what to check when no frame was found (the radio's ``no_signal_hint``).
    """

    assembler: StreamAssembler
    frames: list | deque
    samples: int
    head: np.ndarray
    interrupted: bool = False
    hint: str = NO_SIGNAL_HINT


def warm_up(params: OfdmParams) -> None:
    """Compile (or load from numba's cache) every receiver kernel of the analog and control paths,
    by receiving one control and one analog burst: done before a radio starts streaming, so that
    the first frames do not stall a live radio into overflows."""
    tx = Transmitter(params, nonce=0)
    Receiver(params).receive(np.concatenate([np.zeros(256, np.complex64), tx.control_burst(b"warm up"),
                                             tx.analog_burst(np.ones(2 * params.n_data))]))


def frame_line(frame) -> str:
    """One log line about a received frame."""
    h = frame.header
    what = h.mode if h.mode != "control" else "descriptor" + (
        " (stream head)" if frame.diagnostics.get("head") else "" if frame.crc_ok else " (CRC failed)")
    return (f"frame  stream {h.stream_id} nonce {h.nonce:04x}  {h.frame_index}/{h.frame_count}  {what}  "
            f"sample {frame.start_sample}  SNR {frame.snr_db:.1f} dB  CFO {frame.cfo_hz:+.0f} Hz")


def image_line(number: int, state) -> str:
    """One log line about a stream that became a complete image."""
    sid, nonce, _ = state.key
    d = state.descriptor
    return (f"image {number}  stream {sid} nonce {nonce:04x}  {d.scheme} {d.image_shape[1]}x{d.image_shape[0]}  "
            f"{d.n_data_frames} payload frame(s) complete")


def receive(radio: Radio, params: OfdmParams, options: ReceiveOptions = ReceiveOptions(), *, recorder=None,
            log=None, on_image=None, on_frame=None) -> RxRun:
    """Stream samples from ``radio`` through the receiver until the radio ends, ``options.timeout_s``
    passes (radio time: samples / sample rate), ``options.count`` images are complete
    (``options.stop_when_complete``; None: no limit), or Ctrl-C (``RxRun.interrupted``); see
    ``ReceiveOptions`` for the rest (chunk size, samples and frames kept, warm-up, progress bar).

    ``recorder`` (an ``sdr.SigMFRecorder``) gets every chunk; ``log`` (a callable taking a str), if
    given, one line per frame and per complete image. ``on_image`` (a callable taking this ``RxRun``,
    the image's number, from 1 in the order images complete, and its ``StreamState``), if given, gets
    each stream as it completes and the stream is released (``StreamAssembler.release``: the callee
    owns it, later copies are only counted); ``options.keep_frames`` bounds ``RxRun.frames`` to the
    most recent frames, so that a long reception does not hold every frame. ``on_frame`` (a callable
    taking the frame's ``StreamState`` and the ``ReceivedFrame``), if given, gets every frame once it
    is filed (``rx --live``).
    """
    from tqdm import tqdm

    count, keep = options.count, options.keep
    if options.warm:
        warm_up(params)
    rx = Receiver(params, control_lengths=(DESCRIPTOR_BYTES,), layout=stream_layout)
    run = RxRun(StreamAssembler(), deque(maxlen=options.keep_frames) if options.keep_frames else [], 0,
                np.zeros(0, np.complex64), hint=radio.no_signal_hint())
    head: list[np.ndarray] = []
    limit = None if options.timeout_s is None else int(options.timeout_s * params.sample_rate_hz)
    bar = tqdm(total=limit, unit="S", unit_scale=True, desc="receiving", disable=not options.progress, leave=False)

    def file_frames(frames) -> None:
        for f in frames:
            done = run.assembler.add(f)
            run.frames.append(f)
            if on_frame is not None:
                on_frame(run.assembler.streams.get(stream_key(f.header)), f)
            if log is not None:
                log(frame_line(f))
            if done is None:
                continue
            number = len(run.assembler.completed)
            if log is not None:
                log(image_line(number, done))
            if on_image is not None and (count is None or number <= count):
                on_image(run, number, run.assembler.release(done.key))

    blocks = radio.stream(options.chunk, limit)
    try:
        with StopOnInterrupt() as stop:
            try:
                while not stop.requested:
                    with stop.waiting():
                        block = next(blocks, None)
                    if block is None:
                        break
                    if recorder is not None:
                        recorder.write(block)
                    if run.samples < keep:
                        head.append(block[: keep - run.samples])
                    run.samples += block.size
                    bar.update(block.size)
                    file_frames(rx.process(block))
                    if options.stop_when_complete and count is not None and len(run.assembler.completed) >= count:
                        break
            except KeyboardInterrupt:  # while waiting for the radio, or a second Ctrl-C
                stop.requested = True
            run.interrupted = stop.requested
        file_frames(rx.flush())
    finally:
        bar.close()
    if head:
        run.head = np.concatenate(head).astype(np.complex64)
    return run


def images(run: RxRun, first_only: bool = False) -> list:
    """The streams of ``run`` that give an image (``StreamAssembler.images``; the first only when
    ``first_only``). Raises LinkError when there is none (no frame, or no stream descriptor)."""
    found = run.assembler.images()
    if not found:
        if not run.assembler.frames_detected:
            raise LinkError(f"no frame found in {run.samples} samples; {run.hint}")
        raise LinkError(f"{run.assembler.frames_detected} frame(s) detected but no stream descriptor decoded; the signal is "
                        "too weak or is not a diffradio stream")
    return found[:1] if first_only else found


def decode(run: RxRun, *, codec=None, settings: LinkSettings = LinkSettings(), stream=None) -> Reception:
    """Rebuild the image of ``stream`` (a ``StreamState`` of ``run``; default: the first image,
    ``images``). ``codec`` is loaded (shipped default) if a semantic stream needs it and none is given;
    the receiver's ``settings`` (``method``, ``steps``, ``seed``, ``realism``) go to ``codec.decode``;
    the stream's descriptor, not ``settings.scheme``, says how it was sent.

    Raises LinkError when no frame or no stream descriptor was received.
    """
    state = stream if stream is not None else images(run, first_only=True)[0]
    frames = state.received
    desc = state.descriptor
    t0 = time.perf_counter()
    extra: dict = {"stream_id": state.key[0], "nonce": state.key[1]}
    if desc.scheme == "semantic":
        if codec is None:
            from semantic import SemanticCodec
            codec = SemanticCodec.from_pretrained()
        if desc.model_id != model_id(codec):
            raise LinkError(f"the stream was encoded by model {desc.model_id:08x} but the loaded model is "
                            f"{model_id(codec):08x}; pass the sender's model with --model")
        values, var, used = gather_latents(state)
        image = codec.decode(values.reshape(desc.latent_shape), var.reshape(desc.latent_shape),
                             desc.image_shape, method=settings.method, steps=settings.steps, seed=settings.seed,
                             realism=settings.realism)
        channel_uses = -(-desc.payload_len // 2)
        extra["values_missing"] = int(np.isinf(var).sum())
    else:
        from semantic import source_codec

        data, used = gather_bytes(state)
        extra["source_bytes"] = desc.payload_len
        image = None
        if data is not None:
            try:
                image = source_codec.decode(data, desc.image_shape)
                extra["source_codec"], extra["source_downscale"] = source_codec.sent_format(data)
            except ValueError:
                image = None
        if image is None:
            image = np.full((*desc.image_shape, 3), FAILURE_GRAY, dtype=np.uint8)
            extra["failure_image"] = True
        payload_headers = [f.header for f in frames if f.header.mode == "digital"]
        channel_uses = None
        if payload_headers:
            mcs = mcs_by_name(payload_headers[0].modulation, payload_headers[0].code_rate)
            channel_uses = mcs.channel_uses(desc.payload_len)
            extra["mcs"] = mcs.name
    return Reception(image=image, scheme=desc.scheme, frames=frames, frames_detected=len(frames),
                     frames_decoded=used, frames_expected=desc.n_data_frames, channel_uses=channel_uses,
                     decode_s=time.perf_counter() - t0, samples=run.samples, extra=extra)


def loopback(image: np.ndarray, codec, radio: ChannelConfig | str, settings: LinkSettings = LinkSettings(), *,
             progress: bool = False, params: OfdmParams | None = None) -> tuple[Transmission, RxRun, Reception]:
    """Send ``image`` through ``radio`` (a simulated channel, or a URI the user gave; see ``hear``)
    and decode what comes back.

    ``settings.scheme`` 'digital' sends the source-codec + LDPC baseline (its MCS chosen for
    ``snr_hint_db`` on ``channel``'s calibration, or ``mcs``; its ``source_codec`` bytes sized to the
    semantic stream's channel uses); 'semantic' sends latents at ``bandwidth_ratio``, refined for
    ``snr_hint_db`` with ``refine_steps`` > 0, and decodes them with ``method`` (None = the codec's
    default). The stream nonce is ``seed & 0xFFFF``. See ``hear`` for how the radio is used.
    """
    params = params or OfdmParams()
    # the stream nonce follows the seed, so that a seeded loopback is reproducible
    transmission = build_transmission(image, codec, Transmitter(params, nonce=settings.seed & 0xFFFF), settings)
    run, reception = hear(transmission, radio, settings, codec=codec, progress=progress, params=params)
    return transmission, run, reception


def hear(transmission: Transmission, radio: ChannelConfig | str, settings: LinkSettings = LinkSettings(), *,
         codec=None, progress: bool = False, params: OfdmParams | None = None) -> tuple[RxRun, Reception]:
    """Send a built ``transmission`` through ``radio``, receive and decode it.

    ``radio`` is a ``ChannelConfig`` (a simulated radio, ``sdr.sim.SimRadio``, through that channel)
    or a radio URI from the user (``sdr.open_radio``). A simulated radio sends each burst once and
    plays the stream out (one fading realisation and noise draw per radio: one receiver); any other
    radio loops the stream (cyclic buffer) and listens for 5 s. The receiver's ``settings``
    (``method``, ``steps``, ``seed``, ``realism``) go to the semantic decoder.
    """
    from sdr import RadioConfig, open_radio
    from sdr.sim import SimRadio

    params = params or OfdmParams()
    config = RadioConfig(sample_rate_hz=params.sample_rate_hz)
    with (SimRadio(radio, config) if isinstance(radio, ChannelConfig) else open_radio(radio, config)) as opened:
        hardware = not isinstance(opened, SimRadio)
        transmit(opened, transmission, repeat=hardware)
        run = receive(opened, params, ReceiveOptions(timeout_s=5.0 if hardware else None,
                                                     stop_when_complete=hardware, progress=progress))
    return run, decode(run, codec=codec, settings=settings)


def measurements(rec: Reception, reference: np.ndarray | None, out: str | None) -> dict:
    """The JSON keys of a received image (docs/cli.md): metrics when ``reference`` is known."""
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
