"""The extended binary Golay code (24, 12, 8) with soft maximum-likelihood decoding.

ML decoding correlates each received 24-LLR block with all 4096 codewords (one matrix product), so
it is exact and vectorised. Used for the frame header.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_A_ROW = np.array([1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], dtype=np.uint8)
"""First row of the 11x11 circulant in the standard generator G = [I | B], B = [[A, 1], [1, 0]]."""


@lru_cache(maxsize=1)
def generator() -> np.ndarray:
    """Generator matrix G = [I_12 | B], uint8 (12, 24)."""
    a = np.stack([np.roll(_A_ROW, -i) for i in range(11)])
    b = np.zeros((12, 12), dtype=np.uint8)
    b[:11, :11] = a
    b[:11, 11] = 1
    b[11, :11] = 1
    g = np.concatenate([np.eye(12, dtype=np.uint8), b], axis=1)
    g.flags.writeable = False
    return g


@lru_cache(maxsize=1)
def _parity() -> np.ndarray:
    """The parity part B of G = [I | B], uint8 (12, 12), contiguous."""
    return np.ascontiguousarray(generator()[:, 12:])


@lru_cache(maxsize=1)
def _codebook() -> tuple[np.ndarray, np.ndarray]:
    """(all 4096 messages uint8 (4096, 12), codeword signs float32 (24, 4096): +1 for bit 1, -1 for 0)."""
    msgs = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)[None, :]) & 1).astype(np.uint8)
    cws = (msgs.astype(np.int64) @ generator()) % 2
    return msgs, np.ascontiguousarray((2.0 * cws - 1.0).T, dtype=np.float32)


def encode(bits: np.ndarray) -> np.ndarray:
    """Encode uint8 bits (12 * m,) into uint8 codeword bits (24 * m,)."""
    msgs = np.asarray(bits, dtype=np.int64).reshape(-1, 12)
    return ((msgs @ generator()) % 2).astype(np.uint8).reshape(-1)


def decoder_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the compiled decoder (``phy.kernels.golay_decode``) takes: (parity part of G uint8
    (12, 12), all messages uint8 (4096, 12), their codewords as ±1 float32 (24, 4096))."""
    return (_parity(), *_codebook())


def decode(llr: np.ndarray) -> np.ndarray:
    """Soft ML decoding of LLRs (24 * m,), log P(1)/P(0), into message bits uint8 (12 * m,).

    A block whose hard decisions already form a codeword needs no search: that word maximises the
    correlation with the LLRs over all binary words, so also over the codewords. The others are
    correlated with the whole codebook (compiled: ``phy.kernels.golay_decode``)."""
    from phy.kernels import golay_decode

    parity, msgs, signs = decoder_tables()
    return golay_decode(np.asarray(llr, dtype=np.float32).reshape(-1, 24), parity, msgs, signs)[0].reshape(-1)
