"""The frame header: its fields, CRC-16 and robust coding.

Layout (96 bits): mode 2 | modulation 2 | code rate 2 | length 16 | frame_index 16 | frame_count 16 |
stream_id 8 | nonce 16 | reserved 2 (zero) | CRC-16/CCITT 16 (``binascii.crc_hqx``, init 0xFFFF, over
the first 80 bits packed MSB first). Modes: 0 analog, 1 digital, 2 control (3 is invalid). The nonce
is drawn at random per transmission (``phy.tx.Transmitter``), so that frames of two transmissions
with the same stream id never mix at a receiver. Coding: 8 extended Golay (24, 12) codewords (192
bits), repeated cyclically to fill the header's OFDM symbols (2 copies for 48 data subcarriers and
8 symbols: rate 1/4 overall), then a fixed pseudo-random interleaver so that copies of a bit fall
on different subcarriers, then XOR with a fixed pseudo-random whitening sequence (``phy.golay.
rate_match``). BPSK on the data subcarriers. A header whose CRC fails is rejected.
"""
from __future__ import annotations

import binascii
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phy import golay
from phy.modulation import BITS_PER_SYMBOL
from phy.params import OfdmParams

MODES = ("analog", "digital", "control")
MODULATIONS = tuple(BITS_PER_SYMBOL)
CODE_RATES = (1 / 2, 2 / 3, 3 / 4, 5 / 6)
_FIELDS = (("mode", 2), ("modulation", 2), ("code_rate", 2), ("length", 16), ("frame_index", 16),
           ("frame_count", 16), ("stream_id", 8), ("nonce", 16), ("reserved", 2))
_N_INFO = sum(w for _, w in _FIELDS)          # 80
_N_BITS = _N_INFO + 16                         # 96 = 8 Golay messages
_N_CODED = 2 * _N_BITS                         # 192 Golay code bits
_MIN_COPIES = 2
_SEED = 0x4EAD
"""Seed of the header's interleaver and whitening (``phy.golay.rate_match``)."""


def code_rate_index(code_rate: float) -> int:
    """Index of ``code_rate`` in CODE_RATES (matched to 1e-3); ValueError naming the choices."""
    for i, r in enumerate(CODE_RATES):
        if abs(code_rate - r) < 1e-3:
            return i
    raise ValueError(f"unsupported code rate {code_rate}; use one of 1/2, 2/3, 3/4, 5/6")


@dataclass(frozen=True)
class Header:
    """What a frame says about itself.

    Attributes:
        mode: 'analog' (real values), 'digital' (LDPC-coded bytes) or 'control' (Golay-coded bytes,
            ``phy.control``: the stream descriptor).
        length: number of real values (analog) or payload bytes (digital, control), 0..65535.
        modulation: 'bpsk'|'qpsk'|'16qam'|'64qam' for digital frames, None otherwise.
        code_rate: LDPC code rate (1/2, 2/3, 3/4, 5/6) for digital frames, None otherwise.
        frame_index: index of this frame in its stream, 0..65535.
        frame_count: frames in the stream, 0..65535.
        stream_id: stream identifier chosen by the user, 0..255.
        nonce: random per transmission, 0..65535: tells apart transmissions of one stream id.
    """

    mode: str
    length: int
    modulation: str | None = None
    code_rate: float | None = None
    frame_index: int = 0
    frame_count: int = 1
    stream_id: int = 0
    nonce: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"header mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "digital":
            if self.modulation not in MODULATIONS:
                raise ValueError(f"unknown modulation {self.modulation!r}; use one of {', '.join(MODULATIONS)}")
            code_rate_index(self.code_rate)
        for name, width in (("length", 16), ("frame_index", 16), ("frame_count", 16), ("stream_id", 8),
                            ("nonce", 16)):
            v = getattr(self, name)
            if not 0 <= int(v) < (1 << width):
                raise ValueError(f"header {name} must be in 0..{(1 << width) - 1}, got {v}")


def n_header_symbols(params: OfdmParams) -> int:
    """OFDM symbols the header occupies (at least two copies of each Golay bit)."""
    return math.ceil(_MIN_COPIES * _N_CODED / params.n_data)


def _message_bits(message: int) -> np.ndarray:
    """The 96-bit message (fields and CRC) as an integer, MSB first → uint8 bits (96,)."""
    return np.unpackbits(np.frombuffer(message.to_bytes(_N_BITS // 8, "big"), dtype=np.uint8))


def _info_crc(info: int) -> int:
    """CRC-16/CCITT of the 80 info bits (an integer, MSB first) packed MSB first."""
    return binascii.crc_hqx(info.to_bytes(_N_INFO // 8, "big"), 0xFFFF)


def _rate_match(params: OfdmParams) -> golay.RateMatch:
    """The header's Golay rate matching over its n_header_symbols * n_data transmitted bits."""
    return golay.rate_match(_N_CODED, n_header_symbols(params) * params.n_data, _SEED)


@lru_cache(maxsize=64)
def encode_header(header: Header, params: OfdmParams) -> np.ndarray:
    """Header → transmitted coded bits, uint8 (n_header_symbols * n_data,), row-major by symbol
    (read-only: cached, a stream repeats its headers)."""
    digital = header.mode == "digital"
    values = {"mode": MODES.index(header.mode), "modulation": MODULATIONS.index(header.modulation) if digital else 0,
              "code_rate": code_rate_index(header.code_rate) if digital else 0, "length": header.length,
              "frame_index": header.frame_index, "frame_count": header.frame_count,
              "stream_id": header.stream_id, "nonce": header.nonce, "reserved": 0}
    info = 0
    for name, width in _FIELDS:
        info = (info << width) | int(values[name])
    bits = _transmitted_bits(_message_bits((info << 16) | _info_crc(info)), params)
    bits.flags.writeable = False
    return bits


def _golay_decisions(llr: np.ndarray, params: OfdmParams) -> tuple[np.ndarray, np.ndarray]:
    """Soft ML Golay decisions from transmitted-bit LLRs: (message bits uint8 (96,), their
    transmitted bits uint8 (n_header_symbols * n_data,)), in one compiled pass (with a leading B
    axis for B headers' LLRs (B, n))."""
    return golay.soft_decisions(llr, _rate_match(params))


def _transmitted_bits(message: np.ndarray, params: OfdmParams) -> np.ndarray:
    """96 message bits (fields + CRC) → transmitted coded bits uint8 (n_header_symbols * n_data,)."""
    return golay.transmitted_bits(message, _rate_match(params))


def header_decisions(llr: np.ndarray, params: OfdmParams) -> np.ndarray:
    """The transmitted bits (uint8 (n_header_symbols * n_data,)) of the Golay decoder's decisions,
    whether or not their CRC holds: known symbols for a decision-directed channel re-estimate."""
    return _golay_decisions(llr, params)[1]


def _parse(message_bits: np.ndarray) -> tuple[Header | None, bool]:
    """96 decided message bits (uint8) → (Header, or None when the CRC fails or a field is invalid;
    whether ``encode_header`` of it gives back these bits: False only for an analog or control
    header whose unused modulation / code-rate fields are not zero)."""
    message = int.from_bytes(np.packbits(message_bits).tobytes(), "big")
    info = message >> 16
    if _info_crc(info) != message & 0xFFFF:
        return None, False
    vals = {}
    for name, width in reversed(_FIELDS):
        vals[name] = info & ((1 << width) - 1)
        info >>= width
    if vals["reserved"] or vals["mode"] >= len(MODES):
        return None, False
    digital = vals["mode"] == 1
    header = Header(mode=MODES[vals["mode"]], length=vals["length"],
                    modulation=MODULATIONS[vals["modulation"]] if digital else None,
                    code_rate=CODE_RATES[vals["code_rate"]] if digital else None,
                    frame_index=vals["frame_index"], frame_count=vals["frame_count"], stream_id=vals["stream_id"],
                    nonce=vals["nonce"])
    return header, digital or not (vals["modulation"] or vals["code_rate"])


def decode_header(llr: np.ndarray, params: OfdmParams) -> Header | None:
    """Transmitted-bit LLRs (log P(1)/P(0), (n_header_symbols * n_data,)) → Header, or None when the
    CRC fails or a field is invalid."""
    return _parse(_golay_decisions(llr, params)[0])[0]


def decode_header_bits(llr: np.ndarray, params: OfdmParams) -> tuple[Header | None, np.ndarray]:
    """``decode_header`` and the header's transmitted bits in one Golay decoding: (Header or None,
    uint8 (n_header_symbols * n_data,)). The bits are ``encode_header(header)`` for a decoded header
    and ``header_decisions(llr)`` otherwise (known symbols for the channel fit either way)."""
    return decode_headers_bits(np.asarray(llr)[None], params)[0]


def decode_headers_bits(llr: np.ndarray, params: OfdmParams) -> list[tuple[Header | None, np.ndarray]]:
    """``decode_header_bits`` of B headers at once (LLRs (B, n_header_symbols * n_data), one
    compiled Golay pass for all of them): one (Header or None, transmitted bits) per header."""
    decisions, sent = _golay_decisions(llr, params)
    out = []
    for message, bits in zip(decisions, sent):
        header, canonical = _parse(message)
        out.append((header, encode_header(header, params) if header is not None and not canonical else bits))
    return out
