"""The simulated radio and radio URIs: what a receiver sees around the queued bursts."""
import numpy as np
import pytest

from sdr import RadioConfig, RadioError, open_radio
from sdr.sim import IDLE_REFERENCE_POWER, SimRadio

IN_BAND = 52 / 64  # (n_data + n_pilot) / n_fft of the default OfdmParams: the SNR definition's factor


def random_burst(rng, n=3000, gap=400, amplitude=0.3):
    """A complex Gaussian burst followed by an idle gap of zeros, complex64."""
    x = amplitude * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    return np.concatenate([x, np.zeros(gap)]).astype(np.complex64)


def receive_all(radio, chunk=1000):
    return np.concatenate(list(radio.stream(chunk)))


def test_idle_radio_returns_noise_at_the_reference_level():
    radio = open_radio("sim:snr=10,seed=3")
    first, second = radio.receive(7), radio.receive(40000)
    assert first.shape == (7,) and first.dtype == np.complex64
    expected = IDLE_REFERENCE_POWER / (IN_BAND * 10)
    assert np.mean(np.abs(second) ** 2) == pytest.approx(expected, rel=0.05)
    assert radio.receive(123).size == 123  # an idle radio never ends


def test_noiseless_bursts_arrive_intact_after_a_random_lead_then_the_stream_ends():
    rng = np.random.default_rng(1)
    bursts = [random_burst(rng), random_burst(rng, n=1500)]
    leads = set()
    for seed in range(4):
        radio = open_radio(f"sim:seed={seed}")
        for b in bursts:
            radio.transmit(b)
        rx = receive_all(radio)
        sent = np.concatenate(bursts)
        lead = int(np.flatnonzero(rx)[0])
        leads.add(lead)
        assert radio.lead_samples[0] <= lead <= radio.lead_samples[1]
        assert rx.size == lead + sent.size + radio.trail_samples
        np.testing.assert_allclose(rx[lead:lead + sent.size], sent, atol=1e-6)
        assert not np.any(rx[lead + sent.size:])
        assert radio.receive(100).size == 0
    assert len(leads) > 1  # the lead is random


def test_noise_fills_the_idle_parts_at_the_snr_of_the_bursts():
    rng = np.random.default_rng(2)
    burst = random_burst(rng, n=20000, gap=0)
    radio = SimRadio(open_radio("sim:snr=5,seed=9").channel_config, lead_samples=(6000, 6000),
                     trail_samples=6000)
    radio.transmit(burst)
    rx = receive_all(radio)
    power = np.mean(np.abs(burst) ** 2)
    sigma2 = power / (IN_BAND * 10 ** 0.5)
    assert np.mean(np.abs(rx[:6000]) ** 2) == pytest.approx(sigma2, rel=0.08)
    assert np.mean(np.abs(rx[-6000:]) ** 2) == pytest.approx(sigma2, rel=0.08)
    assert np.mean(np.abs(rx[6000:26000]) ** 2) == pytest.approx(power + sigma2, rel=0.05)


def test_cfo_from_the_uri_rotates_the_burst():
    rng = np.random.default_rng(3)
    burst = random_burst(rng, gap=0)
    radio = open_radio("sim:cfo=1000,seed=1", RadioConfig(sample_rate_hz=1e6))
    radio.transmit(burst)
    rx = receive_all(radio)
    lead = int(np.flatnonzero(rx)[0])
    phase = np.unwrap(np.angle(rx[lead:lead + burst.size] * np.conj(burst)))
    slope = np.polyfit(np.arange(burst.size), phase, 1)[0]
    assert slope * 1e6 / (2 * np.pi) == pytest.approx(1000, rel=1e-3)


def test_repeated_burst_loops_without_end():
    rng = np.random.default_rng(4)
    burst = random_burst(rng, n=700, gap=100)
    radio = open_radio("sim:seed=5")
    radio.transmit(burst, repeat=True)
    rx = radio.receive(200_000)
    assert rx.size == 200_000
    lead = int(np.flatnonzero(rx)[0])
    periodic = rx[lead:lead + 50 * burst.size].reshape(50, burst.size)
    np.testing.assert_allclose(periodic, np.broadcast_to(burst, periodic.shape), atol=1e-6)
    assert radio.receive(10).size == 10
    radio.close()


def test_same_seed_same_samples():
    rng = np.random.default_rng(5)
    burst = random_burst(rng)
    outs = []
    for _ in range(2):
        radio = open_radio("sim:snr=3,channel=tdl-c,cfo=500,seed=11")
        radio.transmit(burst)
        outs.append(receive_all(radio))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_all_zero_burst_is_refused():
    with pytest.raises(RadioError, match="all-zero"):
        open_radio("sim:").transmit(np.zeros(10, np.complex64))


@pytest.mark.parametrize("uri, words", [
    ("bogus:x", "valid forms"),
    ("sim", "valid forms"),
    ("sim:snr", "KEY=VALUE"),
    ("sim:foo=1", "unknown channel parameter"),
    ("sim:cfo=5e6", "exceeds half the sample rate"),
    ("file:", "names no file"),
])
def test_bad_uris_give_one_line(uri, words):
    with pytest.raises(RadioError) as info:
        open_radio(uri)
    assert words in str(info.value) and "\n" not in str(info.value)
