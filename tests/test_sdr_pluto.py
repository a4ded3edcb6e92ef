"""The Pluto radio against pyadi-iio's contracts: a fake ``adi.Pluto`` plus the real library's error path.

The fake copies the behaviour of pyadi-iio 0.0.21 (adi/ad936x.py, adi/rx_tx.py): int16 DMA data with
``astype(int16)`` truncation in ``tx()``, fixed TX buffer length unless destroyed, no second push
to a cyclic buffer, ``tx_cyclic_buffer`` immutable while a buffer exists, ``rx_hardwaregain_chan0``
ignored unless the gain mode is 'manual', sample rates below 521 kS/s refused, ``rx()`` returning
complex values of 12-bit samples (``le:S12/16``), gain modes limited to the AD9361 driver's
(manual, slow_attack, fast_attack, hybrid), and attributes read back as the driver reports them (the
LO on the synthesiser's 40 MHz / 2**23 grid). Its digital loopback moves the DAC's top 12 bits to
the ADC (int16 >> 4), like the AD9361's digital loopback; ``FakePluto.air`` preloads what the
antenna hears and ``FakePluto.overflow_on`` the ``rx()`` calls after which the ADC core flags an
overflow. The AXI cores' status register 0x80000088 is write-one-to-clear.
"""
import json
import signal
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from sdr import RadioConfig, RadioError, SigMFReader, SigMFRecorder, open_radio
from sdr.pluto import RX_SCALE, TX_SCALE, XFLOW_STATUS_REG, split_spec

LO_STEP_HZ = 40e6 / 2**23
GAIN_MODES = ("manual", "slow_attack", "fast_attack", "hybrid")


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
    air = np.zeros((0, 2), np.int16)  # DAC words every new instance hears first
    overflow_on = set()  # rx() call numbers (1 = the first) after which the ADC core flags an overflow
    underflow_on = set()  # tx() call numbers after which the DAC core flags an underflow

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
        self.rx_calls = 0
        self._air = FakePluto.air.copy()  # samples on their way to the ADC
        self.closed = False
        FakePluto.instances.append(self)

    def __setattr__(self, name, value):
        if name == "sample_rate" and value < 521e3:
            raise ValueError("Error: Does not currently support sample rates below 521e3")
        if name == "gain_control_mode_chan0" and value not in GAIN_MODES:
            raise OSError(22, "Invalid argument")
        if name in ("rx_lo", "tx_lo"):
            value = int(round(value / LO_STEP_HZ) * LO_STEP_HZ)  # what the synthesiser reports back
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
        if len(self.pushes) in FakePluto.underflow_on:
            self._txdac.status |= 0x1
        reps = 50 if self.tx_cyclic_buffer else 1
        self._air = np.concatenate([self._air] + [data] * reps)

    def tx_destroy_buffer(self):
        self._txbuf = None

    def rx_destroy_buffer(self):
        self._rxbuf = None

    def rx(self):
        self.rx_calls += 1
        if self.rx_calls in FakePluto.overflow_on:
            self._rxadc.status |= 0x4
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
    FakePluto.air = np.zeros((0, 2), np.int16)
    FakePluto.overflow_on = set()
    FakePluto.underflow_on = set()
    monkeypatch.setitem(sys.modules, "adi", module)
    return module


def tone(n, cycles_per_sample=0.01, amplitude=0.9):
    return (amplitude * np.exp(2j * np.pi * cycles_per_sample * np.arange(n))).astype(np.complex64)


def test_configuration_reaches_the_device(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1", RadioConfig(sample_rate_hz=2e6, center_freq_hz=915e6,
                                                           tx_gain_db=-20, rx_gain_db=None))
    dev = FakePluto.instances[-1]
    assert dev.sample_rate == 2_000_000 and abs(dev.rx_lo - 915e6) < LO_STEP_HZ and dev.tx_lo == dev.rx_lo
    assert dev.rx_rf_bandwidth == dev.tx_rf_bandwidth == 2_000_000
    assert dev.tx_hardwaregain_chan0 == -20.0 and dev.gain_control_mode_chan0 == "fast_attack"
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


def test_every_burst_goes_out_whole_in_one_tx_buffer(fake_adi):
    """A burst split across DMA buffers gets a gap when a refill is late: each burst has its own buffer."""
    radio = open_radio("pluto:ip:192.168.2.1")
    dev = FakePluto.instances[-1]
    bursts = [tone(1500), tone(5000), tone(100), tone(3000)]
    for burst in bursts:
        radio.transmit(burst)  # the 5000-sample one needs a larger buffer (pyadi-iio: destroy, recreate)
    assert [p[0].shape[0] for p in dev.pushes] == [2048, 5120, 5120, 5120] and not any(p[1] for p in dev.pushes)
    for (pushed, _), burst in zip(dev.pushes, bursts):
        np.testing.assert_array_equal(pushed[:burst.size, 0], np.round(burst.real * TX_SCALE).astype(np.int16))
        assert not pushed[burst.size:].any()


def test_tx_underflow_is_counted_where_it_happened_but_not_the_idle_time_before(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1")
    dev = FakePluto.instances[-1]
    dev._txdac.status = 0x1  # the DAC idled before anything was sent
    radio.transmit(tone(1000))
    assert radio.stats.underflows == 0
    dev._txdac.status = 0x1  # ran dry after the first buffer
    radio.transmit(tone(1000))
    assert radio.stats.as_dict() == {"overflows": 0, "underflows": 1, "late": 0}
    assert [(e.kind, e.direction, e.sample) for e in radio.stats.events] == [("underflow", "tx", 1024)]


def test_agc_defaults_to_fast_attack_for_bursts_and_the_uri_picks_another(fake_adi):
    open_radio("pluto:ip:192.168.2.1")
    assert FakePluto.instances[-1].gain_control_mode_chan0 == "fast_attack"
    radio = open_radio("pluto:ip:192.168.2.1,agc=slow_attack")
    assert radio.uri == "ip:192.168.2.1" and FakePluto.instances[-1].gain_control_mode_chan0 == "slow_attack"
    open_radio("pluto:ip:192.168.2.1,agc=manual", RadioConfig(rx_gain_db=20.0))
    assert FakePluto.instances[-1].gain_control_mode_chan0 == "manual"
    assert split_spec("agc=hybrid") == ("", {"agc": "hybrid"})


@pytest.mark.parametrize("uri, config, words", [
    ("pluto:ip:192.168.2.1,agc=slowest", RadioConfig(), "unknown Pluto AGC mode"),
    ("pluto:ip:192.168.2.1,gain=3", RadioConfig(), "unknown Pluto parameter"),
    ("pluto:ip:192.168.2.1,agc=manual", RadioConfig(), "needs an RX gain"),
    ("pluto:ip:192.168.2.1,agc=fast_attack", RadioConfig(rx_gain_db=10.0), "contradict"),
])
def test_bad_agc_settings_are_one_line(fake_adi, uri, config, words):
    with pytest.raises(RadioError, match=words) as info:
        open_radio(uri, config)
    assert "\n" not in str(info.value)


def test_settings_are_read_back_from_the_device(fake_adi):
    radio = open_radio("pluto:ip:192.168.2.1", RadioConfig(sample_rate_hz=2e6, center_freq_hz=915_000_003,
                                                           rx_gain_db=12.0, tx_gain_db=-30.0))
    s = radio.settings()
    dev = FakePluto.instances[-1]
    assert s.center_freq_hz == dev.rx_lo != 915_000_003  # the synthesiser's frequency, not the request
    assert (s.sample_rate_hz, s.rx_gain_db, s.rx_gain_mode, s.tx_gain_db, s.bandwidth_hz) == (
        2e6, 12.0, "manual", -30.0, 2e6)


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
    assert radio.stats.overflows == 1 and dev._rxadc.status == 0
    assert radio.stats.events[0].sample == radio.rx_buffer_size  # the second buffer follows the drop


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


def _clean_capture_on_air(lead: int) -> np.ndarray:
    """The shipped clean capture as DAC words (2**14 full scale) after ``lead`` idle samples."""
    x = SigMFReader(Path(__file__).resolve().parent.parent / "captures" / "clean.sigmf-meta").read(1 << 20)
    words = np.zeros((lead + x.size, 2), np.int16)
    words[lead:, 0], words[lead:, 1] = np.round(x.real * TX_SCALE), np.round(x.imag * TX_SCALE)
    return words


def test_rx_reports_overflows_and_records_them_where_they_happened(fake_adi, tmp_path, capsys):
    """rx --record from a Pluto whose ADC core overflows: counts in the JSON, annotation at the sample
    after the drop, and the device's read-back LO, rate and gain mode in the capture."""
    from diffradio.cli import main

    FakePluto.air = _clean_capture_on_air(lead=2 * (1 << 16))  # the stale first buffer takes 65536
    FakePluto.overflow_on = {3}  # flagged after the 2nd delivered buffer: the drop was before sample 65536
    record = tmp_path / "heard.sigmf-meta"
    assert main(["rx", "--radio", "pluto:ip:192.168.2.1", "--freq", "915.001e6", "--timeout", "1", "--steps", "2",
                 "--record", str(record), "--out", str(tmp_path / "rx.png"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["overflows"], result["underflows"], result["late"]) == (1, 0, 0)
    assert result["frames_lost"] == 0
    meta = json.loads(record.read_text())
    assert [(a["core:label"], a["core:sample_start"]) for a in meta["annotations"]] == [("overflow", 1 << 16)]
    capture = meta["captures"][0]
    assert capture["core:frequency"] == FakePluto.instances[-1].rx_lo != 915.001e6
    assert capture["diffradio:rx_gain_mode"] == "fast_attack" and meta["global"]["core:sample_rate"] == 2e6
    assert {"name": "diffradio", "version": "1.0.0", "optional": True} in meta["global"]["core:extensions"]


def test_ctrl_c_during_finalisation_keeps_the_capture(fake_adi, tmp_path, monkeypatch):
    """SIGINT while the capture is hashed: finalisation completes, then KeyboardInterrupt is raised."""
    import sigmf

    from sdr import sigmf_io

    real_hash = sigmf_io.hashing.calculate_sha512

    def interrupted_hash(**kwargs):
        monkeypatch.setattr(sigmf_io.hashing, "calculate_sha512", real_hash)  # once
        signal.raise_signal(signal.SIGINT)  # Ctrl-C arrives in the middle of finalising
        return real_hash(**kwargs)

    monkeypatch.setattr(sigmf_io.hashing, "calculate_sha512", interrupted_hash)
    radio = open_radio("pluto:ip:192.168.2.1")
    recorder = SigMFRecorder.from_radio(tmp_path / "kept.sigmf-meta", radio)
    recorder.write(radio.receive(5000))
    with pytest.raises(KeyboardInterrupt):
        recorder.close()
    handle = sigmf.sigmffile.fromfile(str(tmp_path / "kept.sigmf-meta"))
    handle.validate()
    assert handle.read_samples().size == 5000 and not list(tmp_path.glob(".*partial*"))


def test_tx_sends_the_stream_whole_and_reports_underflows(fake_adi, photo_png, capsys):
    """`diffradio tx` to a Pluto: the stream (its head, then its frames back to back, where the receiver
    looks for them) in one DMA buffer, none split; the DAC's underflow in the JSON."""
    from diffradio.cli import main

    FakePluto.underflow_on = {1}
    assert main(["tx", "--radio", "pluto:ip:192.168.2.1", "--image", photo_png, "--tx-gain", "-20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    dev = FakePluto.instances[-1]
    assert len(dev.pushes) == 1 and result["frames_sent"] >= 3 and dev.tx_hardwaregain_chan0 == -20.0
    assert (result["overflows"], result["underflows"], result["late"]) == (0, 1, 0)
    (length,) = [p[0].shape[0] for p in dev.pushes]
    assert length % 1024 == 0 and result["samples"] <= length < result["samples"] + 1024
