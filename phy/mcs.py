"""Modulation and coding schemes of the digital payload, and the choice of one for an SNR.

The SNR each MCS needs (frame error rate ≤ 1e-2, real receiver) is measured per channel family (AWGN,
and TDL profiles averaged over many independent fading realisations) by ``scripts/calibrate_mcs.py``
and stored in ``phy/data/mcs_thresholds.json``; ``select_mcs`` picks the most efficient MCS whose
threshold on the named channel is at or below the SNR. A channel without its own calibration (e.g.
'rayleigh', 'tdl-b') uses, per MCS, the highest threshold among the calibrated fading families.
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


def _thresholds(channel: str, path: Path) -> dict[str, float | None]:
    try:
        families = json.loads(path.read_text())["channels"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; run scripts/calibrate_mcs.py to measure the MCS thresholds")
    if channel in families:
        return families[channel]["required_snr_db"]
    fading = [f["required_snr_db"] for name, f in families.items() if name != "awgn"]
    if not fading:
        raise ValueError(f"no MCS thresholds for channel {channel!r} or any fading channel in {path}; "
                         "run scripts/calibrate_mcs.py --channel tdl-c")
    worst = {}
    for c in CANDIDATES:
        values = [f.get(c.name) for f in fading]
        worst[c.name] = None if None in values else max(values)
    return worst


def load_table(channel: str = "awgn", path: Path = THRESHOLDS_PATH) -> list[Mcs]:
    """The MCS candidates with their thresholds on ``channel`` (a ``phy.channel`` kind), most efficient
    last; MCSs that never reached FER 1e-2 in the calibration are left out."""
    measured = _thresholds(channel, path)
    table = [Mcs(c.modulation, c.code_rate, measured.get(c.name)) for c in CANDIDATES]
    return sorted((m for m in table if m.required_snr_db is not None), key=lambda m: m.efficiency)


def select_mcs(snr_db: float, channel: str = "awgn", table: list[Mcs] | None = None) -> Mcs:
    """The most efficient MCS whose threshold on ``channel`` is ≤ ``snr_db``; the most robust one below all."""
    table = table or load_table(channel)
    fitting = [m for m in table if m.required_snr_db <= snr_db]
    return max(fitting, key=lambda m: m.efficiency) if fitting else table[0]


def mcs_by_name(modulation: str, code_rate: float) -> Mcs:
    """The candidate with this modulation and code rate (rate matched to 3 decimals; no threshold)."""
    for m in CANDIDATES:
        if m.modulation == modulation and abs(m.code_rate - code_rate) < 1e-3:
            return m
    raise ValueError(f"unknown MCS {modulation} rate {code_rate}")
