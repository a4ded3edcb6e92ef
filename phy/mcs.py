"""Modulation and coding schemes of the digital payload, and the choice of one for an SNR.

The SNR each MCS needs (frame error rate 1e-2, AWGN, real receiver) is measured by
``scripts/calibrate_mcs.py`` and stored in ``phy/data/mcs_thresholds.json``; ``select_mcs`` picks the
most efficient MCS whose threshold is at or below the SNR.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

THRESHOLDS_PATH = Path(__file__).with_name("data") / "mcs_thresholds.json"

BITS_PER_SYMBOL = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6}


@dataclass(frozen=True)
class Mcs:
    """One modulation and LDPC code rate.

    Attributes:
        modulation: 'bpsk', 'qpsk', '16qam' or '64qam'.
        code_rate: LDPC code rate (information bits / coded bits).
        required_snr_db: in-band SNR (dB) at which the frame error rate is 1e-2 (measured), or None.
    """

    modulation: str
    code_rate: float
    required_snr_db: float | None = None

    @property
    def bits_per_symbol(self) -> int:
        return BITS_PER_SYMBOL[self.modulation]

    @property
    def efficiency(self) -> float:
        """Information bits per complex channel use."""
        return self.bits_per_symbol * self.code_rate

    @property
    def name(self) -> str:
        return f"{self.modulation} r{self.code_rate:.3g}"

    def channel_uses(self, n_bytes: int) -> int:
        """Complex symbols needed for ``n_bytes`` of information at this MCS (CRC and padding excluded)."""
        return math.ceil(8 * n_bytes / self.efficiency)


CANDIDATES = tuple(Mcs(m, r) for m, r in (
    ("bpsk", 0.5), ("qpsk", 0.5), ("qpsk", 0.75), ("16qam", 0.5), ("16qam", 0.75),
    ("64qam", 2 / 3), ("64qam", 0.75)))


def load_table(path: Path = THRESHOLDS_PATH) -> list[Mcs]:
    """The MCS candidates with their measured thresholds, most efficient last."""
    try:
        measured = json.loads(path.read_text())["required_snr_db"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; run scripts/calibrate_mcs.py to measure the MCS thresholds")
    table = [Mcs(c.modulation, c.code_rate, measured.get(c.name)) for c in CANDIDATES]
    return sorted((m for m in table if m.required_snr_db is not None), key=lambda m: m.efficiency)


def select_mcs(snr_db: float, table: list[Mcs] | None = None) -> Mcs:
    """The most efficient MCS whose measured threshold is ≤ ``snr_db``; the most robust one below all."""
    table = table or load_table()
    fitting = [m for m in table if m.required_snr_db <= snr_db]
    return max(fitting, key=lambda m: m.efficiency) if fitting else table[0]


def mcs_by_name(modulation: str, code_rate: float) -> Mcs:
    """The candidate with this modulation and code rate (rate matched to 3 decimals)."""
    for m in load_table():
        if m.modulation == modulation and abs(m.code_rate - code_rate) < 1e-3:
            return m
    raise ValueError(f"unknown MCS {modulation} rate {code_rate}")
