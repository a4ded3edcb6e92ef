"""The extended binary Golay code (24, 12, 8) with soft maximum-likelihood decoding.

ML decoding correlates each received 24-LLR block with all 4096 codewords, computed half by half
(message (a, b) of two 6-bit halves: their own bits' terms plus 12 products of the halves' parity
contributions, ``phy.kernels.golay_decode``), so it is exact and compiled. Used for the frame header
(``phy.header``) and the control frame (``phy.control``): both send m codewords repeated cyclically
over n transmitted bits, interleaved and whitened (:func:`rate_match`), and decode them in one
compiled pass (:func:`soft_decisions`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

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


@lru_cache(maxsize=1)
def _halves() -> np.ndarray:
    """The two 6-bit halves of a message, as ±1 float32 (2, 64, 18): [h, v] the 6 bits of value v (first
    bit most significant) as half h (0: message bits 0..5, 1: bits 6..11), then the parity those bits
    contribute alone (v times the half's 6 rows of the parity part of G, mod 2), +1 for bit 1. A
    codeword's parity bit is the XOR of its halves' contributions, so as ±1 it is minus their product."""
    v = ((np.arange(64)[:, None] >> np.arange(5, -1, -1)[None, :]) & 1).astype(np.int64)
    par = _parity().astype(np.int64)
    out = np.stack([np.concatenate([v, (v @ par[6 * h: 6 * h + 6]) % 2], axis=1) for h in range(2)])
    return np.ascontiguousarray(2.0 * out - 1.0, dtype=np.float32)


def decoder_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the compiled decoder (``phy.kernels.golay_decode``) takes: (parity part of G uint8
    (12, 12), all messages uint8 (4096, 12), their codewords as ±1 float32 (24, 4096), the messages'
    halves and their parity contributions as ±1 float32 (2, 64, 18): ``_halves``)."""
    return (_parity(), *_codebook(), _halves())


def decode(llr: np.ndarray) -> np.ndarray:
    """Soft ML decoding of LLRs (24 * m,), log P(1)/P(0), into message bits uint8 (12 * m,).

    A block whose hard decisions already form a codeword needs no search: that word maximises the
    correlation with the LLRs over all binary words, so also over the codewords. The others are
    correlated with the whole codebook (compiled: ``phy.kernels.golay_decode``)."""
    from phy.kernels import golay_decode

    return golay_decode(np.asarray(llr, dtype=np.float32).reshape(-1, 24), *decoder_tables())[0].reshape(-1)


class RateMatch(NamedTuple):
    """How ``n_coded`` Golay code bits fill ``n`` transmitted bits.

    Attributes:
        src: int64 (n,) the code bit that copy i carries (i mod n_coded: cyclic repetition).
        perm: int64 (n,) the interleaver: copy i is transmitted bit perm[i], so that copies of a bit
            fall on different subcarriers and symbols.
        white: uint8 (n,) the whitening XOR-ed onto the transmitted bits (mostly-zero fields would
            otherwise give mostly-equal BPSK symbols, whose OFDM symbols peak at their first sample).
        sign: float64 (n,) the whitening as LLR signs in copy order: -1 where white[perm[i]] is 1.
    """

    src: np.ndarray
    perm: np.ndarray
    white: np.ndarray
    sign: np.ndarray


@lru_cache(maxsize=64)
def rate_match(n_coded: int, n: int, seed: int) -> RateMatch:
    """The rate matching of ``n_coded`` code bits (a multiple of 24) onto ``n`` ≥ n_coded
    transmitted bits, its interleaver and whitening drawn from ``seed`` (cached: do not modify;
    writeable, so that the compiled decoder sees one array type)."""
    if n_coded % 24 or n < n_coded:
        raise ValueError(f"rate_match needs whole codewords and n ≥ n_coded, got n_coded={n_coded}, n={n}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    white = rng.integers(0, 2, n).astype(np.uint8)
    return RateMatch(np.arange(n) % n_coded, perm, white, 1.0 - 2.0 * white[perm])


def transmitted_bits(message: np.ndarray, plan: RateMatch) -> np.ndarray:
    """Message bits uint8 (12 m,) → Golay → rate matched, interleaved, whitened: uint8 (n,)."""
    coded = encode(message)
    out = np.empty(plan.src.size, dtype=np.uint8)
    out[plan.perm] = coded[plan.src]
    return out ^ plan.white


def soft_decisions(llr: np.ndarray, plan: RateMatch) -> tuple[np.ndarray, np.ndarray]:
    """Soft ML decisions from transmitted-bit LLRs (float (n,), or (B, n) for B blocks at once;
    log P(1)/P(0)): the copies of each code bit combined, each codeword decoded
    (``phy.kernels.header_golay``). Returns (message bits uint8 (12 m,), the transmitted bits of the
    decided codewords uint8 (n,)), each with the leading B axis for 2-D LLRs."""
    from phy.kernels import header_golay

    llr = np.asarray(llr, dtype=np.float64)
    message, sent = header_golay(np.atleast_2d(llr), plan.src, plan.perm, plan.sign, plan.white, *decoder_tables())
    return (message, sent) if llr.ndim == 2 else (message[0], sent[0])
