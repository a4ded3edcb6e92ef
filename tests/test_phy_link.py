"""Transmitter → channel → receiver: noise-free round trips, AWGN error rates against theory, the
analog noise variance, the SNR estimate, and impairment points (CFO, SRO, timing, fading)."""
import numpy as np
import pytest
from scipy.special import erfc

from phy import Receiver, Transmitter
from phy.channel import Channel, ChannelConfig
from phy.ldpc import encode_payload
from phy.frame import payload_bits
from phy.header import Header

FS = 2e6
TX = Transmitter()


def _send(burst, lead=300, **cfg):
    """Burst (with a leading gap) through the channel at an SNR referenced to the burst's power."""
    x = np.concatenate([np.zeros(lead, np.complex64), burst])
    power = float(np.mean(np.abs(burst[: burst.size - TX.params.idle_gap]) ** 2))
    return Channel(ChannelConfig(**cfg), FS).apply(x, signal_power=power)


def test_noise_free_analog_round_trip_exact():
    v = np.random.default_rng(0).normal(size=TX.max_analog_values() - 3).astype(np.float32)
    frames = Receiver().receive(_send(TX.analog_burst(v, frame_index=2, frame_count=5, stream_id=7)))
    assert len(frames) == 1
    f = frames[0]
    assert (f.header.mode, f.header.length, f.header.frame_index, f.header.frame_count, f.header.stream_id) == \
        ("analog", v.size, 2, 5, 7)
    assert f.start_sample == 300
    np.testing.assert_allclose(f.values, v, atol=2e-5)
    assert np.all(f.noise_var < 1e-9)


@pytest.mark.parametrize("mod,rate", [("bpsk", 1 / 2), ("qpsk", 2 / 3), ("16qam", 3 / 4), ("64qam", 5 / 6)])
def test_noise_free_digital_round_trip_exact(mod, rate):
    payload = np.random.default_rng(1).integers(0, 256, TX.max_digital_bytes(mod, rate)).astype(np.uint8).tobytes()
    frames = Receiver().receive(_send(TX.digital_burst(payload, modulation=mod, code_rate=rate)))
    assert len(frames) == 1 and frames[0].crc_ok and frames[0].payload == payload
    assert frames[0].header.modulation == mod and frames[0].header.code_rate == pytest.approx(rate)


def _q(x):
    return 0.5 * erfc(x / np.sqrt(2))


def _ber_theory(mod, snr_db):
    es = 10 ** (snr_db / 10)
    if mod == "qpsk":
        return _q(np.sqrt(es))
    m = 16
    return 4 / np.log2(m) * (1 - 1 / np.sqrt(m)) * sum(_q((2 * i - 1) * np.sqrt(3 * es / (m - 1))) for i in (1, 2))


@pytest.mark.parametrize("mod,snr", [("qpsk", 7.0), ("16qam", 14.0)])
def test_uncoded_ber_bounded_by_theory(mod, snr):
    """Hard decisions of the real receiver's LLRs: BER between theory at SNR+0.3 dB and at SNR-1 dB."""
    payload = bytes(TX.max_digital_bytes(mod, 0.5))
    header = Header("digital", len(payload), mod, 0.5)
    sent = encode_payload(payload, mod, 0.5, payload_bits(header, TX.params))
    errors = total = 0
    for seed in range(6):
        f = Receiver().receive(_send(TX.digital_burst(payload, modulation=mod, code_rate=0.5), snr_db=snr, seed=seed))
        assert len(f) == 1
        errors += int(np.sum((f[0].llr > 0) != sent))
        total += sent.size
    ber = errors / total
    assert _ber_theory(mod, snr + 0.3) < ber < _ber_theory(mod, snr - 1.0)


@pytest.mark.parametrize("channel,snr", [("awgn", 0.0), ("awgn", 15.0), ("tdl-c", 10.0)])
def test_analog_mse_matches_reported_variance(channel, snr):
    rng = np.random.default_rng(2)
    mse, var = [], []
    for seed in range(8):
        v = rng.normal(size=TX.max_analog_values())
        f = Receiver().receive(_send(TX.analog_burst(v), snr_db=snr, channel=channel, seed=seed))
        if len(f) == 1:
            mse.append(np.mean((f[0].values - v) ** 2))
            var.append(np.mean(f[0].noise_var))
    assert len(mse) >= 6
    assert np.mean(mse) / np.mean(var) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_snr_estimate_matches_channel_definition(snr):
    est = [Receiver().receive(_send(TX.analog_burst(np.ones(960)), snr_db=snr, seed=s))[0].snr_db for s in range(4)]
    assert np.mean(est) == pytest.approx(snr, abs=0.5)


@pytest.mark.parametrize("cfg", [
    dict(cfo_hz=FS / 32), dict(cfo_hz=-FS / 32), dict(cfo_hz=-17_000.0),
    dict(sro_ppm=50.0), dict(sro_ppm=-50.0), dict(timing_offset=0.5), dict(timing_offset=0.25, cfo_hz=3e4, sro_ppm=20),
    dict(channel="tdl-a"), dict(channel="tdl-e"), dict(phase_noise_hz=50.0)])
def test_impairment_points(cfg):
    v = np.random.default_rng(3).normal(size=TX.max_analog_values())
    f = Receiver().receive(_send(TX.analog_burst(v), snr_db=20.0, seed=5, **cfg))
    assert len(f) == 1
    # Wiener phase noise moves the instantaneous frequency: allow for its LTF-interval wander
    assert f[0].cfo_hz == pytest.approx(cfg.get("cfo_hz", 0.0), abs=1500 if "phase_noise_hz" in cfg else 300)
    mse = np.mean((f[0].values - v) ** 2)
    assert mse < 0.05 and mse / np.mean(f[0].noise_var) == pytest.approx(1.0, abs=0.25)
