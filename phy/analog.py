"""Analog payload mapping: real values ↔ data-subcarrier symbols, through a fixed scrambler.

Learned latents are strongly correlated between neighbours (smooth feature maps, non-zero means);
sent as they are, the OFDM symbols would be peaky and the peak-normalised burst would lose many dB
of mean power. Both ends therefore apply a fixed pseudo-random scrambler that depends only on the
frame's value count n (the header's length field): the values are permuted within the frame and
their signs flipped, scrambled[i] = signs[i] * values[perm[i]]. This makes any payload look white
and zero-mean on the subcarriers (an all-ones payload becomes random ±1 on I and Q, like QPSK) while
keeping every value unquantised; the receiver undoes it exactly, for the values and their noise
variances.

Placement: scrambled value 2i goes on the in-phase, 2i+1 on the quadrature axis of data symbol i
(row-major over (OFDM symbol, data subcarrier)), each scaled by ANALOG_SCALE so that values of mean
square 1 give unit-energy symbols; the last OFDM symbol is zero-padded.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

ANALOG_SCALE = math.sqrt(0.5)
"""Amplitude of one real value on one axis of a data subcarrier."""
SCRAMBLER_SEED = 0xA7A1
"""Seed of the scrambler's generator (with the value count); fixed by the waveform definition."""


@lru_cache(maxsize=64)
def scrambler(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The scrambler of a frame of ``n`` values: (perm int64 (n,), signs float64 (n,) of ±1), with
    scrambled[i] = signs[i] * values[perm[i]]. Read-only arrays (cached)."""
    rng = np.random.default_rng([SCRAMBLER_SEED, n])
    perm = rng.permutation(n)
    signs = 1.0 - 2.0 * rng.integers(0, 2, n)
    perm.flags.writeable = False
    signs.flags.writeable = False
    return perm, signs


@lru_cache(maxsize=64)
def _descrambler(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(scrambled position of each value uint64 (n,) (axis pos % 2 of data symbol pos // 2; unsigned:
    the compiled gather needs no negative-index fix-up), its sign over ANALOG_SCALE float64 (n,))."""
    perm, signs = scrambler(n)
    pos = np.empty(n, dtype=np.uint64)
    pos[perm] = np.arange(n)
    return pos, signs[pos] / ANALOG_SCALE


def values_to_symbols(values: np.ndarray, n_sym: int, n_data: int) -> np.ndarray:
    """Scramble real ``values`` (float (n,), n ≤ 2 n_sym n_data) and place them on data symbols:
    complex128 (n_sym, n_data)."""
    perm, signs = scrambler(values.size)
    padded = np.zeros(2 * n_sym * n_data)
    padded[: values.size] = signs * values[perm]
    return (ANALOG_SCALE * (padded[0::2] + 1j * padded[1::2])).reshape(n_sym, n_data)


def symbols_to_values(eq: np.ndarray, var: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``values_to_symbols`` for equalised symbols.

    Args:
        eq: complex128 (n_sym, n_data) unbiased equalised data symbols, or (B, n_sym, n_data): B
            frames of ``n`` values each at once.
        var: float (n_sym, n_data) complex error variance E|error|^2 of each symbol (or (B, n_sym, n_data)).
        n: number of values the frame carries.
    Returns:
        (values float32 (n,), noise_var float32 (n,)): estimates in the sender's order and the error
        variance of each (values' units: an axis carries half of a symbol's error variance, over
        ANALOG_SCALE^2); (B, n) each for B frames.
    """
    from phy.kernels import descramble

    pos, gain = _descrambler(n)
    frames = np.ndim(eq) - 2
    b = np.shape(eq)[0] if frames else 1
    values, noise_var = descramble(np.ascontiguousarray(eq, dtype=np.complex128).reshape(b, -1).view(np.float64),
                                   np.ascontiguousarray(var, dtype=np.float64).reshape(b, -1),
                                   pos, gain, 0.5 / ANALOG_SCALE ** 2)
    return (values, noise_var) if frames else (values[0], noise_var[0])
