"""Gray-mapped BPSK / QPSK / 16-QAM / 64-QAM (802.11a constellations, unit average energy) and
exact soft demapping.

Bit convention (matches Sionna's LDPC decoder): an LLR is log P(b=1) / P(b=0), so a positive LLR
means bit 1. Square QAM is mapped per axis: the first half of a symbol's bits picks the in-phase
level, the second half the quadrature level, each with the 802.11a Gray PAM labelling.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

BITS_PER_SYMBOL = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6}


def bits_per_symbol(modulation: str) -> int:
    """Coded bits per complex symbol; ValueError naming the choices for an unknown modulation."""
    try:
        return BITS_PER_SYMBOL[modulation]
    except KeyError:
        raise ValueError(f"unknown modulation {modulation!r}; use one of {', '.join(BITS_PER_SYMBOL)}") from None


@lru_cache(maxsize=8)
def _pam(bits_per_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Gray PAM of 2**bits_per_axis levels: (levels float64 (M,) in label order, label bits uint8 (M, b))."""
    m = 1 << bits_per_axis
    labels = np.arange(m)
    gray = labels ^ (labels >> 1)
    levels = np.empty(m)
    levels[gray] = 2 * labels - (m - 1)           # the Gray label of the i-th lowest level is gray[i]
    bits = ((labels[:, None] >> np.arange(bits_per_axis - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
    return levels, bits


def _axis_scale(modulation: str) -> float:
    b = bits_per_symbol(modulation)
    if b == 1:
        return 1.0
    m = 1 << (b // 2)
    return float(np.sqrt(2 * (m * m - 1) / 3))    # mean energy of the square QAM before scaling


def map_bits(bits: np.ndarray, modulation: str) -> np.ndarray:
    """Map bits (uint8 (n,), n a multiple of bits_per_symbol) to complex128 (n / bits_per_symbol,) symbols."""
    b = bits_per_symbol(modulation)
    bits = np.asarray(bits, dtype=np.int64).reshape(-1, b)
    if b == 1:
        return (2.0 * bits[:, 0] - 1.0).astype(np.complex128)
    h = b // 2
    levels, _ = _pam(h)
    weights = 1 << np.arange(h - 1, -1, -1)
    i = levels[bits[:, :h] @ weights]
    q = levels[bits[:, h:] @ weights]
    return (i + 1j * q) / _axis_scale(modulation)


def demap_llr(symbols: np.ndarray, noise_var: np.ndarray, modulation: str) -> np.ndarray:
    """Exact per-bit LLRs log P(b=1|y)/P(b=0|y) of equalised symbols.

    Args:
        symbols: complex (n,) equalised symbols (unit-energy constellation units).
        noise_var: float (n,) or scalar, complex noise variance E|n|^2 of each symbol.
    Returns:
        float64 (n * bits_per_symbol,) LLRs, in mapping order.
    """
    b = bits_per_symbol(modulation)
    y = np.asarray(symbols)
    if b == 1:
        return 4.0 * y.real / np.asarray(noise_var, dtype=np.float64)
    nv = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), y.shape)
    h = b // 2
    scale = _axis_scale(modulation)
    levels, labels = _pam(h)
    per_axis_var = nv / 2.0
    out = np.empty((y.size, b))
    for axis, comp in enumerate((y.real, y.imag)):
        # log-likelihood of each level: -(y - a)^2 / (2 * var per axis)
        ll = -((comp[:, None] * scale - levels[None, :]) ** 2) / (2.0 * per_axis_var[:, None] * scale ** 2)
        for j in range(h):
            one = labels[:, j] == 1
            out[:, axis * h + j] = np.logaddexp.reduce(ll[:, one], axis=1) - np.logaddexp.reduce(ll[:, ~one], axis=1)
    return out.reshape(-1)
