"""The stream head (issue 21): a long sync and a strongly coded map before a stream's frames, found and
decoded far below the frames' own preambles and headers, and the frames then read where the stream's
layout puts them."""
import numpy as np
import pytest

from diffradio import link
from diffradio.stream import DESCRIPTOR_BYTES, StreamDescriptor
from phy import OfdmParams, Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.head import (END_PATTERN, SYNC_PERIODS, HeadMap, head_length, head_scores, head_waveform, map_bytes,
                      sync_length)
from phy.header import Header

P = OfdmParams()
PAYLOAD = bytes(range(DESCRIPTOR_BYTES))


def _through(x: np.ndarray, snr_db: float, seed: int, *, channel="awgn", cfo_hz=0.0, lead=1234,
             power_of: np.ndarray | None = None) -> np.ndarray:
    ref = x if power_of is None else power_of
    power = float(np.mean(np.abs(ref[ref != 0]) ** 2))
    timeline = np.concatenate([np.zeros(lead, np.complex64), x, np.zeros(3000, np.complex64)])
    cfg = ChannelConfig(snr_db=snr_db, channel=channel, cfo_hz=cfo_hz, seed=seed)
    return Channel(cfg, P.sample_rate_hz).apply(timeline, signal_power=power)


def test_the_head_is_the_sync_then_the_map_at_the_frames_power():
    tx = Transmitter(P, nonce=0x1234)
    burst = tx.head_burst(PAYLOAD, frame_count=6, stream_id=3)
    assert burst.size == head_length(DESCRIPTOR_BYTES, P) + P.idle_gap
    assert not np.any(burst[-P.idle_gap:])
    wave = head_waveform(HeadMap(3, 0x1234, 6, PAYLOAD), P)
    n = P.n_fft
    sync = wave[: sync_length(P)].reshape(-1, n)
    signs = np.concatenate([np.ones(SYNC_PERIODS), END_PATTERN])
    assert np.allclose(sync, signs[:, None] * sync[0])                  # one LTF symbol, the end's signs turned
    frame = tx.analog_burst(np.random.default_rng(0).normal(size=960))
    body = lambda b: np.mean(np.abs(b[b != 0]) ** 2)                                  # noqa: E731
    assert body(burst) == pytest.approx(body(frame), rel=0.05)
    assert HeadMap.unpack(HeadMap(3, 0x1234, 6, PAYLOAD).pack()) == HeadMap(3, 0x1234, 6, PAYLOAD)
    assert map_bytes(DESCRIPTOR_BYTES) == DESCRIPTOR_BYTES + 5


@pytest.mark.parametrize("snr_db, channel, seed", [(-11.0, "awgn", 1), (20.0, "awgn", 2), (-6.0, "tdl-c", 3)])
def test_a_head_is_found_and_its_map_decoded_far_below_the_frames_limit(snr_db, channel, seed):
    """At -11 dB in-band (the frames' STF tests stop near -6 dB, their headers near -4 dB) with a 23 kHz
    CFO the receiver gives the head's control frame: index 0, the map's stream fields and payload."""
    tx = Transmitter(P, nonce=0x4321)
    x = _through(tx.head_burst(PAYLOAD, frame_count=6, stream_id=9), snr_db, seed, channel=channel,
                 cfo_hz=23e3)
    rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,))
    (frame,) = rx.receive(x)
    h = frame.header
    assert (h.mode, h.frame_index, h.frame_count, h.stream_id, h.nonce) == ("control", 0, 6, 9, 0x4321)
    assert frame.crc_ok and frame.payload == PAYLOAD
    assert frame.cfo_hz == pytest.approx(23e3, abs=100)
    assert abs(frame.start_sample - 1234) <= P.n_cp
    assert rx.stats["heads"] == 1


def test_a_dc_offset_at_the_noise_power_does_not_cost_the_head():
    """The map is decoded with the DC offset removed (the mean of the sync's samples): 10 of 10 heads at
    -10 dB in-band with a DC offset at the noise power and a 15 kHz CFO."""
    tx = Transmitter(P, nonce=1)
    burst = tx.head_burst(PAYLOAD, frame_count=6, stream_id=1)
    power = float(np.mean(np.abs(burst[burst != 0]) ** 2))
    decoded = 0
    for seed in range(10):
        channel = Channel(ChannelConfig(snr_db=-10.0, cfo_hz=15e3, seed=seed), P.sample_rate_hz)
        x = _through(burst, -10.0, seed, cfo_hz=15e3) + np.sqrt(channel.noise_variance(power))
        decoded += len(Receiver(P, control_lengths=(DESCRIPTOR_BYTES,)).receive(x.astype(np.complex64))) == 1
    assert decoded == 10


def test_the_head_search_is_off_without_control_lengths_and_quiet_on_noise_and_frames():
    """No head detection on 2e6 noise samples nor on 40 analog frames at 20 dB (OFDM data is correlated
    from block to block and raises the coherent test; its coherent sum is no LTF through a short channel)."""
    tx = Transmitter(P, nonce=5)
    rng = np.random.default_rng(7)
    frames = np.concatenate([np.concatenate([np.zeros(int(rng.integers(200, 600)), np.complex64),
                                             tx.analog_burst(rng.normal(size=tx.max_analog_values()), frame_index=i)])
                             for i in range(40)])
    traffic = _through(frames, 20.0, 8)
    noise = (rng.normal(size=2_000_000) + 1j * rng.normal(size=2_000_000)).astype(np.complex64)
    for x in (traffic, noise):
        rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,))
        rx.receive(x)
        assert rx.stats["head_detections"] == 0
    n_windows = traffic.size // P.n_fft // 32
    assert np.sum(head_scores(traffic, n_windows, P)[0] > 0) == 0
    head = _through(tx.head_burst(PAYLOAD), 20.0, 9)
    plain = Receiver(P)
    assert plain.receive(head) == [] and plain.stats["head_detections"] == 0


def _stream(tx: Transmitter, values: np.ndarray, n_frames: int):
    desc = StreamDescriptor("semantic", (128, 128), n_frames, values.size, (4, 16, 8, 8), 77)
    tr = link.semantic_stream(tx, desc, values, stream_id=2)
    return desc, tr


def test_the_frames_are_read_where_the_heads_layout_puts_them():
    """A stream 10 dB below the frames' own limits: the head's descriptor gives the layout, and every
    analog frame and the descriptor's last copy are found there; the values come out with errors as
    large as their reported variance; received in small chunks, the same frames."""
    tx = Transmitter(P, nonce=0x0F0F)
    values = np.random.default_rng(1).normal(size=4096).astype(np.float32)
    desc, tr = _stream(tx, values, 2)
    x = _through(tr.samples, -10.0, 11, cfo_hz=-8e3, power_of=tr.bursts[1])
    rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,), layout=link.stream_layout)
    frames = rx.receive(x)
    assert rx.stats["implied"] == 3 and rx.stats["implied_missed"] == 0
    by_index = {f.header.frame_index: f for f in frames}
    assert sorted(by_index) == [0, 1, 2, 3]
    assert StreamDescriptor.unpack(by_index[0].payload) == desc
    got = np.concatenate([by_index[1].values, by_index[2].values])
    var = np.concatenate([by_index[1].noise_var, by_index[2].noise_var])
    assert 0.7 < np.mean((got - values) ** 2 / var) < 1.5
    assert by_index[3].header.mode == "control"
    chunked = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,), layout=link.stream_layout)
    again = [f for i in range(0, x.size, 5000) for f in chunked.process(x[i: i + 5000])] + chunked.flush()
    assert sorted(f.header.frame_index for f in again) == [0, 1, 2, 3]
    assert np.allclose(np.concatenate([f.values for f in sorted(again, key=lambda f: f.header.frame_index)
                                       if f.values is not None]), got, atol=1e-4)


def test_frames_not_where_the_layout_puts_them_are_not_filed_there():
    """Frames sent with gaps the layout does not know (not back to back after the head): the known
    header does not match at the implied places, so nothing is filed from them; at 15 dB the frames
    are still found by their own preambles and headers."""
    tx = Transmitter(P, nonce=0x0A0A)
    values = np.random.default_rng(2).normal(size=4096).astype(np.float32)
    _, tr = _stream(tx, values, 2)
    gapped = np.concatenate([np.concatenate([b, np.zeros(777, np.complex64)]) for b in tr.bursts])
    for snr_db, found in ((-10.0, [0]), (15.0, [0, 1, 2, 3])):
        x = _through(gapped, snr_db, 12, power_of=tr.bursts[1])
        rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,), layout=link.stream_layout)
        frames = rx.receive(x)
        assert rx.stats["implied"] == 0 and rx.stats["implied_missed"] == 3
        assert sorted({f.header.frame_index for f in frames}) == found


def test_a_layout_is_only_given_for_a_semantic_descriptor_of_the_heads_stream():
    desc = StreamDescriptor("semantic", (128, 192), 2, 9000, (6, 16, 8, 8), 5)
    head = Header("control", DESCRIPTOR_BYTES, frame_index=0, frame_count=4, stream_id=1, nonce=2)
    frames = link.stream_layout(head, desc.pack())
    assert [(h.mode, h.frame_index, h.length) for h in frames] == [("analog", 1, 4500), ("analog", 2, 4500),
                                                                   ("control", 3, DESCRIPTOR_BYTES)]
    assert {(h.stream_id, h.nonce, h.frame_count) for h in frames} == {(1, 2, 4)}
    other = Header("control", DESCRIPTOR_BYTES, frame_index=0, frame_count=5, stream_id=1, nonce=2)
    assert link.stream_layout(other, desc.pack()) == []
    assert link.stream_layout(head, b"not a descriptor at all....") == []
    digital = StreamDescriptor("digital", (128, 192), 2, 900)
    assert link.stream_layout(head, digital.pack()) == []
    assert SYNC_PERIODS * P.n_fft < head_length(DESCRIPTOR_BYTES, P)
