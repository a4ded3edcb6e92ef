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


@dataclass
class Frame:
    header: Hdr
    values: np.ndarray | None = None
    noise_var: np.ndarray | None = None
    payload: bytes | None = None
    crc_ok: bool = True


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


def _semantic_frames(values, n_frames, var, sid=1):
    desc = StreamDescriptor("semantic", (64, 64), n_frames, values.size, (1, 1, 1, values.size))
    frames = [Frame(Hdr("digital", 0, desc.frame_count, sid), payload=desc.pack())]
    for i, sl in enumerate(frame_slices(values.size, n_frames), start=1):
        frames.append(Frame(Hdr("analog", i, desc.frame_count, sid), values[sl].copy(),
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
    good = [Frame(Hdr("digital", 0, 4, 7), payload=desc.pack()),
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
    desc_last = Frame(Hdr("digital", 2, 3, 1), payload=frames[0].payload)
    asm = StreamAssembler()
    for f in frames[1:] + [desc_last]:
        asm.add(f)
    sid, state = asm.best()
    assert sid == 1 and state.complete


def test_failed_descriptor_copies_are_chase_combined():
    """Two copies too noisy to decode alone decode once their LLRs are added."""
    from phy.ldpc import decode_payload, encode_payload

    desc = StreamDescriptor("semantic", (128, 192), 2, 6144, (6, 4, 16, 16), 7)
    data = desc.pack()
    n_bits = 2 * 48 * 8  # comfortably more than one rate-1/2 codeword of the descriptor
    bits = encode_payload(data, "bpsk", 0.5, n_bits).astype(float)
    rng = np.random.default_rng(3)
    mu = 0.9  # LLR mean per copy: Es/N0 ≈ -3.5 dB for BPSK, below what one copy decodes
    copies = []
    for index in (0, 3):
        llr = (2 * bits - 1) * mu + np.sqrt(2 * mu) * rng.standard_normal(n_bits)
        payload, ok = decode_payload(llr, len(data), "bpsk", 0.5)
        assert not ok
        hdr = Hdr("digital", index, 4, 5)
        hdr.length, hdr.modulation, hdr.code_rate = len(data), "bpsk", 0.5
        copies.append(Frame(hdr, payload=payload, crc_ok=False))
        copies[-1].llr = llr.astype(np.float32)
    asm = StreamAssembler()
    asm.add(copies[0])
    assert asm.best() is None
    asm.add(copies[1])
    assert asm.best()[1].descriptor == desc
