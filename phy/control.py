"""The control frame: a few bytes (the stream descriptor) that the receiver decodes without Sionna.

Coding: payload bytes, then CRC-16/CCITT of them (``binascii.crc_hqx``, init 0xFFFF, MSB first),
zero-padded to whole 12-bit messages, extended Golay (24, 12) coded, repeated cyclically to fill
``control_symbols`` OFDM symbols (at least LEVEL_COPIES[level] copies of every code bit, the level
written in the header), interleaved and
whitened (``phy.golay.rate_match``, seeded per payload length), BPSK on the data subcarriers.
The header says mode 'control' and the payload length in bytes; the receiver combines the copies
of each code bit, decodes each codeword by soft maximum likelihood in the compiled pass the header
uses, and checks the CRC. Every copy of one payload carries the same transmitted bits, so the LLRs
of two frames whose CRC failed may be added and decoded again (:func:`decode_control`).

At rate 1/8 (Golay 1/2, four copies) a 27-byte descriptor takes 20 OFDM symbols where the LDPC
rate-1/2 digital frame took 11; its frame error rate against SNR is measured by
``experiments/control_fer.py`` (docs/results/control_fer.json).
"""
from __future__ import annotations

import binascii
import math

import numpy as np

from phy import golay
from phy.params import OfdmParams

COPIES = 2
"""Copies of every Golay code bit (at least) at repetition level 0: rate 1/(2 COPIES) overall."""
LEVEL_COPIES = (COPIES, 6)
"""Copies of every Golay code bit by repetition level (the header's ``level`` field): level 0, the
format of the first control frames, and level 1 (rate 1/12: a 27-byte descriptor in 60 OFDM symbols
instead of 20, 4.8 dB more energy per code bit), which the stream descriptor uses."""
MAX_BYTES = 512
"""Largest control payload, bytes."""
_SEED = 0xC0DE
_CRC_BITS = 16


def _n_coded(n_bytes: int) -> int:
    """Golay code bits of an ``n_bytes`` payload with its CRC (24 per 12-bit message)."""
    return 24 * math.ceil((8 * n_bytes + _CRC_BITS) / 12)


def control_symbols(n_bytes: int, params: OfdmParams, level: int = 0) -> int:
    """OFDM symbols a control frame of ``n_bytes`` at repetition ``level`` (an index of
    LEVEL_COPIES) occupies; ValueError beyond MAX_BYTES or for an unknown level."""
    if level not in range(len(LEVEL_COPIES)):
        raise ValueError(f"control repetition level must be 0..{len(LEVEL_COPIES) - 1}, got {level}")
    return repeated_symbols(n_bytes, params, LEVEL_COPIES[level])


def repeated_symbols(n_bytes: int, params: OfdmParams, copies: int) -> int:
    """OFDM symbols that ``n_bytes`` take with at least ``copies`` copies of every Golay code bit
    (a control frame's payload at its level, or a stream head's map, ``phy.head``); ValueError beyond
    MAX_BYTES."""
    if not 0 <= n_bytes <= MAX_BYTES:
        raise ValueError(f"a control frame carries 0..{MAX_BYTES} bytes, got {n_bytes}")
    return math.ceil(copies * _n_coded(n_bytes) / params.n_data)


def _rate_match(n_bytes: int, n_bits: int) -> golay.RateMatch:
    """The rate matching of an ``n_bytes`` payload onto ``n_bits`` transmitted bits."""
    return golay.rate_match(_n_coded(n_bytes), n_bits, _SEED + n_bytes)


def _message(payload: bytes) -> np.ndarray:
    """Payload + CRC-16 as bits uint8, zero-padded to whole Golay messages."""
    crc = binascii.crc_hqx(payload, 0xFFFF).to_bytes(2, "big")
    bits = np.unpackbits(np.frombuffer(bytes(payload) + crc, dtype=np.uint8))
    return np.concatenate([bits, np.zeros(_n_coded(len(payload)) // 2 - bits.size, np.uint8)])


def encode_control(payload: bytes, params: OfdmParams, level: int = 0, *, copies: int | None = None) -> np.ndarray:
    """Transmitted bits of a control frame at repetition ``level`` (or, given ``copies``, with that
    many copies of every code bit: ``repeated_symbols``), uint8 (n_symbols * n_data,), row-major by
    symbol."""
    n_sym = control_symbols(len(payload), params, level) if copies is None else \
        repeated_symbols(len(payload), params, copies)
    n_bits = n_sym * params.n_data
    return golay.transmitted_bits(_message(payload), _rate_match(len(payload), n_bits))


def decode_control(llr: np.ndarray, n_bytes: int) -> tuple[bytes, bool]:
    """Transmitted-bit LLRs of an ``n_bytes`` payload (float (control_symbols * n_data,), log
    P(1)/P(0); the sum over copies of one payload is also fine) → (payload bytes, CRC ok)."""
    payload, ok, _ = decode_control_bits(llr, n_bytes)
    return payload, ok


def decode_control_bits(llr: np.ndarray, n_bytes: int) -> tuple[bytes, bool, np.ndarray]:
    """``decode_control``, also returning the transmitted bits of the decided codewords (uint8, the
    size of ``llr``): what a decision-directed pass of the receiver takes as known symbols when the
    CRC failed (``phy.rx.Receiver``)."""
    message, sent = golay.soft_decisions(llr, _rate_match(n_bytes, np.size(llr)))
    data = np.packbits(message[: 8 * n_bytes + _CRC_BITS]).tobytes()
    payload, crc = data[:n_bytes], data[n_bytes:]
    return payload, binascii.crc_hqx(payload, 0xFFFF).to_bytes(2, "big") == crc, sent
