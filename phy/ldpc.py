"""Digital payload coding: bytes → CRC-32 → 5G LDPC (Sionna) → rate matching → scrambling, and back.

One LDPC codeword per frame: k = 8 * n_bytes + 32 information bits (payload, then CRC-32 of the
payload, ``zlib.crc32``, MSB first), n = ceil(k / code_rate) rounded up to a whole number of QAM
symbols. The codeword is repeated cyclically to fill the frame's last OFDM symbol (the receiver adds
the LLRs of the copies), then XOR-ed with the 802.11 scrambler sequence so that constant payloads do
not give spectral lines. Sionna (and torch) are imported only inside the coding functions.
LLR convention (Sionna's): log P(b=1) / P(b=0).
"""
from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np

from phy.modulation import bits_per_symbol
from phy.ofdm import lfsr_sequence

CRC_BITS = 32
MAX_INFO_BITS = 8448
"""Largest 5G LDPC information block (base graph 1)."""
LLR_CLIP = 20.0


def codeword_size(n_bytes: int, modulation: str, code_rate: float) -> tuple[int, int]:
    """(k information bits, n codeword bits) of a payload of ``n_bytes``; ValueError if it exceeds one codeword."""
    k = 8 * n_bytes + CRC_BITS
    if k > MAX_INFO_BITS:
        raise ValueError(f"digital payload of {n_bytes} bytes exceeds one LDPC codeword "
                         f"({(MAX_INFO_BITS - CRC_BITS) // 8} bytes max); split it over frames")
    b = bits_per_symbol(modulation)
    n = b * math.ceil(math.ceil(k / code_rate) / b)
    return k, n


@lru_cache(maxsize=32)
def _codec(k: int, n: int, bps: int, num_iter: int):
    import torch
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    torch.set_num_threads(1)
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bps)
    return enc, LDPC5GDecoder(enc, num_iter=num_iter, hard_out=True, return_infobits=True)


def _crc_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(zlib.crc32(data).to_bytes(4, "big"), dtype=np.uint8))


def encode_payload(payload: bytes, modulation: str, code_rate: float, n_bits: int) -> np.ndarray:
    """Coded, rate-matched and scrambled bits of ``payload``, uint8 (n_bits,); n_bits ≥ the codeword length."""
    import torch

    k, n = codeword_size(len(payload), modulation, code_rate)
    info = np.concatenate([np.unpackbits(np.frombuffer(payload, dtype=np.uint8)), _crc_bits(payload)])
    enc, _ = _codec(k, n, bits_per_symbol(modulation), 20)
    with torch.no_grad():
        cw = enc(torch.from_numpy(info[None, :].astype(np.float32))).numpy()[0].astype(np.uint8)
    return np.resize(cw, n_bits) ^ lfsr_sequence(n_bits)


def decode_payload(llr: np.ndarray, n_bytes: int, modulation: str, code_rate: float,
                   num_iter: int = 20) -> tuple[bytes, bool]:
    """Decode received LLRs (float (n_bits,), log P(1)/P(0) of the transmitted bits) into
    (payload bytes, CRC ok). Belief propagation, ``num_iter`` iterations."""
    import torch

    k, n = codeword_size(n_bytes, modulation, code_rate)
    llr = np.asarray(llr, dtype=np.float64)
    llr = np.where(lfsr_sequence(llr.size) == 1, -llr, llr)
    combined = np.bincount(np.arange(llr.size) % n, weights=llr, minlength=n)
    _, dec = _codec(k, n, bits_per_symbol(modulation), num_iter)
    with torch.no_grad():
        bits = dec(torch.from_numpy(np.clip(combined, -LLR_CLIP, LLR_CLIP)[None, :].astype(np.float32)))
    bits = bits.numpy()[0].astype(np.uint8)
    data = np.packbits(bits[:8 * n_bytes]).tobytes()
    return data, bool(np.array_equal(_crc_bits(data), bits[8 * n_bytes:]))
