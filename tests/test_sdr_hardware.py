"""Hardware-in-the-loop: run only when a device is named in the environment.

    DIFFRADIO_PLUTO=ip:192.168.2.1 pytest -m hardware tests/test_sdr_hardware.py
    DIFFRADIO_SOAPY=driver=uhd      pytest -m hardware tests/test_sdr_hardware.py

``DIFFRADIO_PLUTO`` is the text after ``pluto:`` (``ip:...``, ``usb:``, ``usb:1.2.5``);
``DIFFRADIO_SOAPY`` is SoapySDR device arguments. The loopback tests transmit a tone at
``DIFFRADIO_FREQ`` (default 2.4 GHz, low power) and expect to receive it: connect TX to RX through
an attenuator (30 dB or more) or use antennas close together. A receive-only SoapySDR device
(RTL-SDR) runs the receive test and skips the loopback one.
"""
import os

import numpy as np
import pytest

from sdr import RadioConfig, open_radio

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


@pytest.mark.parametrize("uri", DEVICES)
def test_cyclic_tone_loops_back_at_its_frequency(uri):
    config = RadioConfig(sample_rate_hz=RATE, center_freq_hz=FREQ, tx_gain_db=-30.0, rx_gain_db=None)
    with open_radio(uri, config) as radio:
        if uri.startswith("soapy:"):
            import SoapySDR

            if not radio._dev.getNumChannels(SoapySDR.SOAPY_SDR_TX):
                pytest.skip(f"{uri} cannot transmit")
        n = 2000  # 100 kHz at 2 MS/s: exactly 100 cycles, so the cyclic buffer is seamless
        radio.transmit((0.5 * np.exp(2j * np.pi * TONE_HZ / RATE * np.arange(n))).astype(np.complex64), repeat=True)
        radio.receive(200_000)  # let the gain control settle
        y = radio.receive(1 << 16)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft(y - np.mean(y)))) ** 2
    freqs = np.fft.fftshift(np.fft.fftfreq(y.size, 1 / RATE))
    peak = freqs[np.argmax(spectrum)]
    assert abs(peak - TONE_HZ) < 5e3  # LO offset between TX and RX of one device is small
    assert spectrum.max() > 100 * np.median(spectrum)
