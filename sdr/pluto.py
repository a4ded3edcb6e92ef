"""ADALM-Pluto through pyadi-iio (``adi.Pluto``), imported only when a Pluto is opened.

Sample scaling (AD9361 data paths as libiio describes them): the TX DMA channels are
``le:S16/16`` with the 12-bit DAC taking the top bits, and pyadi-iio's examples send
``complex * 2**14`` (-6 dBFS of the int16 range, headroom for the interpolation filters), so
TX full scale |x| = 1.0 maps to 2**14. The RX channels are ``le:S12/16>>0``: 12-bit ADC samples
sign-extended in int16, so RX values are divided by 2**11 (ADC full scale -> 1.0).
Overflow/underflow: the AXI ADC/DAC cores' status register 0x80000088 (bit 2 RX overflow, bit 0
TX underflow, cleared by writing the bits back), as libiio's ``iio_adi_xflow_check`` reads it.

RX gain control (AD9361 Reference Manual UG-570, "Gain control"): ``fast_attack`` is meant for
waveforms that burst on and off (TDD): it settles on the start of a burst (our preamble) and then
locks the gain until the burst ends, so the gain is constant from the channel estimate to the last
payload symbol. ``slow_attack`` suits continuous (FDD) signals: its loop changes the gain at timer
ticks whatever the signal does, so for bursts it either sits at the idle noise's high gain and
clips the next burst, or steps the gain in the middle of one, scaling the analog payload after the
channel was estimated. ``manual`` (with an RX gain) is the safest when the level is known.
``fast_attack`` is therefore the default; ``pluto:ip:...,agc=slow_attack|fast_attack|hybrid``
picks another, and an RX gain (``RadioConfig.rx_gain_db``, ``rx --rx-gain``) selects ``manual``.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from .base import (DeviceSettings, Radio, RadioConfig, RadioError, RadioStats, SampleQueue, burst_samples, one_line,
                   parse_params)

TX_SCALE = 2.0**14
RX_SCALE = 2.0**11
XFLOW_STATUS_REG = 0x80000088
RX_OVERFLOW_BIT = 0x4
TX_UNDERFLOW_BIT = 0x1
_TX_BUFFER_QUANTUM = 1024  # TX DMA buffers are multiples of this many samples
_KERNEL_BUFFERS = 4  # libiio's default number of kernel blocks queued behind a TX buffer
AGC_MODES = ("fast_attack", "slow_attack", "hybrid")
DEFAULT_AGC = "fast_attack"  # for bursts: see the module docstring
_PIP_HINT = "pip install 'diffradio[pluto]' (pyadi-iio==0.0.21, pylibiio==0.25, with libiio0 from your OS)"

log = logging.getLogger(__name__)


def _import_adi():
    try:
        import adi
    except (ImportError, OSError) as exc:
        raise RadioError(f"the Pluto radio needs pyadi-iio and libiio ({one_line(exc)}); {_PIP_HINT}") from None
    return adi


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``'ip:192.168.2.1,agc=slow_attack'`` -> ``('ip:192.168.2.1', {'agc': 'slow_attack'})``
    (the libiio URI comes first and holds no '='; RadioError for unknown parameters)."""
    head, _, rest = spec.partition(",")
    if "=" in head:
        head, rest = "", spec
    params = parse_params(rest, f"pluto:{spec}")
    unknown = set(params) - {"agc"}
    if unknown:
        raise RadioError(f"unknown Pluto parameter(s) {', '.join(sorted(unknown))} in pluto:{spec}; "
                         f"the only one is agc={'|'.join(AGC_MODES)}")
    agc = params.get("agc")
    if agc is not None and agc not in AGC_MODES + ("manual",):
        raise RadioError(f"unknown Pluto AGC mode agc={agc}; use agc={'|'.join(AGC_MODES)}, or --rx-gain DB "
                         f"for a manual gain")
    return head.strip(), params


def resolve_uri(spec: str) -> str:
    """libiio URI for the text after ``pluto:`` ('' = auto; 'usb:' = the first USB Pluto found)."""
    if spec != "usb:":
        return spec
    try:
        import iio

        contexts = iio.scan_contexts()
    except (ImportError, OSError) as exc:
        raise RadioError(f"scanning USB for a Pluto failed ({one_line(exc)}); name it as pluto:usb:BUS.DEV.INTF "
                         f"(from `iio_info -s`) or pluto:ip:192.168.2.1") from None
    for uri, description in contexts.items():
        if uri.startswith("usb:") and ("PlutoSDR" in description or "PLUTO" in description.upper()):
            return uri
    raise RadioError("no ADALM-Pluto found on USB; check the cable and `iio_info -s`, or use --radio sim:")


class PlutoRadio(Radio):
    """An ADALM-Pluto (AD9363) moving complex64 samples with full scale 1.0.

    Args:
        spec: the URI text after ``pluto:``: ``ip:192.168.2.1``, ``usb:`` (first USB Pluto),
            ``usb:1.2.5``, or ``''`` (pyadi-iio's auto-discovery), optionally followed by
            ``,agc=fast_attack|slow_attack|hybrid`` (the AGC mode when no RX gain is set).
        config: rate (Hz), LO (Hz), TX gain in dB (0 = full power, -89.75..0 attenuation),
            RX gain in dB (None: the AGC, else 'manual' at that gain), RF bandwidth (Hz).
        rx_buffer_size: samples per RX DMA buffer (one ``adi.Pluto.rx()`` call).

    ``stats`` counts RX overflows (at the first sample of the buffer after the drop) and TX
    underflows (at the number of samples pushed when flagged: between bursts pushed with pauses
    the DAC runs dry by design; a burst itself is never split, so never interrupted).
    """

    def __init__(self, spec: str = "", config: RadioConfig | None = None, rx_buffer_size: int = 1 << 16) -> None:
        adi = _import_adi()
        spec_uri, params = split_spec(spec)
        self.agc = params.get("agc")
        self.uri = resolve_uri(spec_uri)
        where = self.uri or "auto-discovery"
        try:
            self._dev = adi.Pluto(self.uri) if self.uri else adi.Pluto()
        except Exception as exc:  # pyadi-iio raises a bare Exception("No device found")
            raise RadioError(f"no ADALM-Pluto at pluto:{spec} ({where}: {one_line(exc)}); check it with `iio_info -s` "
                             f"or use --radio sim:") from None
        self.rx_buffer_size = int(rx_buffer_size)
        self._stats = RadioStats()
        self._rx_produced = 0  # samples taken from RX buffers (the index space of RX events)
        self._tx_pushed = 0  # samples pushed to TX buffers
        self._tx_len: int | None = None  # samples per TX DMA buffer while non-cyclic buffers stream
        self._cyclic = False
        self._received = SampleQueue()
        self._stale_rx = True
        self.configure(config or RadioConfig())

    def _set(self, name: str, value) -> None:
        try:
            setattr(self._dev, name, value)
        except Exception as exc:
            raise RadioError(f"Pluto {self.uri or 'auto'} rejected {name}={value!r} ({one_line(exc)}); "
                             f"pick a value the AD9363 supports") from None

    def configure(self, config: RadioConfig) -> None:
        """Apply rate, LOs, gains and bandwidths (Hz, dB); raises RadioError for values out of range."""
        if not 521e3 <= config.sample_rate_hz <= 61.44e6:
            raise RadioError(f"Pluto sample rate {config.sample_rate_hz:g} S/s is outside 521e3..61.44e6; "
                             f"choose another --rate")
        if not -89.75 <= config.tx_gain_db <= 0:
            raise RadioError(f"Pluto TX gain {config.tx_gain_db} dB is outside -89.75..0 dB (0 = full power)")
        self.config = config
        self._set("sample_rate", int(round(config.sample_rate_hz)))
        bandwidth = int(round(config.bandwidth_hz or config.sample_rate_hz))
        self._set("rx_rf_bandwidth", bandwidth)
        self._set("tx_rf_bandwidth", bandwidth)
        self._set("rx_lo", int(round(config.center_freq_hz)))
        self._set("tx_lo", int(round(config.center_freq_hz)))
        self._set("tx_hardwaregain_chan0", float(config.tx_gain_db))
        if config.rx_gain_db is None:
            if self.agc == "manual":
                raise RadioError("pluto:...,agc=manual needs an RX gain; give --rx-gain DB, or pick "
                                 f"agc={'|'.join(AGC_MODES)}")
            self._set("gain_control_mode_chan0", self.agc or DEFAULT_AGC)
        else:
            if self.agc not in (None, "manual"):
                raise RadioError(f"pluto:...,agc={self.agc} and an RX gain of {config.rx_gain_db:g} dB contradict "
                                 f"each other; drop --rx-gain to use the AGC, or agc= for a manual gain")
            self._set("gain_control_mode_chan0", "manual")  # rx_hardwaregain is ignored unless manual
            self._set("rx_hardwaregain_chan0", float(config.rx_gain_db))
        self._set("rx_buffer_size", self.rx_buffer_size)
        self._dev.rx_destroy_buffer()  # the next rx() builds a buffer with the new size
        self._stale_rx = True

    def _get(self, name: str):
        try:
            return getattr(self._dev, name)
        except Exception as exc:
            raise RadioError(f"Pluto {self.uri or 'auto'} did not report {name} ({one_line(exc)}); "
                             f"check the connection with `iio_info -s`") from None

    def settings(self) -> DeviceSettings:
        """Rate, LO, gains (dB) and bandwidth as the AD9363's driver reports them now."""
        return DeviceSettings(
            sample_rate_hz=float(self._get("sample_rate")), center_freq_hz=float(self._get("rx_lo")),
            rx_gain_db=float(self._get("rx_hardwaregain_chan0")),
            rx_gain_mode=str(self._get("gain_control_mode_chan0")),
            tx_gain_db=float(self._get("tx_hardwaregain_chan0")),
            bandwidth_hz=float(self._get("rx_rf_bandwidth")))

    def _xflow(self, device_attr: str, bit: int) -> bool:
        """Read and clear one xflow bit of an AXI core's status register (False where unreadable)."""
        core = getattr(self._dev, device_attr, None)
        try:
            status = core.reg_read(XFLOW_STATUS_REG)
            if status:
                core.reg_write(XFLOW_STATUS_REG, status)
        except Exception:  # contexts without register access (e.g. some network setups)
            return False
        return bool(status & bit)

    def _stop_tx(self) -> None:
        if self._cyclic or self._tx_len is not None:
            self._dev.tx_destroy_buffer()
        self._cyclic, self._tx_len = False, None
        self._dev.tx_cyclic_buffer = False

    def _drain_tx(self) -> None:
        """Wait until the queued one-shot TX buffers have been played out."""
        if self._tx_len is not None and not self._cyclic:
            time.sleep(_KERNEL_BUFFERS * self._tx_len / self.config.sample_rate_hz)

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Send ``burst`` (shape (n,), complex, |x| <= 1) once, or cyclically until ``close()``.

        Each one-shot burst goes out in exactly one TX DMA buffer, zero-padded to the buffer length
        (a multiple of 1024 samples), so no burst is ever split across buffers, where a late refill
        would cut a gap into it. The buffer is sized by the first burst; a longer burst waits for
        the queued buffers to play out and gets a new, larger buffer. A repeated burst replaces
        anything streaming with a cyclic buffer of exactly the burst.
        """
        x = burst_samples(burst)
        iq = np.round(x.real * TX_SCALE) + 1j * np.round(x.imag * TX_SCALE)  # pyadi-iio truncates to int16
        if repeat:
            self._stop_tx()
            self._dev.tx_cyclic_buffer = True
            self._dev.tx(iq)
            self._cyclic = True
            return
        if self._cyclic:
            self._stop_tx()
        if self._tx_len is not None and iq.size > self._tx_len:
            self._drain_tx()
            self._stop_tx()
        if self._tx_len is None:
            self._tx_len = max(_TX_BUFFER_QUANTUM, -(-iq.size // _TX_BUFFER_QUANTUM) * _TX_BUFFER_QUANTUM)
            self._xflow("_txdac", TX_UNDERFLOW_BIT)  # the idle DAC flagged underflows before this stream
        self._dev.tx(np.concatenate([iq, np.zeros(self._tx_len - iq.size, dtype=iq.dtype)]))
        if self._xflow("_txdac", TX_UNDERFLOW_BIT):
            self.stats.add("underflow", "tx", self._tx_pushed)
            log.warning("Pluto TX underflow: the DAC ran out of queued samples between bursts")
        self._tx_pushed += self._tx_len

    def _rx_buffer(self) -> np.ndarray:
        data = np.asarray(self._dev.rx())
        if self._xflow("_rxadc", RX_OVERFLOW_BIT):
            self.stats.add("overflow", "rx", self._rx_produced)
            log.warning("Pluto RX overflow: samples were dropped before sample %d", self._rx_produced)
        self._rx_produced += data.size
        return (data / RX_SCALE).astype(np.complex64)

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` received samples, complex64, full scale 1.0 (blocks until they arrive)."""
        if self._stale_rx:  # the first buffer after (re)configuration holds samples from before it
            self._dev.rx()
            self._xflow("_rxadc", RX_OVERFLOW_BIT)  # an overflow before streaming began loses nothing
            self._stale_rx = False
        out = self._received.take(n_samples, lambda want: self._rx_buffer())
        self.stats.rx_samples += out.size
        return out

    def close(self) -> None:
        """Let queued one-shot buffers drain, stop TX, release the buffers and the IIO context."""
        self._drain_tx()
        self._stop_tx()
        self._dev.rx_destroy_buffer()
        close = getattr(self._dev, "close", None)
        if close is not None:
            close()
