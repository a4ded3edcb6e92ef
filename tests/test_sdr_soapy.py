"""The SoapySDR radio through the real SoapySDR Python module (0.8, Debian's python3-soapysdr).

Debian ships no software-only SoapySDR device (SoapyRemote needs a server with a device behind it),
so streaming runs against a fake ``SoapySDR.Device`` that answers with the real module's
``StreamResult``, ``Range`` and error codes (``ret`` = samples or TIMEOUT -1 / OVERFLOW -4 /
TIME_ERROR -6 / UNDERFLOW -7, ``flags`` with HAS_TIME / END_BURST). Like a real driver it reports
the settings it actually applied (rates derived from a 32 MHz master clock by an integer divider).
``FakeDevice.tx_fail_after`` makes ``writeStream`` return STREAM_ERROR (or raise, for an exception
object) after that many calls. The "no device" error path uses the real library.
"""
import importlib
import json
import sys
import time

import numpy as np
import pytest

from sdr import RadioConfig, RadioError, SigMFRecorder, open_radio

MASTER_CLOCK_HZ = 32e6

DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def _load_soapysdr():
    """The real SoapySDR module: from the environment, else from Debian's python3-soapysdr."""
    try:
        return importlib.import_module("SoapySDR")
    except ImportError:
        sys.path.append(DEBIAN_DIST_PACKAGES)
        try:
            return importlib.import_module("SoapySDR")
        except ImportError:
            return None
        finally:
            sys.path.remove(DEBIAN_DIST_PACKAGES)


SoapySDR = _load_soapysdr()
pytestmark = pytest.mark.skipif(SoapySDR is None, reason="python3-soapysdr is not installed (apt-get install "
                                                         "python3-soapysdr)")


def result(ret, flags=0, time_ns=0):
    sr = SoapySDR.StreamResult()
    sr.ret, sr.flags, sr.timeNs = ret, flags, time_ns
    return sr


class FakeDevice:
    """SoapySDR.Device as the radio uses it; RX plays a script, TX records what was written."""

    rx_script = []  # items: int n (n samples, stamped), "timeout", "overflow", "late", or an error code
    tx_fail_after = None  # None, or (calls, what): writeStream fails after `calls` calls (code or exception)
    instances = []

    def __init__(self, args=""):
        self.args = args
        self.settings = {}
        self.streams = {}
        self.tx = []  # (samples, flags)
        self.status = [SoapySDR.SOAPY_SDR_UNDERFLOW]
        self.rx_script = list(FakeDevice.rx_script)
        self.time_ns = 1_000_000
        self.mtu = 1000
        self.tx_calls = 0
        self.closed = False
        FakeDevice.instances.append(self)

    def hasHardwareTime(self, what=""):
        return True

    def setSampleRate(self, direction, channel, rate):
        if rate > 56e6:
            raise RuntimeError("rate out of range")
        self.settings[("rate", direction, channel)] = MASTER_CLOCK_HZ / round(MASTER_CLOCK_HZ / rate)

    def getSampleRate(self, direction, channel):
        return self.settings[("rate", direction, channel)]

    def getFrequency(self, direction, channel):
        return self.settings[("freq", direction, channel)]

    def getBandwidth(self, direction, channel):
        return self.settings.get(("bw", direction, channel), 0.0)

    def getGain(self, direction, channel):
        return self.settings.get(("gain", direction, channel), 31.5)

    def getGainMode(self, direction, channel):
        return self.settings.get(("agc", direction, channel), False)

    def setFrequency(self, direction, channel, freq):
        self.settings[("freq", direction, channel)] = freq

    def setBandwidth(self, direction, channel, bw):
        self.settings[("bw", direction, channel)] = bw

    def getGainRange(self, direction, channel):
        return SoapySDR.Range(0.0, 89.75) if direction == SoapySDR.SOAPY_SDR_TX else SoapySDR.Range(0.0, 76.0)

    def setGain(self, direction, channel, gain):
        self.settings[("gain", direction, channel)] = gain

    def hasGainMode(self, direction, channel):
        return direction == SoapySDR.SOAPY_SDR_RX

    def setGainMode(self, direction, channel, automatic):
        self.settings[("agc", direction, channel)] = automatic

    def setupStream(self, direction, fmt, channels):
        assert fmt == SoapySDR.SOAPY_SDR_CF32 and channels == [0]
        handle = object()
        self.streams[handle] = {"direction": direction, "active": False, "closed": False}
        return handle

    def activateStream(self, stream, flags=0, timeNs=0, numElems=0):
        self.streams[stream]["active"] = True
        return 0

    def deactivateStream(self, stream, flags=0, timeNs=0):
        self.streams[stream]["active"] = False
        return 0

    def closeStream(self, stream):
        self.streams[stream]["closed"] = True

    def getStreamMTU(self, stream):
        return self.mtu

    def readStream(self, stream, buffs, numElems, flags=0, timeoutUs=100000):
        assert self.streams[stream]["active"] and self.streams[stream]["direction"] == SoapySDR.SOAPY_SDR_RX
        step = self.rx_script.pop(0) if self.rx_script else "timeout"
        codes = {"timeout": SoapySDR.SOAPY_SDR_TIMEOUT, "overflow": SoapySDR.SOAPY_SDR_OVERFLOW,
                 "late": SoapySDR.SOAPY_SDR_TIME_ERROR}
        if isinstance(step, str):
            return result(codes[step])
        if step < 0:
            return result(step)
        n = min(step, numElems, self.mtu)
        buffs[0][:n] = (np.arange(n) + self.time_ns) * 1e-7  # recognisable samples
        stamp = self.time_ns
        self.time_ns += n
        return result(n, SoapySDR.SOAPY_SDR_HAS_TIME, stamp)

    def writeStream(self, stream, buffs, numElems, flags=0, timeNs=0, timeoutUs=100000):
        assert self.streams[stream]["active"] and buffs[0].dtype == np.complex64
        self.tx_calls += 1
        if FakeDevice.tx_fail_after and self.tx_calls > FakeDevice.tx_fail_after[0]:
            failure = FakeDevice.tx_fail_after[1]
            if isinstance(failure, Exception):
                raise failure
            return result(failure)
        n = min(numElems, 700)  # accepts part of a request, as drivers may
        self.tx.append((np.array(buffs[0][:n]), flags if n == numElems else flags & ~SoapySDR.SOAPY_SDR_END_BURST))
        return result(n)

    def readStreamStatus(self, stream, timeoutUs=100000):
        return result(self.status.pop(0) if self.status else SoapySDR.SOAPY_SDR_TIMEOUT)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_device(monkeypatch):
    FakeDevice.instances = []
    FakeDevice.rx_script = []
    FakeDevice.tx_fail_after = None
    monkeypatch.setattr(SoapySDR, "Device", FakeDevice)
    return FakeDevice


def test_configuration_reaches_both_directions(fake_device):
    radio = open_radio("soapy:driver=uhd,serial=31F", RadioConfig(sample_rate_hz=2e6, center_freq_hz=2.45e9,
                                                                  tx_gain_db=-10, rx_gain_db=40.0,
                                                                  bandwidth_hz=5e6))
    dev = fake_device.instances[-1]
    assert dev.args == "driver=uhd,serial=31F"
    for d in (SoapySDR.SOAPY_SDR_RX, SoapySDR.SOAPY_SDR_TX):
        assert dev.settings[("rate", d, 0)] == 2e6 and dev.settings[("freq", d, 0)] == 2.45e9
        assert dev.settings[("bw", d, 0)] == 5e6
    assert dev.settings[("gain", SoapySDR.SOAPY_SDR_TX, 0)] == pytest.approx(79.75)  # 10 dB below maximum
    assert dev.settings[("agc", SoapySDR.SOAPY_SDR_RX, 0)] is False
    assert dev.settings[("gain", SoapySDR.SOAPY_SDR_RX, 0)] == 40.0
    radio.configure(RadioConfig())
    assert dev.settings[("agc", SoapySDR.SOAPY_SDR_RX, 0)] is True


def test_rejected_setting_is_one_radio_error(fake_device):
    with pytest.raises(RadioError, match="rejected sample rate"):
        open_radio("soapy:driver=uhd", RadioConfig(sample_rate_hz=100e6))


def test_receive_handles_timeouts_overflows_and_late_commands_and_keeps_the_time_stamp(fake_device):
    fake_device.rx_script = ["timeout", 600, "overflow", 600, "late", 5000]
    radio = open_radio("soapy:driver=uhd")
    y = radio.receive(1500)
    assert y.dtype == np.complex64 and y.size == 1500
    assert radio.stats.overflows == 1 and radio.stats.late == 1
    assert radio.rx_time_ns == 1_000_000  # stamp of the first sample
    np.testing.assert_allclose(y[:600].real, (np.arange(600) + 1_000_000) * 1e-7, rtol=1e-6)


def test_receive_gives_up_after_the_timeout(fake_device):
    radio = open_radio("soapy:driver=uhd")
    radio.timeout_s = 0.3
    with pytest.raises(RadioError, match="no samples"):
        radio.receive(10)


def test_stream_error_code_is_one_radio_error(fake_device):
    fake_device.rx_script = [SoapySDR.SOAPY_SDR_CORRUPTION]
    with pytest.raises(RadioError, match="CORRUPTION"):
        open_radio("soapy:driver=uhd").receive(10)


def test_transmit_writes_everything_in_mtu_pieces_and_ends_the_burst(fake_device):
    radio = open_radio("soapy:driver=uhd")
    dev = fake_device.instances[-1]
    x = (0.5 * np.exp(1j * np.arange(2500) * 0.1)).astype(np.complex64)
    radio.transmit(x)
    sent = np.concatenate([s for s, _ in dev.tx])
    np.testing.assert_array_equal(sent, x)
    assert all(s.size <= dev.mtu for s, _ in dev.tx)
    end_flags = [bool(f & SoapySDR.SOAPY_SDR_END_BURST) for _, f in dev.tx]
    assert end_flags[-1] and not any(end_flags[:-1])
    assert radio.stats.underflows == 1  # the driver's asynchronous report was read
    radio.close()
    assert dev.closed and all(s["closed"] for s in dev.streams.values())


def test_repeated_burst_streams_until_close(fake_device):
    radio = open_radio("soapy:driver=uhd")
    dev = fake_device.instances[-1]
    x = (0.25 * np.ones(300)).astype(np.complex64)
    radio.transmit(x, repeat=True)
    deadline = time.monotonic() + 10
    while sum(s.size for s, _ in dev.tx) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    radio.close()
    assert dev.tx[-1][1] & SoapySDR.SOAPY_SDR_END_BURST
    body = np.concatenate([s for s, _ in dev.tx[:-1]])
    np.testing.assert_array_equal(body[:2400], np.tile(x, 8))


def test_missing_device_with_the_real_library():
    with pytest.raises(RadioError) as info:
        open_radio("soapy:driver=uhd,serial=nonexistent")  # real SoapySDR.Device: no match
    message = str(info.value)
    assert "SoapySDRUtil --find" in message and "--radio sim:" in message and "\n" not in message


def test_missing_module_names_the_apt_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "SoapySDR", None)
    with pytest.raises(RadioError, match="apt-get install python3-soapysdr"):
        open_radio("soapy:driver=uhd")


def test_settings_are_read_back_and_a_recording_carries_them(fake_device, tmp_path):
    radio = open_radio("soapy:driver=uhd", RadioConfig(sample_rate_hz=3e6, center_freq_hz=2.45e9, rx_gain_db=40.0,
                                                       bandwidth_hz=2.5e6))
    s = radio.settings()
    assert s.sample_rate_hz == pytest.approx(32e6 / 11) and s.sample_rate_hz != 3e6  # the driver's actual rate
    assert (s.center_freq_hz, s.rx_gain_db, s.rx_gain_mode, s.bandwidth_hz) == (2.45e9, 40.0, "manual", 2.5e6)
    recorder = SigMFRecorder.from_radio(tmp_path / "r.sigmf-meta", radio)
    recorder.close()
    meta = json.loads((tmp_path / "r.sigmf-meta").read_text())
    assert meta["global"]["core:sample_rate"] == s.sample_rate_hz
    assert meta["captures"][0]["diffradio:rx_gain_db"] == 40.0


def test_rx_events_are_annotated_at_their_sample_positions(fake_device, tmp_path):
    fake_device.rx_script = [600, "overflow", 400, "late", 1000]
    radio = open_radio("soapy:driver=uhd")
    recorder = SigMFRecorder.from_radio(tmp_path / "ev.sigmf-meta", radio)
    for _ in range(2):
        recorder.write(radio.receive(1000))
    recorder.close()
    assert radio.stats.as_dict() == {"overflows": 1, "underflows": 0, "late": 1}
    meta = json.loads((tmp_path / "ev.sigmf-meta").read_text())
    assert [(a["core:label"], a["core:sample_start"]) for a in meta["annotations"]] == [("overflow", 600),
                                                                                      ("late", 1000)]


@pytest.mark.parametrize("failure, error", [(SoapySDR.SOAPY_SDR_STREAM_ERROR if SoapySDR else -2, RadioError),
                                            (TypeError("a bug in the thread"), TypeError)])
def test_transmit_thread_error_reaches_the_caller_at_once(fake_device, failure, error):
    fake_device.tx_fail_after = (5, failure)
    radio = open_radio("soapy:driver=uhd")
    radio.transmit(np.full(300, 0.25, np.complex64), repeat=True)
    start = time.monotonic()
    with pytest.raises(error, match="STREAM_ERROR|a bug"):
        radio.wait(30)
    assert time.monotonic() - start < 5
    radio.close()  # the error was reported once; the device is released
    assert fake_device.instances[-1].closed


def test_transmit_thread_error_is_raised_by_close(fake_device):
    fake_device.tx_fail_after = (3, SoapySDR.SOAPY_SDR_STREAM_ERROR)
    radio = open_radio("soapy:driver=uhd")
    radio.transmit(np.full(300, 0.25, np.complex64), repeat=True)
    time.sleep(0.2)
    with pytest.raises(RadioError, match="writeStream failed"):
        radio.close()
    assert fake_device.instances[-1].closed


def test_tx_repeat_exits_2_when_the_transmit_thread_fails(fake_device, photo_png, capsys):
    """`diffradio tx --repeat` on a device that fails mid-stream: one line, exit 2, well before --repeat ends."""
    from diffradio.cli import main

    fake_device.tx_fail_after = (20, SoapySDR.SOAPY_SDR_STREAM_ERROR)
    start = time.monotonic()
    assert main(["tx", "--radio", "soapy:driver=uhd", "--image", photo_png, "--repeat", "600"]) == 2
    assert time.monotonic() - start < 300   # far from --repeat even on a loaded machine (normally ~7 s)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["diffradio: error: soapy:driver=uhd writeStream failed: STREAM_ERROR (-2)"]
