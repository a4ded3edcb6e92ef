"""Hardware-in-the-loop: run only when a device is named in the environment.

    DIFFRADIO_PLUTO=ip:192.168.2.1 pytest -m hardware tests/test_sdr_hardware.py
    DIFFRADIO_SOAPY=driver=uhd      pytest -m hardware tests/test_sdr_hardware.py

``DIFFRADIO_PLUTO`` is the text after ``pluto:`` (``ip:...``, ``usb:``, ``usb:1.2.5``);
``DIFFRADIO_SOAPY`` is SoapySDR device arguments. The loopback tests transmit a tone at
``DIFFRADIO_FREQ`` (default 2.4 GHz, low power) and expect to receive it: connect TX to RX through
an attenuator (30 dB or more) or use antennas close together. A receive-only SoapySDR device
(RTL-SDR) runs the receive test and skips the loopback one.
"""
import json
import os

import numpy as np
import pytest

from sdr import RadioConfig, SigMFRecorder, open_radio

pytestmark = pytest.mark.hardware

PLUTO = os.environ.get("DIFFRADIO_PLUTO")
SOAPY = os.environ.get("DIFFRADIO_SOAPY")
FREQ = float(os.environ.get("DIFFRADIO_FREQ", "2.4e9"))
RATE = 2e6
TONE_HZ = 100e3

DEVICES = [
    pytest.param(f"pluto:{PLUTO}", marks=pytest.mark.skipif(
        not PLUTO, reason="no Pluto named: set DIFFRADIO_PLUTO=ip:192.168.2.1 (or usb:) to run"), id="pluto"),
    pytest.param(f"soapy:{SOAPY}", marks=pytest.mark.skipif(
        not SOAPY, reason="no SoapySDR device named: set DIFFRADIO_SOAPY=driver=uhd (or other args) to run"),
        id="soapy"),
]


@pytest.mark.parametrize("uri", DEVICES)
def test_receives_full_scale_complex64(uri):
    with open_radio(uri, RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, rx_gain_db=30.0)) as radio:
        y = radio.receive(100_000)
    assert y.dtype == np.complex64 and y.shape == (100_000,)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= np.sqrt(2) + 1e-6
    assert np.std(y) > 0  # the receiver delivers live samples, not a constant


def _skip_receive_only(uri, radio):
    if uri.startswith("soapy:"):
        import SoapySDR

        if not radio._dev.getNumChannels(SoapySDR.SOAPY_SDR_TX):
            pytest.skip(f"{uri} cannot transmit")


@pytest.mark.parametrize("uri", DEVICES)
def test_settings_read_back_are_close_to_the_request(uri):
    with open_radio(uri, RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, rx_gain_db=30.0)) as radio:
        s = radio.settings()
    assert s.sample_rate_hz == pytest.approx(RATE, rel=1e-3)
    assert abs(s.center_freq_hz - FREQ) < 1e3 and s.rx_gain_mode == "manual"
    assert s.rx_gain_db == pytest.approx(30.0, abs=3.0)


@pytest.mark.skipif(not PLUTO, reason="no Pluto named: set DIFFRADIO_PLUTO=ip:192.168.2.1 (or usb:) to run")
@pytest.mark.parametrize("agc", [None, "slow_attack", "fast_attack", "hybrid"])
def test_pluto_agc_mode_reaches_the_ad9363(agc):
    uri = f"pluto:{PLUTO}" + (f",agc={agc}" if agc else "")
    with open_radio(uri, RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ)) as radio:
        assert radio.settings().rx_gain_mode == (agc or "fast_attack")


@pytest.mark.parametrize("uri", DEVICES)
def test_recording_holds_the_read_back_settings_and_every_overflow(uri, tmp_path):
    with open_radio(uri, RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, rx_gain_db=30.0)) as radio:
        recorder = SigMFRecorder.from_radio(tmp_path / "hw.sigmf-meta", radio, hw=uri)
        for chunk in radio.stream(1 << 16, int(2 * RATE)):
            recorder.write(chunk)
        recorder.close()
        settings, events = radio.settings(), [e for e in radio.stats.events if e.direction == "rx"]
    meta = json.loads((tmp_path / "hw.sigmf-meta").read_text())
    assert meta["global"]["core:sample_rate"] == settings.sample_rate_hz
    assert meta["captures"][0]["core:frequency"] == settings.center_freq_hz
    assert [a["core:sample_start"] for a in meta["annotations"]] == [e.sample for e in events]


@pytest.mark.parametrize("uri", DEVICES)
def test_one_shot_bursts_arrive_whole(uri):
    """Bursts of different lengths (the second needs a larger Pluto TX buffer) each arrive as one
    uninterrupted run of energy, as long as it was sent."""
    config = RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, tx_gain_db=-30.0, rx_gain_db=None)
    lengths = (3000, 9000, 3000)
    with open_radio(uri, config) as radio:
        _skip_receive_only(uri, radio)
        radio.receive(1000)  # RX is streaming before anything is sent
        for n in lengths:
            radio.transmit((0.5 * np.exp(2j * np.pi * TONE_HZ / RATE * np.arange(n))).astype(np.complex64))
        y = radio.receive(400_000)
    power = np.convolve(np.abs(y - np.mean(y)) ** 2, np.ones(50) / 50, mode="same")
    on = power > 10 * np.percentile(power, 10)  # 10 dB over the noise floor
    edges = np.flatnonzero(np.diff(on.astype(int)))
    runs = [b - a for a, b in zip(edges[::2], edges[1::2])] if on[0] == 0 else []
    long_runs = sorted(r for r in runs if r > 1000)
    assert len(long_runs) == len(lengths)
    assert long_runs[-1] == pytest.approx(max(lengths), rel=0.03)


@pytest.mark.parametrize("uri", DEVICES)
def test_cyclic_tone_loops_back_at_its_frequency(uri):
    config = RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, tx_gain_db=-30.0, rx_gain_db=None)
    with open_radio(uri, config) as radio:
        _skip_receive_only(uri, radio)
        n = 2000  # 100 kHz at 2 MS/s: exactly 100 cycles, so the cyclic buffer is seamless
        radio.transmit((0.5 * np.exp(2j * np.pi * TONE_HZ / RATE * np.arange(n))).astype(np.complex64), repeat=True)
        radio.receive(200_000)  # let the gain control settle
        y = radio.receive(1 << 16)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft(y - np.mean(y)))) ** 2
    freqs = np.fft.fftshift(np.fft.fftfreq(y.size, 1 / RATE))
    peak = freqs[np.argmax(spectrum)]
    assert abs(peak - TONE_HZ) < 5e3  # LO offset between TX and RX of one device is small
    assert spectrum.max() > 100 * np.median(spectrum)
