"""Streaming receiver: chunked input, back-to-back frames, a burst at the buffer end, rejection of
corrupted headers and of noise, bad input."""
import numpy as np
import pytest

from phy import Receiver, Transmitter
from phy.channel import Channel, ChannelConfig

TX = Transmitter()
RNG = np.random.default_rng(10)
VALUES = [RNG.normal(size=n) for n in (4608, 1000, 37)]


def _stream(gap=True):
    bursts = [TX.analog_burst(v, frame_index=i, frame_count=3) for i, v in enumerate(VALUES)]
    bursts.insert(1, TX.digital_burst(b"diffradio" * 20, modulation="16qam", code_rate=0.75, frame_index=9))
    if not gap:
        bursts = [b[: b.size - TX.params.idle_gap] for b in bursts]
    starts = np.cumsum([777] + [b.size for b in bursts])[:-1]
    x = np.concatenate([np.zeros(777, np.complex64), *bursts])
    return Channel(ChannelConfig(snr_db=15.0, cfo_hz=5e3, seed=1), 2e6).apply(x, signal_power=0.1), starts


def _check(frames, starts):
    assert [f.header.frame_index for f in frames] == [0, 9, 1, 2]
    assert [abs(f.start_sample - s) <= 2 for f, s in zip(frames, starts)] == [True] * 4
    assert frames[1].crc_ok and frames[1].payload == b"diffradio" * 20
    for f, v in zip([frames[0], frames[2], frames[3]], VALUES):
        assert f.values.shape == v.shape and np.mean((f.values - v) ** 2) < 0.2


def test_random_chunks_give_the_same_frames():
    x, starts = _stream()
    rx = Receiver()
    frames, pos = [], 0
    rng = np.random.default_rng(0)
    while pos < x.size:
        n = int(rng.integers(1, 700))
        frames += rx.process(x[pos: pos + n])
        pos += n
    frames += rx.flush()
    _check(frames, starts)
    np.testing.assert_array_equal(frames[0].values, Receiver().receive(x)[0].values)


def test_two_chunks_cut_anywhere_give_the_same_frames():
    """A cut inside a burst (preamble, header or payload) after other samples: the receiver resumes
    the waiting burst when the rest arrives."""
    x, starts = _stream()
    whole = Receiver().receive(x)
    for cut in np.linspace(1500, x.size - 100, 23).astype(int):
        rx = Receiver()
        frames = rx.process(x[:cut]) + rx.process(x[cut:]) + rx.flush()
        assert [f.start_sample for f in frames] == [f.start_sample for f in whole]
        np.testing.assert_array_equal(frames[2].values, whole[2].values)


def test_back_to_back_frames_and_burst_at_buffer_end():
    x, starts = _stream(gap=False)
    _check(Receiver().receive(x), starts)


def test_stream_positions_continue_across_flush():
    x, starts = _stream()
    rx = Receiver()
    first = rx.receive(x)
    second = rx.receive(x)
    assert [f.start_sample - x.size for f in second] == [f.start_sample for f in first]


def test_corrupted_header_rejects_the_frame():
    b = TX.analog_burst(VALUES[0])
    hdr = slice(320, 320 + 7 * 80)
    b = b.copy()
    b[hdr] = np.random.default_rng(4).permutation(b[hdr])     # same power, wrong content
    x = np.concatenate([np.zeros(100, np.complex64), b, TX.analog_burst(VALUES[1], frame_index=1)])
    frames = Receiver().receive(x)
    assert [f.header.frame_index for f in frames] == [1]


def test_noise_alone_gives_no_frame():
    noise = (RNG.normal(size=200_000) + 1j * RNG.normal(size=200_000)).astype(np.complex64)
    rx = Receiver()
    assert rx.receive(noise) == []
    assert rx.stats["ltf_confirmed"] <= 1 and rx.stats["stf_triggers"] < 200


@pytest.mark.parametrize("bad,match", [
    (np.ones(100), "complex"), (np.array([1 + 1j, np.nan]), "NaN"), (np.ones((2, 5), complex), "1-D")])
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        Receiver().process(bad)



def test_non_finite_samples_are_found_anywhere_and_huge_ones_pass():
    """The input check (a sum of squares, exact test on overflow) finds one NaN or inf anywhere in a
    chunk, also in non-contiguous views, and lets very large finite samples through."""
    x = np.full(70000, 0.1 + 0.1j, np.complex64)
    for bad in (np.nan, np.inf, -np.inf, complex(0, np.nan)):
        y = x.copy()
        y[65537] = bad
        for chunk in (y, y[1::2], y.astype(np.complex128)):
            with pytest.raises(ValueError, match="NaN or inf"):
                Receiver().process(chunk)
    y = x.copy()
    y[10] = 3e37
    Receiver().process(y)

def test_empty_and_tiny_inputs():
    rx = Receiver()
    assert rx.process(np.zeros(0, np.complex64)) == []
    assert rx.process(np.zeros(3, np.complex64)) == []
    assert rx.flush() == []
    assert Receiver().receive(np.zeros(0, complex)) == []


def test_transmitter_rejects_bad_payloads():
    with pytest.raises(ValueError, match="exceed"):
        TX.analog_burst(np.zeros(TX.max_analog_values() + 1))
    with pytest.raises(ValueError, match="NaN"):
        TX.analog_burst(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="modulation"):
        TX.digital_burst(b"x", modulation="8psk")
    with pytest.raises(ValueError, match="code rate"):
        TX.digital_burst(b"x", code_rate=0.4)
    burst = TX.analog_burst(np.ones(10))
    assert burst.dtype == np.complex64 and np.all(burst[-TX.params.idle_gap:] == 0)
    body = burst[: -TX.params.idle_gap]
    assert np.abs(body).max() <= 1.0
    assert 10 * np.log10(np.mean(np.abs(body) ** 2)) == pytest.approx(-TX.backoff_db, abs=0.5)


def test_clipped_bursts_stay_within_the_radios_full_scale():
    """Peaks beyond full scale are clipped in magnitude, phase kept: |x| <= 1 is the radios' contract
    (a per-rail clip left |x| up to sqrt(2), and a random nonce could make ``tx`` refuse its own burst)."""
    tx = Transmitter(backoff_db=3.0, nonce=7)  # 3 dB backoff: many samples clip
    body = tx.analog_burst(np.random.default_rng(0).standard_normal(2000))[: -tx.params.idle_gap]
    assert np.mean(np.abs(body) >= 1.0 - 1e-6) > 1e-3
    assert np.abs(body).max() <= 1.0 + 1e-6  # complex64 rounding; the radios allow the same 1e-6
