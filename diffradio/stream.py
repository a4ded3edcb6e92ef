"""How one image travels as a stream of frames, and how a receiver puts it back together.

A stream is ``frame_count`` frames sharing a ``stream_id`` and a ``nonce`` (drawn at random by
each transmitter, so two ``tx`` runs with one stream id are two streams):
frame 0 and frame ``frame_count - 1`` carry the same :class:`StreamDescriptor` (a control frame,
``phy.control``: Golay-coded BPSK that needs no Sionna, sent twice so that one loss does not lose
the image); frames 1..N carry the payload: analog latent values (scheme ``semantic``) or JPEG bytes
(scheme ``digital``). The receiver files frames by (stream_id, nonce, frame_count) and takes a
descriptor only when its frame_count is the one its header announced, so frames of different
images never mix.
"""
from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from phy.control import decode_control

_MAGIC = b"DRS1"
_FORMAT = "<4sBHHHIHHHHI"  # magic, scheme, H, W, n_data_frames, payload_len, n_tiles, C, h, w, model id
_SCHEMES = ("semantic", "digital")
DESCRIPTOR_BYTES = struct.calcsize(_FORMAT)
"""Length of a packed StreamDescriptor in bytes (the payload of its control frames)."""


@dataclass(frozen=True)
class StreamDescriptor:
    """What a receiver needs to rebuild the image.

    Attributes:
        scheme: 'semantic' (analog latents) or 'digital' (JPEG bytes).
        image_shape: (H, W) of the sent image in pixels.
        n_data_frames: payload frames (frame indices 1..n_data_frames).
        payload_len: semantic: number of real latent values; digital: JPEG length in bytes.
        latent_shape: semantic: (n_tiles, C, h, w); digital: (0, 0, 0, 0).
        model_id: semantic: CRC-32 of the encoder's weights, so that a receiver with another model
            refuses the stream instead of decoding a wrong image; digital: 0.
    """

    scheme: str
    image_shape: tuple[int, int]
    n_data_frames: int
    payload_len: int
    latent_shape: tuple[int, int, int, int] = (0, 0, 0, 0)
    model_id: int = 0

    @property
    def frame_count(self) -> int:
        """Frames in the stream: the payload frames plus the two descriptor copies."""
        return self.n_data_frames + 2

    def pack(self) -> bytes:
        return struct.pack(_FORMAT, _MAGIC, _SCHEMES.index(self.scheme), *self.image_shape,
                           self.n_data_frames, self.payload_len, *self.latent_shape, self.model_id)

    @classmethod
    def unpack(cls, data: bytes) -> "StreamDescriptor | None":
        """Parse a descriptor; None when ``data`` is not one (another program's frame)."""
        if len(data) < struct.calcsize(_FORMAT):
            return None
        magic, scheme, h, w, n, length, *latent, model_id = struct.unpack_from(_FORMAT, data)
        if magic != _MAGIC or scheme >= len(_SCHEMES):
            return None
        return cls(_SCHEMES[scheme], (h, w), n, length, tuple(latent), model_id)


def frames_needed(n_values: int, max_per_frame: int) -> int:
    """Analog frames needed for ``n_values`` reals when one frame holds ``max_per_frame`` (even)."""
    pairs_per_frame = max(1, max_per_frame // 2)
    return max(1, -(-(-(-n_values // 2)) // pairs_per_frame))


def frame_slices(n_values: int, n_frames: int) -> list[slice]:
    """Cut ``n_values`` reals into ``n_frames`` near-equal slices of whole pairs (the last may be odd).

    Transmitter and receiver both derive the cut from (n_values, n_frames) alone.
    """
    n_pairs = -(-n_values // 2)
    base, extra = divmod(n_pairs, n_frames)
    bounds = np.cumsum([0] + [2 * (base + (i < extra)) for i in range(n_frames)])
    return [slice(int(a), int(min(b, n_values))) for a, b in zip(bounds[:-1], bounds[1:])]


StreamKey = tuple[int, int, int]
"""(stream_id, nonce, frame_count) of the frames of one transmitted image."""


def stream_key(header) -> StreamKey:
    """The stream a frame belongs to, from its header."""
    return header.stream_id, header.nonce, header.frame_count


@dataclass
class StreamState:
    """Frames gathered so far for one stream.

    Attributes:
        key: (stream_id, nonce, frame_count).
        descriptor: the stream's descriptor once a copy decoded (or copies combined).
        frames: payload frames by frame index (repeats kept).
        failed_descriptors: control frames of the descriptor whose CRC failed (kept for combining).
        received: every frame of the stream, in arrival order (descriptors included).
    """

    key: StreamKey = (0, 0, 0)
    descriptor: StreamDescriptor | None = None
    frames: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    failed_descriptors: list = field(default_factory=list)
    received: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.descriptor is not None and all(
            i in self.frames for i in range(1, self.descriptor.n_data_frames + 1))


class StreamAssembler:
    """Collects received frames (``phy.ReceivedFrame``) by stream (:func:`stream_key`) and frame index.

    Attributes:
        streams: StreamState by key, in order of their first frame.
        completed: keys of the streams that became complete, in the order they did (arrival order).
        released: keys of streams handed out by :meth:`release`: their later frames are counted only.
        frames_detected: frames filed.
        descriptors_rejected: descriptor copies whose frame_count contradicts their header's.
    """

    def __init__(self) -> None:
        self.streams: dict[StreamKey, StreamState] = {}
        self.completed: list[StreamKey] = []
        self.released: set[StreamKey] = set()
        self.frames_detected = 0
        self.descriptors_rejected = 0

    def add(self, frame) -> StreamState | None:
        """File one frame; return its stream when this frame completed it (once per stream).

        Control frames at index 0 or frame_count - 1 carry the descriptor. A copy whose CRC failed
        never ends anything: it is kept, and once two or more are in hand their LLRs are added
        (chase combining: every copy carries the same coded bits) and decoded again, which gains up
        to 3 dB for the one frame a stream cannot do without; otherwise the next copy is awaited.
        """
        self.frames_detected += 1
        hdr = frame.header
        key = stream_key(hdr)
        if key in self.released:
            return None
        state = self.streams.get(key)
        if state is None:
            state = self.streams[key] = StreamState(key)
        state.received.append(frame)
        if hdr.mode == "control":
            if state.descriptor is None and hdr.frame_index in (0, hdr.frame_count - 1):
                desc = None
                if frame.crc_ok:
                    desc = StreamDescriptor.unpack(frame.payload)
                elif frame.llr is not None:
                    state.failed_descriptors.append(frame)
                    desc = _combine_descriptors(state.failed_descriptors)
                if desc is not None and desc.frame_count != hdr.frame_count:
                    self.descriptors_rejected += 1
                    desc = None
                state.descriptor = desc
        elif 0 < hdr.frame_index < hdr.frame_count - 1:
            state.frames[hdr.frame_index].append(frame)
        if state.complete and key not in self.completed:
            self.completed.append(key)
            return state
        return None

    def release(self, key: StreamKey) -> StreamState:
        """Hand out the stream ``key`` for good: its state is no longer written to (it may go to
        another thread), and its later frames (cyclic repeats) are counted but not kept, so a long
        reception holds only the streams still being gathered."""
        self.released.add(key)
        return self.streams[key]

    def images(self) -> list[StreamState]:
        """Streams that give an image: the complete ones in the order they completed, then those
        with a descriptor but missing payload frames, in the order of their first frame."""
        done = [self.streams[k] for k in self.completed]
        return done + [s for k, s in self.streams.items() if k not in self.completed and s.descriptor is not None]

    def best(self) -> tuple[StreamKey, StreamState] | None:
        """The first image (:meth:`images`) as (key, state), or None."""
        images = self.images()
        return (images[0].key, images[0]) if images else None

    def any_complete(self) -> bool:
        return bool(self.completed)


def _combine_descriptors(copies: list) -> StreamDescriptor | None:
    """Decode the sum of the LLRs of failed descriptor copies of equal length; None if still failing."""
    last = copies[-1]
    same = [f for f in copies if f.header.length == last.header.length and f.llr.size == last.llr.size]
    if len(same) < 2:
        return None
    data, ok = decode_control(np.sum([f.llr for f in same], axis=0), last.header.length)
    return StreamDescriptor.unpack(data) if ok else None


def gather_latents(state: StreamState) -> tuple[np.ndarray, np.ndarray, int]:
    """Rebuild the latent vector of a semantic stream.

    Repeated copies of a frame (a cyclic transmission) are combined by inverse-variance weighting.
    Returns (values float32 (n,), noise_var float32 (n,), frames used); missing values have
    value 0 and variance inf.
    """
    desc = state.descriptor
    n = desc.payload_len
    values = np.zeros(n, dtype=np.float64)
    precision = np.zeros(n, dtype=np.float64)
    slices = frame_slices(n, desc.n_data_frames)
    used = 0
    for index, sl in enumerate(slices, start=1):
        copies = [f for f in state.frames.get(index, []) if f.values is not None]
        for f in copies:
            if f.values.size != sl.stop - sl.start:
                continue
            w = 1.0 / np.maximum(f.noise_var.astype(np.float64), 1e-12)
            values[sl] += w * f.values
            precision[sl] += w
        used += bool(copies)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(precision > 0, values / precision, 0.0)
        var = np.where(precision > 0, 1.0 / precision, np.inf)
    return est.astype(np.float32), var.astype(np.float32), used


def gather_bytes(state: StreamState) -> tuple[bytes | None, int]:
    """Concatenate a digital stream's payload frames; (None, frames ok) when any frame is missing."""
    desc = state.descriptor
    parts = []
    for index in range(1, desc.n_data_frames + 1):
        good = [f for f in state.frames.get(index, []) if f.crc_ok and f.payload is not None]
        parts.append(good[0].payload if good else None)
    ok = sum(p is not None for p in parts)
    if ok < desc.n_data_frames:
        return None, ok
    return b"".join(parts)[: desc.payload_len], ok
