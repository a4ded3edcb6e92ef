"""OFDM numerology shared by the transmitter, the receiver and the benchmarks."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _default_pilots(n_fft: int) -> tuple[int, ...]:
    """802.11a pilot positions (±7, ±21 for a 64-point FFT), scaled to ``n_fft``."""
    scale = n_fft // 64
    return tuple(int(k * scale) for k in (-21, -7, 7, 21))


def _default_data(n_fft: int) -> tuple[int, ...]:
    """802.11a data positions (±1..±26 less the pilots for a 64-point FFT), scaled to ``n_fft``."""
    edge = 26 * n_fft // 64
    pilots = set(_default_pilots(n_fft))
    return tuple(k for k in range(-edge, edge + 1) if k != 0 and k not in pilots)


@dataclass(frozen=True)
class OfdmParams:
    """Numerology of one OFDM link.

    Attributes:
        sample_rate_hz: complex baseband sample rate in Hz (default 2 MS/s).
        n_fft: FFT size in samples (a multiple of 64).
        n_cp: cyclic prefix length in samples.
        data_subcarriers: data subcarrier indices relative to DC, in ``[-n_fft/2, n_fft/2)``.
        pilot_subcarriers: pilot subcarrier indices relative to DC.
        idle_gap: zero samples appended after each burst by the transmitter.
    """

    sample_rate_hz: float = 2e6
    n_fft: int = 64
    n_cp: int = 16
    data_subcarriers: tuple[int, ...] = field(default=())
    pilot_subcarriers: tuple[int, ...] = field(default=())
    idle_gap: int = 400

    def __post_init__(self) -> None:
        if self.n_fft < 64 or self.n_fft % 64:
            raise ValueError(f"n_fft must be a multiple of 64, got {self.n_fft}")
        if not 0 < self.n_cp < self.n_fft:
            raise ValueError(f"n_cp must be in (0, n_fft), got {self.n_cp}")
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, got {self.sample_rate_hz}")
        if not self.pilot_subcarriers:
            object.__setattr__(self, "pilot_subcarriers", _default_pilots(self.n_fft))
        if not self.data_subcarriers:
            object.__setattr__(self, "data_subcarriers", _default_data(self.n_fft))

    def __hash__(self) -> int:
        # computed once: cached helpers key on the params in the receiver's per-frame path
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.sample_rate_hz, self.n_fft, self.n_cp, self.data_subcarriers, self.pilot_subcarriers,
                      self.idle_gap))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def n_data(self) -> int:
        """Data subcarriers per OFDM symbol."""
        return len(self.data_subcarriers)

    @property
    def n_pilot(self) -> int:
        """Pilot subcarriers per OFDM symbol."""
        return len(self.pilot_subcarriers)

    @property
    def symbol_len(self) -> int:
        """Samples per OFDM symbol including its cyclic prefix."""
        return self.n_fft + self.n_cp

    @property
    def occupied_fraction(self) -> float:
        """Share of the sampled band carrying energy (data + pilots over n_fft)."""
        return (self.n_data + self.n_pilot) / self.n_fft

    def bins(self, subcarriers: tuple[int, ...]) -> np.ndarray:
        """FFT bin numbers (0..n_fft-1) of subcarrier indices relative to DC."""
        return np.asarray(subcarriers, dtype=np.int64) % self.n_fft
