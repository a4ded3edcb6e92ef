"""Stream framing: descriptors, how latents are cut over frames, and reassembly at the receiver."""
from dataclasses import dataclass

import numpy as np
import pytest

from diffradio.stream import (StreamAssembler, StreamDescriptor, frame_slices, frames_needed, gather_bytes,
                              gather_latents)


@dataclass
class Hdr:
    mode: str
    frame_index: int
    frame_count: int
    stream_id: int
    nonce: int = 0
    length: int = 0


@dataclass
class Frame:
    header: Hdr
    values: np.ndarray | None = None
    noise_var: np.ndarray | None = None
    payload: bytes | None = None
    crc_ok: bool = True
    llr: np.ndarray | None = None


def test_descriptor_round_trip_and_rejects_foreign_bytes():
    d = StreamDescriptor("semantic", (96, 128), 3, 6144, (12, 4, 16, 16), 0xDEADBEEF)
    assert StreamDescriptor.unpack(d.pack()) == d
    assert d.frame_count == 5
    assert StreamDescriptor.unpack(b"not a descriptor at all, really") is None
    assert StreamDescriptor.unpack(b"DRS") is None


@pytest.mark.parametrize("n,per", [(1, 2), (7, 4), (1024, 4608), (6144, 4608), (9217, 4608)])
def test_frame_slices_cover_in_pairs(n, per):
    k = frames_needed(n, per)
    sl = frame_slices(n, k)
    assert sl[0].start == 0 and sl[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(sl, sl[1:]))
    assert all(0 < s.stop - s.start <= per for s in sl)
    assert all((s.stop - s.start) % 2 == 0 for s in sl[:-1])


def _semantic_frames(values, n_frames, var, sid=1, nonce=0):
    """Descriptor (first copy) and payload frames of a semantic stream."""
    desc = StreamDescriptor("semantic", (64, 64), n_frames, values.size, (1, 1, 1, values.size))
    frames = [Frame(Hdr("control", 0, desc.frame_count, sid, nonce), payload=desc.pack())]
    for i, sl in enumerate(frame_slices(values.size, n_frames), start=1):
        frames.append(Frame(Hdr("analog", i, desc.frame_count, sid, nonce), values[sl].copy(),
                            np.full(sl.stop - sl.start, var, np.float32)))
    return frames


def test_missing_frame_becomes_infinite_variance():
    vals = np.arange(100, dtype=np.float32)
    frames = _semantic_frames(vals, 3, 0.1)
    asm = StreamAssembler()
    for f in frames[:2] + frames[3:]:  # drop payload frame 2
        asm.add(f)
    _, state = asm.best()
    assert not state.complete
    est, var, used = gather_latents(state)
    sl = frame_slices(100, 3)[1]
    assert used == 2
    assert np.all(np.isinf(var[sl])) and np.all(est[sl] == 0)
    keep = np.ones(100, bool)
    keep[sl] = False
    np.testing.assert_allclose(est[keep], vals[keep])
    np.testing.assert_allclose(var[keep], 0.1)


def test_repeated_frames_combine_by_inverse_variance():
    vals = np.zeros(10, np.float32)
    a = _semantic_frames(vals + 1.0, 1, 1.0)
    b = _semantic_frames(vals + 4.0, 1, 3.0)
    asm = StreamAssembler()
    for f in a + b[1:]:
        asm.add(f)
    est, var, _ = gather_latents(asm.best()[1])
    np.testing.assert_allclose(est, (1.0 / 1 + 4.0 / 3) / (1 + 1 / 3), rtol=1e-6)
    np.testing.assert_allclose(var, 1 / (1 + 1 / 3), rtol=1e-6)


def test_digital_stream_needs_every_frame():
    data = bytes(range(200))
    desc = StreamDescriptor("digital", (64, 64), 2, len(data))
    good = [Frame(Hdr("control", 0, 4, 7), payload=desc.pack()),
            Frame(Hdr("digital", 1, 4, 7), payload=data[:100]),
            Frame(Hdr("digital", 2, 4, 7), payload=data[100:])]
    asm = StreamAssembler()
    for f in good:
        asm.add(f)
    assert gather_bytes(asm.best()[1]) == (data, 2)
    asm = StreamAssembler()
    for f in good[:2] + [Frame(Hdr("digital", 2, 4, 7), payload=None, crc_ok=False)]:
        asm.add(f)
    assert gather_bytes(asm.best()[1]) == (None, 1)


def test_last_descriptor_copy_is_enough():
    vals = np.ones(8, np.float32)
    frames = _semantic_frames(vals, 1, 0.5)
    desc_last = Frame(Hdr("control", 2, 3, 1), payload=frames[0].payload)
    asm = StreamAssembler()
    for f in frames[1:] + [desc_last]:
        asm.add(f)
    key, state = asm.best()
    assert key == (1, 0, 3) and state.complete


def _control_copy(data, index, frame_count, llr, sid=5):
    from phy.control import decode_control

    payload, ok = decode_control(llr, len(data))
    return Frame(Hdr("control", index, frame_count, sid, length=len(data)), payload=payload, crc_ok=ok,
                 llr=llr.astype(np.float32))


def test_failed_descriptor_copies_are_chase_combined():
    """Two control copies too noisy to decode alone decode once their LLRs are added."""
    from phy import OfdmParams
    from phy.control import encode_control

    desc = StreamDescriptor("semantic", (128, 192), 2, 6144, (6, 4, 16, 16), 7)
    data = desc.pack()
    bits = 2.0 * encode_control(data, OfdmParams()) - 1
    rng = np.random.default_rng(3)
    mu = 1.2  # LLR mean per copy 4 Es/N0: Es/N0 ≈ -5.2 dB, below what one copy decodes
    copies = [_control_copy(data, index, 4, bits * mu + np.sqrt(2 * mu) * rng.standard_normal(bits.size))
              for index in (0, 3)]
    assert not any(c.crc_ok for c in copies)
    asm = StreamAssembler()
    asm.add(copies[0])
    assert asm.best() is None
    asm.add(copies[1])
    assert asm.best()[1].descriptor == desc


def test_a_crc_failed_descriptor_copy_waits_for_the_next_copy():
    """A first copy that fails its CRC ends nothing: the payload is kept and the last copy
    completes the stream."""
    vals = np.arange(20, dtype=np.float32)
    frames = _semantic_frames(vals, 2, 0.1, sid=5)
    data = frames[0].payload
    failed = _control_copy(data, 0, 4, np.random.default_rng(0).standard_normal(100 * 48))
    assert not failed.crc_ok
    asm = StreamAssembler()
    assert [asm.add(f) for f in [failed] + frames[1:]] == [None, None, None]
    assert asm.images() == [] and not asm.any_complete()
    done = asm.add(Frame(Hdr("control", 3, 4, 5), payload=data))
    assert done is not None and done.complete and asm.images() == [done]
    np.testing.assert_allclose(gather_latents(done)[0], vals)


def test_two_transmissions_with_one_stream_id_stay_apart():
    """Two tx runs (same stream id, different nonces) interleaved: two images, in the order they
    completed, each with its own values; a repeated copy never completes a stream twice."""
    a = _semantic_frames(np.zeros(12, np.float32), 2, 0.1, sid=1, nonce=0x1111)
    b = _semantic_frames(np.ones(12, np.float32), 2, 0.1, sid=1, nonce=0x2222)
    asm = StreamAssembler()
    done = [asm.add(f) for f in [b[0], a[0], a[1], b[1], b[2], a[2], b[2]]]
    assert [d is not None for d in done] == [False, False, False, False, True, True, False]
    first, second = asm.images()
    assert first.key == (1, 0x2222, 4) and second.key == (1, 0x1111, 4)
    np.testing.assert_array_equal(gather_latents(first)[0], 1.0)
    np.testing.assert_array_equal(gather_latents(second)[0], 0.0)


def test_descriptor_must_match_its_headers_frame_count():
    """A descriptor announcing another frame count than its header is rejected, and frames with
    another frame_count belong to another stream."""
    frames = _semantic_frames(np.ones(8, np.float32), 2, 0.5)        # frame_count 4
    asm = StreamAssembler()
    asm.add(Frame(Hdr("control", 0, 5, 1), payload=frames[0].payload))
    assert asm.descriptors_rejected == 1 and asm.best() is None
    for f in frames[1:]:
        asm.add(f)
    assert asm.best() is None          # the payload's stream (frame_count 4) has no descriptor yet
    asm.add(frames[0])
    assert asm.best()[1].complete and len(asm.streams) == 2
