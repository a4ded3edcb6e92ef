"""The Pluto radio against pyadi-iio's contracts: a fake ``adi.Pluto`` plus the real library's error path.

The fake copies the behaviour of pyadi-iio 0.0.21 (adi/ad936x.py, adi/rx_tx.py): int16 DMA data with
``astype(int16)`` truncation in ``tx()``, fixed TX buffer length unless destroyed, no second push
to a cyclic buffer, ``tx_cyclic_buffer`` immutable while a buffer exists, ``rx_hardwaregain_chan0``
ignored unless the gain mode is 'manual', sample rates below 521 kS/s refused, ``rx()`` returning
complex values of 12-bit samples (``le:S12/16``). Its digital loopback moves the DAC's top 12 bits
to the ADC (int16 >> 4), like the AD9361's digital loopback. The AXI cores' status register
0x80000088 is write-one-to-clear.
"""
import sys
import types

import numpy as np
import pytest

from sdr import RadioConfig, RadioError, open_radio
from sdr.pluto import RX_SCALE, TX_SCALE, XFLOW_STATUS_REG


class FakeCore:
    """An AXI ADC/DAC core's register file (status register: write one to clear)."""

    def __init__(self):
        self.status = 0

    def reg_read(self, reg):
        assert reg == XFLOW_STATUS_REG
        return self.status

    def reg_write(self, reg, value):
        assert reg == XFLOW_STATUS_REG
        self.status &= ~value


class FakePluto:
    """pyadi-iio's adi.Pluto as far as the radio uses it; records pushes, loops TX back to RX."""

    devices = {"ip:192.168.2.1", "usb:1.4.5"}
    instances = []

    def __init__(self, uri=""):
        if uri not in self.devices:
            raise Exception("No device found")
        self.uri = uri
        self.sample_rate = 30_720_000
        self.rx_lo = self.tx_lo = 2_400_000_000
        self.rx_rf_bandwidth = self.tx_rf_bandwidth = 18_000_000
        self.tx_hardwaregain_chan0 = -10.0
        self.gain_control_mode_chan0 = "slow_attack"
        self._rx_gain = 71.0
        self.rx_buffer_size = 1024
        self._tx_cyclic_buffer = False
        self._txbuf = None
        self._tx_buffer_size = None
        self._rxbuf = None
        self._rxadc, self._txdac = FakeCore(), FakeCore()
        self.pushes = []  # (int16 I/Q array (n, 2), cyclic)
        self._air = np.zeros((0, 2), np.int16)  # samples on their way to the ADC
        self.closed = False
        FakePluto.instances.append(self)

    def __setattr__(self, name, value):
        if name == "sample_rate" and value < 521e3:
            raise ValueError("Error: Does not currently support sample rates below 521e3")
        object.__setattr__(self, name, value)

    @property
    def rx_hardwaregain_chan0(self):
        return self._rx_gain

    @rx_hardwaregain_chan0.setter
    def rx_hardwaregain_chan0(self, value):
        if self.gain_control_mode_chan0 == "manual":
            self._rx_gain = value

    @property
    def tx_cyclic_buffer(self):
        return self._tx_cyclic_buffer

    @tx_cyclic_buffer.setter
    def tx_cyclic_buffer(self, value):
        if self._txbuf:
            raise Exception("TX buffer already created, buffer must be destroyed then recreated to modify "
                            "tx_cyclic_buffer")
        self._tx_cyclic_buffer = value

    def tx(self, data_np):
        if self._txbuf and self.tx_cyclic_buffer:
            raise Exception("TX buffer has been submitted in cyclic mode. To push more data the tx buffer "
                            "must be destroyed first.")
        data = np.empty((len(data_np), 2), np.int16)
        data[:, 0] = np.real(data_np).astype(np.int16)
        data[:, 1] = np.imag(data_np).astype(np.int16)
        if not self._txbuf:
            self._tx_buffer_size = len(data_np)
            self._txbuf = True
        if len(data_np) != self._tx_buffer_size:
            raise Exception("Buffer length different than data length. Cannot change buffer length on the fly")
        self.pushes.append((data, self.tx_cyclic_buffer))
        reps = 50 if self.tx_cyclic_buffer else 1
        self._air = np.concatenate([self._air] + [data] * reps)

    def tx_destroy_buffer(self):
        self._txbuf = None

    def rx_destroy_buffer(self):
        self._rxbuf = None

    def rx(self):
        if self._rxbuf is None:
            self._rxbuf = self.rx_buffer_size
        n = self._rxbuf
        take, self._air = self._air[:n], self._air[n:]
        adc = np.zeros((n, 2), np.int16)
        adc[:take.shape[0]] = take >> 4  # the DAC's top 12 bits arrive as sign-extended 12-bit samples
        return adc[:, 0] + 1j * adc[:, 1]

    def close(self):
        self.closed = True


@pytest.fixture
def fake_adi(monkeypatch):
    module = types.ModuleType("adi")
    module.Pluto = FakePluto
    FakePluto.instances = []
    monkeypatch.setitem(sys.modules, "adi", module)
    return module


def tone(n, cycles_per_sample=0.01, amplitude=0.9):
    return (amplitude * np.exp(2j * np.pi * cycles_per_sample * np.arange(n))).astype(np.complex64)


def test_configuration_reaches_the_device(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1", RadioConfig(sample_rate_hz=2e6, center_freq_hz=915e6,
                                                           tx_gain_db=-20, rx_gain_db=None))
    dev = FakePluto.instances[-1]
    assert (dev.sample_rate, dev.rx_lo, dev.tx_lo) == (2_000_000, 915_000_000, 915_000_000)
    assert dev.rx_rf_bandwidth == dev.tx_rf_bandwidth == 2_000_000
    assert dev.tx_hardwaregain_chan0 == -20.0 and dev.gain_control_mode_chan0 == "slow_attack"
    assert dev.rx_buffer_size == radio.rx_buffer_size
    radio.configure(RadioConfig(sample_rate_hz=4e6, rx_gain_db=30.0, bandwidth_hz=3e6))
    assert dev.gain_control_mode_chan0 == "manual" and dev.rx_hardwaregain_chan0 == 30.0
    assert dev.rx_rf_bandwidth == 3_000_000


@pytest.mark.parametrize("config, words", [
    (RadioConfig(sample_rate_hz=300e3), "outside 521e3"),
    (RadioConfig(tx_gain_db=3.0), "TX gain"),
])
def test_out_of_range_settings_are_refused(fake_adi, config, words):
    with pytest.raises(RadioError, match=words):
        open_radio("pluto:ip:192.168.2.1", config)


def test_burst_is_scaled_to_2_14_and_comes_back_through_the_12_bit_adc(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1")
    radio.receive(10)  # drops the stale first buffer
    dev = FakePluto.instances[-1]
    x = tone(3000)
    radio.transmit(x)
    pushed = np.concatenate([p[0] for p in dev.pushes])
    assert pushed.shape == (3072, 2)  # padded to the 1024-sample TX buffer quantum
    np.testing.assert_array_equal(pushed[:3000, 0], np.round(x.real * TX_SCALE).astype(np.int16))
    np.testing.assert_array_equal(pushed[:3000, 1], np.round(x.imag * TX_SCALE).astype(np.int16))
    assert not pushed[3000:].any()
    y = radio.receive(2 * radio.rx_buffer_size)
    assert y.dtype == np.complex64 and y.size == 2 * radio.rx_buffer_size
    y = y[np.flatnonzero(y)[0]:]  # samples buffered before the transmission came first
    # 2**14 full scale on the int16 DAC word is -6 dBFS: the 12-bit ADC sees half of full scale
    np.testing.assert_allclose(y[:3000], x / 2, atol=1.5 / RX_SCALE)


def test_bursts_of_other_lengths_reuse_the_fixed_tx_buffer(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1")
    dev = FakePluto.instances[-1]
    radio.transmit(tone(1500))
    radio.transmit(tone(5000))  # longer: split into buffers of the same length
    radio.transmit(tone(100))
    assert {p[0].shape[0] for p in dev.pushes} == {2048} and not any(p[1] for p in dev.pushes)
    assert sum(p[0].shape[0] for p in dev.pushes) == 2048 * (1 + 3 + 1)


def test_repeated_burst_uses_a_cyclic_buffer_that_is_destroyed_before_the_next_transmit(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1")
    dev = FakePluto.instances[-1]
    radio.transmit(tone(1000), repeat=True)
    assert dev.pushes[-1][1] is True and dev.pushes[-1][0].shape[0] == 1000
    radio.transmit(tone(800), repeat=True)  # would raise inside pyadi-iio without tx_destroy_buffer
    radio.transmit(tone(500))  # back to one-shot buffers
    assert dev.pushes[-1][1] is False and dev.tx_cyclic_buffer is False
    radio.close()
    assert dev._txbuf is None and dev.closed


def test_rx_overflow_is_counted_and_cleared(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1")
    dev = FakePluto.instances[-1]
    radio.receive(100)
    dev._rxadc.status = 0x4
    radio.receive(radio.rx_buffer_size + 1)
    assert radio.rx_overflows == 1 and dev._rxadc.status == 0


def test_over_full_scale_burst_is_refused(fake_adi):
    with pytest.raises(RadioError, match="full scale"):
        open_radio("pluto:ip:192.168.2.1").transmit(np.array([1.1], np.complex64))


def test_usb_scheme_picks_the_first_usb_pluto(fake_adi, monkeypatch):
    iio = types.ModuleType("iio")
    iio.scan_contexts = lambda: {"ip:10.0.0.9": "PlutoSDR over the network",
                                 "usb:1.4.5": "0456:b673 (Analog Devices Inc. PlutoSDR (ADALM-PLUTO))"}
    monkeypatch.setitem(sys.modules, "iio", iio)
    assert open_radio("pluto:usb:").uri == "usb:1.4.5"
    iio.scan_contexts = lambda: {}
    with pytest.raises(RadioError, match="no ADALM-Pluto found on USB"):
        open_radio("pluto:usb:")


def test_missing_device_with_the_real_pyadi_iio():
    pytest.importorskip("adi", reason="pyadi-iio is a declared dependency of the pluto extra")
    with pytest.raises(RadioError) as info:
        open_radio("pluto:ip:127.0.0.1")  # real adi.Pluto -> libiio: connection refused
    message = str(info.value)
    assert "No device found" in message and "iio_info -s" in message and "--radio sim:" in message
    assert "\n" not in message


def test_missing_pyadi_iio_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "adi", None)  # makes `import adi` raise ImportError
    with pytest.raises(RadioError, match=r"pip install 'diffradio\[pluto\]'"):
        open_radio("pluto:")
