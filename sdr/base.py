"""The one interface every radio backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


class RadioError(RuntimeError):
    """A user-facing radio problem: the message is one line naming the problem and the fix."""


def one_line(text: object) -> str:
    """``str(text)`` with all whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


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

    def __exit__(self, *exc) -> None:
        self.close()
