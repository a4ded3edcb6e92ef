"""The one interface every radio backend implements."""
from __future__ import annotations

import logging
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


NO_SIGNAL_HINT = "check the radio URI, frequency, gain and sample rate (or try --radio sim:)"
"""The general advice when no frame was found (``Radio.no_signal_hint``; backends say more)."""


class RadioError(RuntimeError):
    """A user-facing radio problem: the message is one line naming the problem and the fix."""


def one_line(text: object) -> str:
    """``str(text)`` with all whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


def parse_params(text: str, uri: str) -> dict[str, str]:
    """Split ``'k1=v1,k2=v2'`` into a dict of strings (empty text: empty dict)."""
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RadioError(f"bad parameter {item!r} in radio URI {uri!r}; write KEY=VALUE pairs separated by commas")
        params[key.strip()] = value.strip()
    return params


def burst_samples(burst) -> np.ndarray:
    """``burst`` as a flat array (n,) after the radios' contract check: |x| <= 1 (full scale);
    RadioError (one line, with the fix) beyond it."""
    x = np.asarray(burst).reshape(-1)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0 + 1e-6:
        raise RadioError(f"burst exceeds full scale (peak {peak:.3f} > 1.0); scale the transmitter's output down")
    return x


class SampleQueue:
    """Samples produced in blocks of any size, handed out ``n`` at a time (complex64)."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.complex64)

    def take(self, n: int, produce) -> np.ndarray:
        """The next ``n`` samples: queued ones first, then blocks from ``produce(want)`` (``want``:
        samples still missing) until ``n`` are in hand or ``produce`` returns None (the end: fewer)."""
        parts, have = [self._pending], self._pending.size
        while have < n:
            block = produce(n - have)
            if block is None:
                break
            parts.append(block)
            have += block.size
        joined = np.concatenate(parts)
        self._pending = joined[n:]
        return joined[:n]

    def clear(self) -> None:
        """Drop the queued samples."""
        self._pending = np.zeros(0, dtype=np.complex64)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Run the block to its end even if Ctrl-C (SIGINT) arrives; raise KeyboardInterrupt after it.

    For short steps that must not stop half-way (finalising a capture). Outside the main thread
    (where Python cannot install signal handlers) the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class StopOnInterrupt:
    """Ctrl-C (SIGINT) as a request to stop a receive loop at its next safe point.

    Inside ``with StopOnInterrupt() as stop:`` the first SIGINT sets ``stop.requested``. It raises
    KeyboardInterrupt at once only while the loop waits for the radio (``with stop.waiting():``),
    where unwinding loses nothing; anywhere else the loop sees the flag after the block it is
    processing, so the interrupt never lands inside the receiver, a lock, a progress bar or a
    library call half-way. A second SIGINT raises KeyboardInterrupt wherever it lands (the user
    insists). The previous handler is restored on exit. Outside the main thread (where Python
    cannot install signal handlers) nothing is installed and ``requested`` stays False.
    """

    def __init__(self) -> None:
        self.requested = False
        self._waiting = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        at_once = self.requested or self._waiting
        self.requested = True
        if at_once:
            raise KeyboardInterrupt

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Mark the block as a wait for the radio: a SIGINT there raises KeyboardInterrupt at once."""
        self._waiting = True
        try:
            if self.requested:
                raise KeyboardInterrupt
            yield
        finally:
            self._waiting = False

    def __enter__(self) -> "StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


@dataclass(frozen=True)
class RadioEvent:
    """One stream event a device reported.

    Attributes:
        kind: 'overflow' (RX samples were dropped), 'underflow' (TX ran out of samples) or 'late'
            (a timed command or burst missed its time).
        direction: 'rx' or 'tx'.
        sample: where it happened, in samples of that direction since the radio opened: for 'rx' the
            index (in what ``receive`` delivers) of the first sample after the event; for 'tx' the
            number of samples handed to the device when it was reported.
    """

    kind: str
    direction: str
    sample: int


class RadioStats:
    """Overflow, underflow and late counts of one radio, with each event's sample position.

    Safe to update from a transmit thread. ``rx_samples`` counts the samples ``receive`` delivered
    (the index space of RX events).
    """

    KINDS = ("overflow", "underflow", "late")

    def __init__(self) -> None:
        self.events: list[RadioEvent] = []
        self.rx_samples = 0
        self._lock = threading.Lock()

    def add(self, kind: str, direction: str, sample: int) -> None:
        """Record one event of ``kind`` (one of KINDS) at ``sample`` of ``direction`` ('rx'/'tx')."""
        if kind not in self.KINDS:
            raise ValueError(f"unknown radio event {kind!r}; one of {', '.join(self.KINDS)}")
        with self._lock:
            self.events.append(RadioEvent(kind, direction, int(sample)))

    def count(self, kind: str) -> int:
        """How many events of ``kind`` were reported."""
        with self._lock:
            return sum(e.kind == kind for e in self.events)

    @property
    def overflows(self) -> int:
        return self.count("overflow")

    @property
    def underflows(self) -> int:
        return self.count("underflow")

    @property
    def late(self) -> int:
        return self.count("late")

    def as_dict(self) -> dict[str, int]:
        """``{'overflows', 'underflows', 'late'}``: the counts for a command's JSON."""
        return {"overflows": self.overflows, "underflows": self.underflows, "late": self.late}


@dataclass(frozen=True)
class DeviceSettings:
    """What a device actually runs at, read back from it (drivers round rates, clamp gains, pick LOs).

    Attributes:
        sample_rate_hz: RX sample rate in Hz.
        center_freq_hz: RX centre frequency (LO) in Hz.
        rx_gain_db: RX gain in dB on the device's own scale, when it was read (under AGC it moves).
        rx_gain_mode: 'manual', or the automatic mode ('slow_attack', 'fast_attack', 'hybrid' on a
            Pluto; 'automatic' for SoapySDR devices).
        tx_gain_db: TX gain in dB on the device's own scale (Pluto: 0 = full power, negative =
            attenuation; SoapySDR: the driver's absolute gain), None where not known.
        bandwidth_hz: RX analogue bandwidth in Hz, None where not known.
    """

    sample_rate_hz: float
    center_freq_hz: float | None
    rx_gain_db: float | None = None
    rx_gain_mode: str | None = None
    tx_gain_db: float | None = None
    bandwidth_hz: float | None = None


@dataclass
class RadioConfig:
    """Settings common to all radios.

    Attributes:
        sample_rate_hz: complex sample rate in Hz.
        center_freq_hz: RF centre frequency in Hz (LO for TX and RX).
        tx_gain_db: transmit gain in dB (Pluto: 0 dB is full power, negative is attenuation).
        rx_gain_db: receive gain in dB; None selects the device's automatic gain control.
        bandwidth_hz: analogue filter bandwidth in Hz; None follows the sample rate.
    """

    sample_rate_hz: float = 2e6
    center_freq_hz: float = 2.4e9
    tx_gain_db: float = -10.0
    rx_gain_db: float | None = None
    bandwidth_hz: float | None = None


class Radio(ABC):
    """A half- or full-duplex SDR that moves complex64 baseband samples.

    Samples are complex64 with full scale at magnitude 1.0 (backends do the int16 scaling).
    Radios are context managers; ``close()`` releases the device and finalises any file.
    """

    config: RadioConfig

    @property
    def stats(self) -> RadioStats:
        """Overflow, underflow and late events so far (``stats.as_dict()`` for a command's JSON)."""
        stats = self.__dict__.get("_stats")
        if stats is None:
            stats = self.__dict__["_stats"] = RadioStats()
        return stats

    def settings(self) -> DeviceSettings:
        """The settings in effect, read back from the device (here: rate and frequency of the config, for
        radios without a device, whose gains are not modelled)."""
        return DeviceSettings(self.config.sample_rate_hz, self.config.center_freq_hz)

    def no_signal_hint(self) -> str:
        """What to check when no frame was found in what this radio delivered (the end of a one-line error)."""
        return NO_SIGNAL_HINT

    def wait(self, seconds: float) -> None:
        """Let a repeating transmission run for ``seconds``; raise as soon as its transmit path fails."""
        time.sleep(seconds)

    @abstractmethod
    def configure(self, config: RadioConfig) -> None:
        """Apply ``config`` to the device (rates in Hz, gains in dB)."""

    @abstractmethod
    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Send one burst, shape (n,) complex64, |x| <= 1; ``repeat`` loops it until ``close()``.

        ``label`` names the burst where the radio records (the file radio's SigMF annotation).
        """

    @abstractmethod
    def receive(self, n_samples: int) -> np.ndarray:
        """Return the next ``n_samples`` received samples, shape (n_samples,) complex64 (fewer at end of a file)."""

    def stream(self, chunk_size: int, n_samples: int | None = None) -> Iterator[np.ndarray]:
        """Yield received chunks of ``chunk_size`` samples until ``n_samples`` (None: until exhausted)."""
        got = 0
        while n_samples is None or got < n_samples:
            want = chunk_size if n_samples is None else min(chunk_size, n_samples - got)
            chunk = self.receive(want)
            if chunk.size == 0:
                return
            got += chunk.size
            yield chunk

    def close(self) -> None:
        """Release the device."""

    def __enter__(self) -> "Radio":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except RadioError as err:  # the error already on its way out is the one to report
            log.warning("while closing after an error: %s", err)
