"""SoapySDR radios (USRP via ``driver=uhd``, LimeSDR, HackRF, RTL-SDR, ...), imported only when opened.

Streams are CF32 (complex64, full scale 1.0, the driver converts). ``readStream`` returns a
StreamResult whose ``ret`` is the sample count or a negative error code: TIMEOUT (-1) waits again
until ``timeout_s``, OVERFLOW (-4) is counted and reading goes on (samples were lost), TIME_ERROR
(-6, a late command) is counted; other codes raise RadioError. Transmits end with END_BURST.
A repeating transmission runs in a background thread; an error there is kept and raised in the
caller by the radio's next ``wait``, ``transmit``, ``receive`` or ``close``.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from .base import DeviceSettings, Radio, RadioConfig, RadioError, RadioStats, burst_samples, one_line

_APT_HINT = ("sudo apt-get install python3-soapysdr soapysdr-module-uhd (then scripts/install-system-deps.sh "
             "links it into the virtual environment)")

log = logging.getLogger(__name__)


def _import_soapy():
    try:
        import SoapySDR
    except ImportError as exc:
        raise RadioError(f"the soapy radio needs SoapySDR's Python module ({one_line(exc)}); {_APT_HINT}") from None
    return SoapySDR


class SoapyRadio(Radio):
    """One channel of a SoapySDR device, complex64 samples with full scale 1.0.

    Args:
        args: SoapySDR device arguments (``driver=uhd,serial=...``; '' = the first device found).
        config: rate (Hz), frequency (Hz), TX gain in dB relative to the device's maximum (0 = full
            power), RX gain in dB as the device defines it (None: automatic gain where supported),
            bandwidth (Hz; None leaves the driver's choice).
        channel: the device channel used for RX and TX.
        timeout_s: how long ``receive`` / ``transmit`` wait for the device before RadioError.

    ``stats`` holds the overflow, underflow and late events the driver reported: RX ones at the
    index of the first sample read after them, TX ones at the number of samples written before.

    Attributes:
        rx_time_ns: hardware time of the first sample of the last ``receive`` (None if the device
            has no hardware time or did not stamp it).
    """

    def __init__(self, args: str = "", config: RadioConfig | None = None, channel: int = 0,
                 timeout_s: float = 5.0) -> None:
        self._soapy = _import_soapy()
        self.args = args
        try:
            self._dev = self._soapy.Device(args)
        except RuntimeError as exc:
            raise RadioError(f"no SoapySDR device matches soapy:{args} ({one_line(exc)}); list devices with "
                             f"`SoapySDRUtil --find`, install its module (e.g. soapysdr-module-uhd) "
                             f"or use --radio sim:") from None
        self.channel = channel
        self.timeout_s = timeout_s
        self._stats = RadioStats()
        self._tx_written = 0  # samples the driver accepted (the index space of TX events)
        self._tx_error: BaseException | None = None  # raised by the repeat thread, not yet reported
        self.rx_time_ns: int | None = None
        self.has_hardware_time = bool(self._dev.hasHardwareTime())
        self._rx_stream = None
        self._tx_stream = None
        self._repeat_stop: threading.Event | None = None
        self._repeat_thread: threading.Thread | None = None
        self.configure(config or RadioConfig())

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:
            raise RadioError(f"SoapySDR device soapy:{self.args} rejected {what} ({one_line(exc)}); "
                             f"pick a value the device supports") from None

    def configure(self, config: RadioConfig) -> None:
        """Apply rates, frequency, gains and bandwidth to both directions of ``channel``."""
        s, ch = self._soapy, self.channel
        self.config = config
        for direction in (s.SOAPY_SDR_RX, s.SOAPY_SDR_TX):
            self._call(f"sample rate {config.sample_rate_hz:g}", self._dev.setSampleRate, direction, ch,
                       float(config.sample_rate_hz))
            self._call(f"frequency {config.center_freq_hz:g}", self._dev.setFrequency, direction, ch,
                       float(config.center_freq_hz))
            if config.bandwidth_hz:
                self._call(f"bandwidth {config.bandwidth_hz:g}", self._dev.setBandwidth, direction, ch,
                           float(config.bandwidth_hz))
        tx_range = self._dev.getGainRange(s.SOAPY_SDR_TX, ch)
        tx_gain = min(max(tx_range.maximum() + config.tx_gain_db, tx_range.minimum()), tx_range.maximum())
        self._call(f"TX gain {tx_gain:g} dB", self._dev.setGain, s.SOAPY_SDR_TX, ch, float(tx_gain))
        automatic = config.rx_gain_db is None
        if self._dev.hasGainMode(s.SOAPY_SDR_RX, ch):
            self._call("RX gain mode", self._dev.setGainMode, s.SOAPY_SDR_RX, ch, automatic)
        elif automatic:
            log.warning("soapy:%s has no automatic RX gain; keeping its current gain", self.args)
        if not automatic:
            self._call(f"RX gain {config.rx_gain_db:g} dB", self._dev.setGain, s.SOAPY_SDR_RX, ch,
                       float(config.rx_gain_db))

    def settings(self) -> DeviceSettings:
        """RX rate, frequency, gain, gain mode and bandwidth, and TX gain, as the driver reports them."""
        s, ch, rx = self._soapy, self.channel, self._soapy.SOAPY_SDR_RX
        automatic = self._dev.hasGainMode(rx, ch) and self._call("RX gain mode query", self._dev.getGainMode, rx, ch)
        bandwidth = self._call("bandwidth query", self._dev.getBandwidth, rx, ch)
        return DeviceSettings(
            sample_rate_hz=float(self._call("sample rate query", self._dev.getSampleRate, rx, ch)),
            center_freq_hz=float(self._call("frequency query", self._dev.getFrequency, rx, ch)),
            rx_gain_db=float(self._call("RX gain query", self._dev.getGain, rx, ch)),
            rx_gain_mode="automatic" if automatic else "manual",
            tx_gain_db=float(self._call("TX gain query", self._dev.getGain, s.SOAPY_SDR_TX, ch)),
            bandwidth_hz=float(bandwidth) if bandwidth else None)

    def _raise_tx_error(self) -> None:
        """Raise (once) the error that stopped the repeat thread."""
        error, self._tx_error = self._tx_error, None
        if error is not None:
            self._repeat_thread = self._repeat_stop = None
            raise error

    def wait(self, seconds: float) -> None:
        """Let a repeating transmission run for ``seconds``; raise its error as soon as it fails."""
        stop = self._repeat_stop
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):  # set early only by the thread, when it fails
            self._repeat_thread.join()
        self._raise_tx_error()

    def _stream(self, direction):
        s = self._soapy
        stream = self._call("stream setup", self._dev.setupStream, direction, s.SOAPY_SDR_CF32, [self.channel])
        self._call("stream activation", self._dev.activateStream, stream)
        return stream

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` received samples, complex64; RadioError after ``timeout_s`` without data."""
        s = self._soapy
        self._raise_tx_error()
        if self._rx_stream is None:
            self._rx_stream = self._stream(s.SOAPY_SDR_RX)
        out = np.empty(n_samples, dtype=np.complex64)
        have = 0
        first = True
        deadline = time.monotonic() + self.timeout_s
        while have < n_samples:
            sr = self._dev.readStream(self._rx_stream, [out[have:]], n_samples - have,
                                      timeoutUs=int(min(self.timeout_s, 0.1) * 1e6))
            if sr.ret > 0:
                if first:
                    has_time = bool(sr.flags & s.SOAPY_SDR_HAS_TIME) and self.has_hardware_time
                    self.rx_time_ns = int(sr.timeNs) if has_time else None
                    first = False
                have += sr.ret
                deadline = time.monotonic() + self.timeout_s
            elif sr.ret == s.SOAPY_SDR_OVERFLOW:
                self.stats.add("overflow", "rx", self.stats.rx_samples + have)
                log.warning("soapy:%s RX overflow: samples were dropped", self.args)
            elif sr.ret == s.SOAPY_SDR_TIME_ERROR:
                self.stats.add("late", "rx", self.stats.rx_samples + have)
                log.warning("soapy:%s late command (time error)", self.args)
            elif sr.ret == s.SOAPY_SDR_TIMEOUT or sr.ret == 0:
                if time.monotonic() > deadline:
                    raise RadioError(f"soapy:{self.args} delivered no samples for {self.timeout_s:g} s; "
                                     f"check the device and its clock, or raise --timeout")
            else:
                raise RadioError(f"soapy:{self.args} readStream failed: {s.errToStr(sr.ret)} ({sr.ret})")
        self.stats.rx_samples += n_samples
        return out

    def _write(self, x: np.ndarray, end_burst: bool, stop: threading.Event | None = None) -> None:
        """Write all of ``x`` (complex64), END_BURST on the call that carries the last sample."""
        s = self._soapy
        mtu = int(self._dev.getStreamMTU(self._tx_stream))
        sent = 0
        deadline = time.monotonic() + self.timeout_s
        while sent < x.size and not (stop is not None and stop.is_set()):
            n = min(mtu, x.size - sent)
            flags = s.SOAPY_SDR_END_BURST if end_burst and sent + n == x.size else 0
            sr = self._dev.writeStream(self._tx_stream, [x[sent:sent + n]], n, flags,
                                       timeoutUs=int(min(self.timeout_s, 0.1) * 1e6))
            if sr.ret > 0:
                sent += sr.ret
                self._tx_written += sr.ret
                deadline = time.monotonic() + self.timeout_s
            elif sr.ret == s.SOAPY_SDR_TIMEOUT or sr.ret == 0:
                if time.monotonic() > deadline:
                    raise RadioError(f"soapy:{self.args} accepted no TX samples for {self.timeout_s:g} s")
            else:
                raise RadioError(f"soapy:{self.args} writeStream failed: {s.errToStr(sr.ret)} ({sr.ret})")

    def _tx_status(self) -> None:
        """Drain the driver's asynchronous TX reports (underflow, late), without waiting."""
        s = self._soapy
        while True:
            sr = self._dev.readStreamStatus(self._tx_stream, timeoutUs=0)
            if sr.ret == s.SOAPY_SDR_UNDERFLOW:
                self.stats.add("underflow", "tx", self._tx_written)
                log.warning("soapy:%s TX underflow", self.args)
            elif sr.ret == s.SOAPY_SDR_TIME_ERROR:
                self.stats.add("late", "tx", self._tx_written)
                log.warning("soapy:%s TX late", self.args)
            else:  # TIMEOUT (nothing queued) or NOT_SUPPORTED by this driver
                return

    def _stop_repeat(self) -> None:
        """Stop the repeat thread; raise the error that ended it, if one did."""
        if self._repeat_thread is not None:
            self._repeat_stop.set()
            self._repeat_thread.join()
            self._repeat_thread = self._repeat_stop = None
        self._raise_tx_error()

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Send ``burst`` (shape (n,), complex, |x| <= 1) ending with END_BURST; ``repeat`` streams it
        back to back from a background thread until ``close()`` or the next ``transmit``; an error in
        that thread (the driver refusing samples, a stream error) stops it and is raised by the next
        call to ``wait``, ``transmit``, ``receive`` or ``close``."""
        x = np.ascontiguousarray(burst_samples(burst), dtype=np.complex64)
        self._stop_repeat()
        if self._tx_stream is None:
            self._tx_stream = self._stream(self._soapy.SOAPY_SDR_TX)
        if not repeat:
            self._write(x, end_burst=True)
            self._tx_status()
            return
        stop = threading.Event()

        def loop() -> None:
            try:
                while not stop.is_set():
                    self._write(x, end_burst=False, stop=stop)
                    self._tx_status()
                self._write(np.zeros(1, np.complex64), end_burst=True)
            except Exception as exc:  # handed to the caller (its traceback kept for a bug)
                self._tx_error = exc
                stop.set()

        self._repeat_stop, self._repeat_thread = stop, threading.Thread(target=loop, daemon=True)
        self._repeat_thread.start()

    def close(self) -> None:
        """Stop a repeating burst, deactivate and close the streams, release the device; then raise the
        repeat thread's error, if it had one."""
        try:
            self._stop_repeat()
        finally:
            for attr in ("_rx_stream", "_tx_stream"):
                stream = getattr(self, attr)
                if stream is not None:
                    self._dev.deactivateStream(stream)
                    self._dev.closeStream(stream)
                    setattr(self, attr, None)
            self._dev.close()
