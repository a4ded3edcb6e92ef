"""ADALM-Pluto through pyadi-iio (``adi.Pluto``), imported only when a Pluto is opened.

Sample scaling (AD9361 data paths as libiio describes them): the TX DMA channels are
``le:S16/16`` with the 12-bit DAC taking the top bits, and pyadi-iio's examples send
``complex * 2**14`` (-6 dBFS of the int16 range, headroom for the interpolation filters), so
TX full scale |x| = 1.0 maps to 2**14. The RX channels are ``le:S12/16>>0``: 12-bit ADC samples
sign-extended in int16, so RX values are divided by 2**11 (ADC full scale -> 1.0).
Overflow/underflow: the AXI ADC/DAC cores' status register 0x80000088 (bit 2 RX overflow, bit 0
TX underflow, cleared by writing the bits back), as libiio's ``iio_adi_xflow_check`` reads it.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from .base import Radio, RadioConfig, RadioError, SampleQueue, one_line

TX_SCALE = 2.0**14
RX_SCALE = 2.0**11
XFLOW_STATUS_REG = 0x80000088
RX_OVERFLOW_BIT = 0x4
TX_UNDERFLOW_BIT = 0x1
_TX_BUFFER_QUANTUM = 1024  # TX DMA buffers are multiples of this many samples
_KERNEL_BUFFERS = 4  # libiio's default number of kernel blocks queued behind a TX buffer
_PIP_HINT = "pip install 'diffradio[pluto]' (pyadi-iio==0.0.21, pylibiio==0.25, with libiio0 from your OS)"

log = logging.getLogger(__name__)


def _import_adi():
    try:
        import adi
    except (ImportError, OSError) as exc:
        raise RadioError(f"the Pluto radio needs pyadi-iio and libiio ({one_line(exc)}); {_PIP_HINT}") from None
    return adi


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
            ``usb:1.2.5``, or ``''`` (pyadi-iio's auto-discovery).
        config: rate (Hz), LO (Hz), TX gain in dB (0 = full power, -89.75..0 attenuation),
            RX gain in dB (None: 'slow_attack' AGC, else 'manual' at that gain), RF bandwidth (Hz).
        rx_buffer_size: samples per RX DMA buffer (one ``adi.Pluto.rx()`` call).

    Attributes:
        rx_overflows / tx_underflows: how many overflow/underflow events the DMA cores flagged.
    """

    def __init__(self, spec: str = "", config: RadioConfig | None = None, rx_buffer_size: int = 1 << 16) -> None:
        adi = _import_adi()
        self.uri = resolve_uri(spec)
        where = self.uri or "auto-discovery"
        try:
            self._dev = adi.Pluto(self.uri) if self.uri else adi.Pluto()
        except Exception as exc:  # pyadi-iio raises a bare Exception("No device found")
            raise RadioError(f"no ADALM-Pluto at pluto:{spec} ({where}: {one_line(exc)}); check it with `iio_info -s` "
                             f"or use --radio sim:") from None
        self.rx_buffer_size = int(rx_buffer_size)
        self.rx_overflows = 0
        self.tx_underflows = 0
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
            self._set("gain_control_mode_chan0", "slow_attack")
        else:
            self._set("gain_control_mode_chan0", "manual")  # rx_hardwaregain is ignored unless manual
            self._set("rx_hardwaregain_chan0", float(config.rx_gain_db))
        self._set("rx_buffer_size", self.rx_buffer_size)
        self._dev.rx_destroy_buffer()  # the next rx() builds a buffer with the new size
        self._stale_rx = True

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

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Send ``burst`` (shape (n,), complex, |x| <= 1) once, or cyclically until ``close()``.

        One-shot bursts stream through TX DMA buffers of a fixed length (the first burst's length
        rounded up to 1024 samples; shorter bursts are zero-padded, longer ones split); a repeated
        burst replaces anything streaming with a cyclic buffer of exactly the burst.
        """
        x = np.asarray(burst).reshape(-1)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > 1.0 + 1e-6:
            raise RadioError(f"burst exceeds full scale (peak {peak:.3f} > 1.0); scale the transmitter's output down")
        iq = np.round(x.real * TX_SCALE) + 1j * np.round(x.imag * TX_SCALE)  # pyadi-iio truncates to int16
        if repeat:
            self._stop_tx()
            self._dev.tx_cyclic_buffer = True
            self._dev.tx(iq)
            self._cyclic = True
            return
        if self._cyclic:
            self._stop_tx()
        if self._tx_len is None:
            self._tx_len = max(_TX_BUFFER_QUANTUM, -(-iq.size // _TX_BUFFER_QUANTUM) * _TX_BUFFER_QUANTUM)
        padded = np.concatenate([iq, np.zeros(-iq.size % self._tx_len, dtype=iq.dtype)])
        for block in padded.reshape(-1, self._tx_len):
            self._dev.tx(block)
        if self._xflow("_txdac", TX_UNDERFLOW_BIT):
            self.tx_underflows += 1
            log.warning("Pluto TX underflow: the host did not keep up; a burst may have gaps")

    def _rx_buffer(self) -> np.ndarray:
        data = self._dev.rx()
        if self._xflow("_rxadc", RX_OVERFLOW_BIT):
            self.rx_overflows += 1
            log.warning("Pluto RX overflow: samples were dropped before this buffer")
        return (np.asarray(data) / RX_SCALE).astype(np.complex64)

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` received samples, complex64, full scale 1.0 (blocks until they arrive)."""
        if self._stale_rx:  # the first buffer after (re)configuration holds samples from before it
            self._rx_buffer()
            self._stale_rx = False
        return self._received.take(n_samples, lambda want: self._rx_buffer())

    def close(self) -> None:
        """Let queued one-shot buffers drain, stop TX, release the buffers and the IIO context."""
        if self._tx_len is not None and not self._cyclic:
            time.sleep(_KERNEL_BUFFERS * self._tx_len / self.config.sample_rate_hz)
        self._stop_tx()
        self._dev.rx_destroy_buffer()
        close = getattr(self._dev, "close", None)
        if close is not None:
            close()
