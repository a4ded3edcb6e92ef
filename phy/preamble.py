"""802.11a legacy short (STF) and long (LTF) training fields, scaled to any n_fft that is a multiple of 64.

For n_fft = 64 these are exactly the 802.11a L-STF (10 periods of 16 samples) and L-LTF (a 32-sample
guard interval and two 64-sample symbols). For n_fft = 64*s the STF keeps subcarriers that are
multiples of 4 (period n_fft/4 samples, 10 periods) with the 802.11a values repeated, and the LTF puts
802.11a value L[ceil(|k|/s) * sign(k)] on subcarrier k. Both fields have the mean power of a data symbol.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from phy.ofdm import used_subcarriers
from phy.params import OfdmParams

_S64 = {4: -1, 8: -1, 12: 1, 16: 1, 20: 1, 24: 1, -4: 1, -8: -1, -12: 1, -16: -1, -20: -1, -24: 1}
"""802.11a STF: subcarrier -> sign of (1 + 1j) (IEEE 802.11-2020 eq. 19-8)."""
_L64 = np.array([1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1,
                 1, -1, -1, 1, 1, -1, 1, -1, 1, -1, -1, -1, -1, -1, 1, 1, -1, -1, 1, -1, 1, -1, 1, 1, 1, 1],
                dtype=np.float64)
"""802.11a LTF on subcarriers -26..-1, 1..26."""


def stf_period(params: OfdmParams) -> int:
    """STF period in samples (n_fft / 4)."""
    return params.n_fft // 4


def stf_length(params: OfdmParams) -> int:
    """STF length in samples (10 periods)."""
    return 10 * stf_period(params)


def ltf_length(params: OfdmParams) -> int:
    """LTF length in samples: guard interval n_fft/2 plus two n_fft symbols."""
    return params.n_fft // 2 + 2 * params.n_fft


@lru_cache(maxsize=8)
def ltf_freq(params: OfdmParams) -> np.ndarray:
    """LTF values (±1) on the used subcarriers, float64 (n_used,) in ``used_subcarriers`` order."""
    s = params.n_fft // 64
    k = used_subcarriers(params)
    idx = np.minimum(-(-np.abs(k) // s), 26)
    return np.where(k < 0, _L64[26 - idx], _L64[25 + idx])


@lru_cache(maxsize=8)
def ltf_symbol(params: OfdmParams) -> np.ndarray:
    """One LTF symbol in time, complex128 (n_fft,), orthonormal IFFT."""
    grid = np.zeros(params.n_fft, dtype=np.complex128)
    grid[params.bins(tuple(used_subcarriers(params)))] = ltf_freq(params)
    return np.fft.ifft(grid, norm="ortho")


@lru_cache(maxsize=8)
def preamble(params: OfdmParams) -> np.ndarray:
    """STF followed by LTF in time, complex128 (stf_length + ltf_length,)."""
    s = params.n_fft // 64
    n_used = len(used_subcarriers(params))
    edge = max(abs(k) for k in used_subcarriers(params))
    grid = np.zeros(params.n_fft, dtype=np.complex128)
    ks = [k for k in range(-edge, edge + 1) if k and k % 4 == 0 and abs(k) <= 24 * s]
    for k in ks:
        base = (abs(k) - 1) % 24 + 1
        grid[k % params.n_fft] = _S64[int(np.sign(k)) * base] * (1 + 1j)
    grid *= np.sqrt(n_used / np.sum(np.abs(grid) ** 2))
    period = np.fft.ifft(grid, norm="ortho")[: stf_period(params)]
    stf = np.tile(period, 10)
    ltf = ltf_symbol(params)
    return np.concatenate([stf, ltf[-params.n_fft // 2:], ltf, ltf])
