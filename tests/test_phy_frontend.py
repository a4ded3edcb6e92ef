"""Front-end artefacts through the receiver: a DC offset, a CW spur (also at a multiple of fs/16,
where it is as periodic as the STF), IQ imbalance and clipping must neither stop frames from
decoding nor make the STF test fire on every window; a wider CFO search range."""
import numpy as np
import pytest

from phy import Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.params import OfdmParams
from phy.sync import STF_BLOCK, FrontEnd

TX = Transmitter()
FS = 2e6
NOISE_LEVEL = 0.3          # amplitude relative to sqrt(P) at which a tone has the noise's power at 10 dB SNR


def _stream(n_frames=3, seed=0, snr_db=10.0, **cfg):
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=TX.max_analog_values()) for _ in range(n_frames)]
    pieces = []
    for i, v in enumerate(values):
        pieces += [np.zeros(int(rng.integers(300, 600)), np.complex64), TX.analog_burst(v, frame_index=i)]
    x = np.concatenate(pieces + [np.zeros(2000, np.complex64)])
    power = float(np.mean(np.abs(pieces[1][: -TX.params.idle_gap]) ** 2))
    return Channel(ChannelConfig(seed=seed, snr_db=snr_db, **cfg), FS).apply(x, signal_power=power), values


@pytest.mark.parametrize("cfg", [
    dict(dc_offset=NOISE_LEVEL * (1 + 1j) / np.sqrt(2)),
    dict(spur_level=NOISE_LEVEL, spur_hz=317e3),
    dict(spur_level=NOISE_LEVEL, spur_hz=FS / 16),
    dict(dc_offset=NOISE_LEVEL, spur_level=NOISE_LEVEL, spur_hz=-211e3, cfo_hz=12e3),
    dict(iq_amp_db=1.0, iq_phase_deg=3.0, dc_offset=0.1j),
    dict(clip_db=4.0, adc_bits=12),
])
def test_artefacts_still_decode_every_frame(cfg):
    x, values = _stream(**cfg)
    rx = Receiver()
    frames = [f for i in range(0, x.size, 4096) for f in rx.process(x[i: i + 4096])] + rx.flush()
    assert [f.header.frame_index for f in frames] == [0, 1, 2]
    for f, v in zip(frames, values):
        assert np.mean((f.values - v) ** 2) < 0.5


@pytest.mark.parametrize("cfg", [dict(dc_offset=1.0), dict(spur_level=1.0, spur_hz=123e3),
                                 dict(spur_level=1.0, spur_hz=FS / 16), dict(spur_level=1.0, spur_hz=-FS / 4)])
def test_a_constant_or_a_tone_at_the_noise_power_does_not_keep_the_stf_test_firing(cfg):
    """Noise plus a tone (or a DC offset) at the noise power: the classic autocorrelation test fires
    on every window (one trigger per L = 16 samples, n / 16 in all); behind the DC blocker and the
    spur notch the tone-blind test fires about as rarely as on noise alone (under 2e-4 per sample)."""
    n = 200_000
    x = Channel(ChannelConfig(seed=3, **cfg), FS).apply(np.zeros(n, np.complex64), signal_power=1.0)
    rng = np.random.default_rng(3)
    x = x + ((rng.normal(size=n) + 1j * rng.normal(size=n)) / np.sqrt(2)).astype(np.complex64)
    rx = Receiver()
    assert rx.receive(x) == []
    assert rx.stats["stf_triggers"] < 2e-4 * n


def test_a_capture_with_dc_and_a_spur_decodes_every_frame_without_extra_triggers():
    """The capture-level check of ``bench phy`` (capture_dc_spur_time_ratio): dense frames at 20 dB
    with a DC offset and a CW spur, each at the noise power, in 65536-sample chunks: every frame
    decodes, with under twice the STF triggers of the same capture without them (a few more while
    the first blocks show the spur; the classic STF test fired ~44 times per frame on such captures)."""
    level = 0.1 * np.sqrt(1 / 0.8125)                       # the noise's amplitude at 20 dB in-band
    clean, values = _stream(n_frames=14, seed=4, snr_db=20.0)
    dirty, _ = _stream(n_frames=14, seed=4, snr_db=20.0, dc_offset=level * (0.6 - 0.8j),
                       spur_level=level, spur_hz=317e3)
    triggers = []
    for x in (clean, dirty):
        rx = Receiver()
        frames = [f for i in range(0, x.size, 1 << 16) for f in rx.process(x[i: i + (1 << 16)])] + rx.flush()
        assert [f.header.frame_index for f in frames] == list(range(14))
        assert all(np.mean((f.values - v) ** 2) < 0.05 for f, v in zip(frames, values))
        triggers.append(rx.stats["stf_triggers"])
    assert triggers[1] < 2 * triggers[0]


def test_the_front_end_notches_a_spur_whatever_the_chunks():
    rng = np.random.default_rng(9)
    n = 40 * STF_BLOCK
    k = np.arange(n)
    x = ((rng.normal(size=n) + 1j * rng.normal(size=n)) / np.sqrt(2) + 1.5 + np.exp(2j * np.pi * 0.2137 * k))
    x = x.astype(np.complex64)
    whole = FrontEnd(STF_BLOCK)(x, 0)
    front, cuts = FrontEnd(STF_BLOCK), [0, 1000, 1001, 7000, 30000, 100000, n]
    pieces = np.concatenate([front(x[a:b], a) for a, b in zip(cuts[:-1], cuts[1:])])
    np.testing.assert_array_equal(pieces, whole)
    assert np.angle(front.notch) / (2 * np.pi) == pytest.approx(0.2137, abs=1e-4)
    tail = whole[n // 2:]
    assert np.mean(np.abs(tail) ** 2) == pytest.approx(1.0, rel=0.05)         # the noise, without DC and spur


@pytest.mark.parametrize("cfo", [-60e3, -35e3, 41e3, 60e3])
def test_max_cfo_hz_resolves_the_stf_ambiguity_on_the_ltf(cfo):
    """At 1 MS/s the STF alone is unambiguous within ±31.25 kHz; ±25 ppm at 2.4 GHz is ±60 kHz."""
    p = OfdmParams(sample_rate_hz=1e6)
    tx = Transmitter(p)
    v = np.random.default_rng(5).normal(size=tx.max_analog_values())
    burst = tx.analog_burst(v)
    x = np.concatenate([np.zeros(500, np.complex64), burst])
    power = float(np.mean(np.abs(burst[: -p.idle_gap]) ** 2))
    y = Channel(ChannelConfig(seed=1, snr_db=15.0, cfo_hz=cfo), 1e6).apply(x, signal_power=power)
    frames = Receiver(p, max_cfo_hz=60e3).receive(y)
    assert len(frames) == 1 and frames[0].cfo_hz == pytest.approx(cfo, abs=300)
    assert np.mean((frames[0].values - v) ** 2) < 0.1


def test_max_cfo_hz_must_be_below_half_the_sample_rate():
    with pytest.raises(ValueError, match="max_cfo_hz"):
        Receiver(max_cfo_hz=2e6)
