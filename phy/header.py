"""The frame header: its fields, CRC-16 and robust coding.

Layout (96 bits): mode 2 | modulation 2 | code rate 2 | length 16 | frame_index 16 | frame_count 16 |
stream_id 8 | nonce 16 | level 2 | CRC-16/CCITT 16 (``binascii.crc_hqx``, init 0xFFFF, over
the first 80 bits packed MSB first). Modes: 0 analog, 1 digital, 2 control (3 is invalid). Level: a
control frame's repetition level (``phy.control.LEVEL_COPIES``; these two bits were reserved, zero,
before level 1 existed, so earlier control frames read as level 0); zero for the other modes. The nonce
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
CONTROL_LEVELS = 2
"""Repetition levels a control frame's header may name (``phy.control.LEVEL_COPIES``)."""
MODULATIONS = tuple(BITS_PER_SYMBOL)
CODE_RATES = (1 / 2, 2 / 3, 3 / 4, 5 / 6)
_FIELDS = (("mode", 2), ("modulation", 2), ("code_rate", 2), ("length", 16), ("frame_index", 16),
           ("frame_count", 16), ("stream_id", 8), ("nonce", 16), ("level", 2))
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
        level: control frames: the repetition level (``phy.control.LEVEL_COPIES``); 0 otherwise.
    """

    mode: str
    length: int
    modulation: str | None = None
    code_rate: float | None = None
    frame_index: int = 0
    frame_count: int = 1
    stream_id: int = 0
    nonce: int = 0
    level: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"header mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "digital":
            if self.modulation not in MODULATIONS:
                raise ValueError(f"unknown modulation {self.modulation!r}; use one of {', '.join(MODULATIONS)}")
            code_rate_index(self.code_rate)
        if self.level not in (range(CONTROL_LEVELS) if self.mode == "control" else (0,)):
            raise ValueError(f"header level must be 0 for {self.mode} frames and 0..{CONTROL_LEVELS - 1} for "
                             f"control frames, got {self.level}")
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


@lru_cache(maxsize=512)
def encode_header(header: Header, params: OfdmParams) -> np.ndarray:
    """Header → transmitted coded bits, uint8 (n_header_symbols * n_data,), row-major by symbol
    (read-only: cached, a stream repeats its headers)."""
    digital = header.mode == "digital"
    values = {"mode": MODES.index(header.mode), "modulation": MODULATIONS.index(header.modulation) if digital else 0,
              "code_rate": code_rate_index(header.code_rate) if digital else 0, "length": header.length,
              "frame_index": header.frame_index, "frame_count": header.frame_count,
              "stream_id": header.stream_id, "nonce": header.nonce, "level": header.level}
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


def _messages(message_bits: np.ndarray) -> list[int]:
    """Decided message bits (uint8 (B, 96), MSB first) → the B 96-bit messages as integers (one
    packing for the batch)."""
    packed = np.packbits(message_bits, axis=-1).tobytes()
    size = _N_BITS // 8
    return [int.from_bytes(packed[i: i + size], "big") for i in range(0, len(packed), size)]


def _parse(message: int) -> tuple[Header | None, bool]:
    """A decided 96-bit message (fields and CRC, an integer) → (Header, or None when the CRC fails or
    a field is invalid; whether ``encode_header`` of it gives back these bits: False only for an
    analog or control header whose unused modulation / code-rate fields are not zero)."""
    info = message >> 16
    if _info_crc(info) != message & 0xFFFF:
        return None, False
    vals = {}
    for name, width in reversed(_FIELDS):
        vals[name] = info & ((1 << width) - 1)
        info >>= width
    if vals["mode"] >= len(MODES) or vals["level"] >= (CONTROL_LEVELS if vals["mode"] == 2 else 1):
        return None, False
    digital = vals["mode"] == 1
    header = Header(mode=MODES[vals["mode"]], length=vals["length"],
                    modulation=MODULATIONS[vals["modulation"]] if digital else None,
                    code_rate=CODE_RATES[vals["code_rate"]] if digital else None,
                    frame_index=vals["frame_index"], frame_count=vals["frame_count"], stream_id=vals["stream_id"],
                    nonce=vals["nonce"], level=vals["level"])
    return header, digital or not (vals["modulation"] or vals["code_rate"])


def decode_header(llr: np.ndarray, params: OfdmParams) -> Header | None:
    """Transmitted-bit LLRs (log P(1)/P(0), (n_header_symbols * n_data,)) → Header, or None when the
    CRC fails or a field is invalid."""
    return _parse(_messages(_golay_decisions(llr, params)[0])[0])[0]


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
    for message, bits in zip(_messages(decisions), sent):
        header, canonical = _parse(message)
        out.append((header, encode_header(header, params) if header is not None and not canonical else bits))
    return out


HYPOTHESIS_Z = 6.0
"""``match_headers``: a candidate is accepted only when its correlation with the LLRs stands this many
standard deviations above what LLRs unrelated to it give (P < 1e-9 per candidate for a Gaussian sum)."""
HYPOTHESIS_MARGIN = 0.5
"""``match_headers``: the best candidate must beat the second best by this many standard deviations."""
HYPOTHESIS_CONSISTENCY = 8.0
"""``match_headers``: the best candidate's correlation may fall at most this many standard deviations
below what the LLRs' own magnitude predicts for the header actually sent. The receiver's header LLRs
are over-confident near and below 0 dB (their channel estimate comes from the LTF alone): true headers
matched at -5 dB in TDL-C fell 5 to 7 of these deviations short, so 4 lost them; at 0 dB a frame of
another stream sharing 5 of the 8 codewords still falls about 20 short."""


def match_headers(llr: np.ndarray, candidates: list[Header], params: OfdmParams,
                  bits: np.ndarray | None = None) -> list[Header | None]:
    """Which of a few expected headers each of B failed headers is, from its LLRs (float (B, n),
    n = n_header_symbols * n_data transmitted bits, log P(1)/P(0)): the receiver's test for the
    frames of a stream it has already heard (their stream id, nonce and frame count known, their
    index and length among few values), far below the SNR where Golay + CRC decode a header alone.

    Model: for the header actually sent, the correlation c = sum_i llr_i s_i (s_i = +1 for a 1, -1 for
    a 0 of its transmitted bits) has, for consistent LLRs (P(s_i = sign llr_i) = 1 / (1 + e^-|llr_i|)),
    mean sum |llr_i| tanh(|llr_i| / 2) and variance sum llr_i^2 (1 - tanh^2(llr_i / 2)), whatever the
    reliability of each bit (in fading it varies across subcarriers); for a header unrelated to the
    LLRs c has mean 0 and variance sum llr^2 (=: sigma^2). The maximum-likelihood candidate (largest
    c) is accepted when c >= HYPOTHESIS_Z sigma (false acceptance < 1e-9 per candidate), it beats
    the second best by HYPOTHESIS_MARGIN sigma (near-identical candidates are told apart), and c
    falls at most HYPOTHESIS_CONSISTENCY standard deviations below that mean (a header that shares
    only part of its bits with the candidate, e.g. a frame of another stream with the same index and
    length, correlates less than the whole header would). ``bits``: the candidates' transmitted bits uint8 (C, n) when
    already at hand (default: ``encode_header`` of each). Returns one Header or None per row.
    """
    llr = np.atleast_2d(np.asarray(llr, dtype=np.float64))
    if not candidates:
        return [None] * llr.shape[0]
    if bits is None:
        bits = np.stack([encode_header(c, params) for c in candidates])
    signs = 2.0 * bits - 1.0                                                           # (C, n)
    corr = llr @ signs.T                                                                # (B, C)
    energy = np.einsum("bi,bi->b", llr, llr)
    sigma = np.sqrt(np.maximum(energy, 1e-30))
    t = np.tanh(np.abs(llr) / 2)
    expected = np.sum(np.abs(llr) * t, axis=1)
    spread = np.sqrt(np.sum(llr ** 2 * (1 - t ** 2), axis=1))
    out: list[Header | None] = []
    for b in range(llr.shape[0]):
        order = np.argsort(corr[b])[::-1]
        best = corr[b, order[0]]
        second = corr[b, order[1]] if len(candidates) > 1 else -np.inf
        ok = (best >= HYPOTHESIS_Z * sigma[b] and best - second >= HYPOTHESIS_MARGIN * sigma[b]
              and best >= expected[b] - HYPOTHESIS_CONSISTENCY * spread[b])
        out.append(candidates[order[0]] if ok else None)
    return out


BOOTSTRAP_Z = 2.0
"""``stream_hypotheses`` goes on only when the headers agree on their common code bits: the sum over
those bits and over pairs of headers of the products of their code-bit LLRs, which has mean 0 and
the standard deviation sqrt(sum of the products' squares) when the headers carry unrelated bits
(noise, another system's bursts), stands this many standard deviations above 0."""
BOOTSTRAP_MAX_FRAMES = 32
"""``stream_hypotheses`` takes streams of at most this many frames (a 512×512 image is 17)."""


def _field_slices() -> dict[str, tuple[int, int]]:
    """Message bit range [start, stop) of each header field (MSB first)."""
    out, pos = {}, 0
    for name, width in _FIELDS:
        out[name] = (pos, pos + width)
        pos += width
    return out


def _bits_value(bits: np.ndarray) -> int:
    """Unsigned integer of bits uint8 (k,), MSB first."""
    return int("".join(map(str, bits.tolist())) or "0", 2)


def _code_llr(llr: np.ndarray, params: OfdmParams) -> np.ndarray:
    """Code-bit LLRs of B headers, the copies of each code bit summed: float (B, 192)."""
    plan = _rate_match(params)
    copies = llr[:, plan.perm] * plan.sign
    out = np.zeros((llr.shape[0], _N_CODED))
    for b in range(llr.shape[0]):
        out[b] = np.bincount(plan.src, weights=copies[b], minlength=_N_CODED)
    return out


def _kind_words(code: np.ndarray, control_lengths: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """What the data frames among B headers are, from their code-bit LLRs (float (B, 192)), summed
    over the headers that correlate better with the decision than with a control frame of
    ``control_lengths``: (message bits 0..23 decoded codeword by codeword, the likeliest analog length:
    the two codewords decoded jointly over the analog kinds only, 16 unknown bits instead of 24,
    ``_analog_length_words``)."""
    from phy import golay

    first = code[:, :48]
    words = golay.decode(first.sum(axis=0))
    controls = [golay.encode(_message_bits(_first_codewords_info("control", n))[:24]) for n in control_lengths]
    if controls:
        mine = first @ (2.0 * golay.encode(words) - 1.0)
        ctrl = np.max(np.stack([first @ (2.0 * c - 1.0) for c in controls]), axis=0)
        data = ctrl < mine
        if data.any() and not data.all():
            first = first[data]
            words = golay.decode(first.sum(axis=0))
    summed = first.sum(axis=0)
    high, low = _analog_length_words()
    return words, (int(np.argmax(summed[:24] @ high)) << 10) | int(np.argmax(summed[24:] @ low))


@lru_cache(maxsize=1)
def _analog_length_words() -> tuple[np.ndarray, np.ndarray]:
    """The first two codewords of an analog header (frame index below 16384) as ±1 float64, each a
    function of its own part of the 16-bit length: codeword 0 of the length's 6 high bits, (24, 64),
    and codeword 1 of its 10 low bits, (24, 1024) (read-only): a header's correlation with the
    first two codewords of length n is the sum of column n >> 10 of the first and n & 1023 of the
    second, so the likeliest length is found from 64 + 1024 correlations instead of 65536."""
    from phy import golay

    gen = golay.generator().astype(np.int64)
    high = (np.arange(64)[:, None] >> np.arange(5, -1, -1)) & 1                  # message bits 6..11
    low = (np.arange(1024)[:, None] >> np.arange(9, -1, -1)) & 1                 # message bits 12..21
    msg0 = np.concatenate([np.zeros((64, 6), np.int64), high], axis=1)
    msg1 = np.concatenate([low, np.zeros((1024, 2), np.int64)], axis=1)
    out = tuple(np.ascontiguousarray((2.0 * ((m @ gen) % 2) - 1.0).T) for m in (msg0, msg1))
    for a in out:
        a.flags.writeable = False
    return out


def _first_codewords_info(mode: str, length: int) -> int:
    """A 96-bit message whose first 24 bits are those of an analog or control frame of ``length``
    (frame index below 16384), the rest zero: for comparing the first two codewords."""
    info = (MODES.index(mode) << 78) | (length << 58)
    return info << 16


def stream_hypotheses(llr: np.ndarray, params: OfdmParams,
                      control_lengths: tuple[int, ...] = ()) -> tuple[list[Header], np.ndarray]:
    """Candidate headers for B >= 2 failed headers presumed to be frames of one unknown stream, from
    their LLRs (float (B, n), log P(1)/P(0)): the headers' common Golay codewords decoded from the
    sum of their code-bit LLRs (B times the energy of one), the rest enumerated and the stream's
    nonce chosen jointly.

    This is done for several groups of the failed headers, those that agree with each other on the
    common code bits (``_agreeing``), and the candidates of all groups are returned. Of the 8
    codewords, message bits 48..71 (the frame count's 6 low bits, the stream id, the nonce's
    10 high bits) are the same in every frame of a stream, and bits 0..23 (mode, modulation, code
    rate, length, the frame index's 2 high bits) in every data frame of a stream (its analog
    frames have equal lengths ± one pair): both are decoded from summed LLRs (``_kind_words``; an
    analog length from the two codewords jointly).
    Enumerated: the nonce's 6 low bits, the frame index (below the frame count, at most
    BOOTSTRAP_MAX_FRAMES), and the kind: the decoded one (analog lengths also ± 2 values) and
    control frames of ``control_lengths``. Of the BOOTSTRAP_LIST likeliest words of each common
    codeword and the 64 nonce low bits, the stream whose best candidate per header, summed over the
    headers, correlates most with their LLRs is kept; the candidates returned are its, and
    ``match_headers`` decides each header among them. Returns (candidates, their transmitted bits
    uint8 (C, n)); empty when the decoded frame count is not in 2..BOOTSTRAP_MAX_FRAMES or the common
    code bits do not agree across the headers (BOOTSTRAP_Z).
    """

    llr = np.atleast_2d(np.asarray(llr, dtype=np.float64))
    n_out = n_header_symbols(params) * params.n_data
    none = [], np.zeros((0, n_out), np.uint8)
    code = _code_llr(llr, params)
    candidates, bits, seen = [], [], set()
    for group in _agreeing(code[:, 96:144]):
        found, found_bits = _stream_candidates(llr[group], code[group], params, control_lengths)
        for h, row in zip(found, found_bits):
            if h not in seen:
                seen.add(h)
                candidates.append(h)
                bits.append(row)
    return (candidates, np.stack(bits)) if candidates else none


def _stream_candidates(llr: np.ndarray, code: np.ndarray, params: OfdmParams,
                       control_lengths: tuple[int, ...]) -> tuple[list[Header], np.ndarray]:
    """``stream_hypotheses`` for one group of headers (LLRs (B, n), code-bit LLRs (B, 192)): the
    candidates of the likeliest stream, or none when the group's common code bits do not agree."""
    n_out = llr.shape[1]
    none = [], np.zeros((0, n_out), np.uint8)
    shared = code[:, 96:144]
    s1, s2, s4 = shared.sum(axis=0), (shared ** 2).sum(axis=0), (shared ** 4).sum(axis=0)
    agreement = float(np.sum(s1 ** 2 - s2) / 2) / np.sqrt(max(float(np.sum(s2 ** 2 - s4) / 2), 1e-30))
    if agreement < BOOTSTRAP_Z:
        return none
    kinds = _kinds(*_kind_words(code, control_lengths), control_lengths)
    if not kinds:
        return none
    tables = _codeword_tables(code)
    best = None
    for common in _common_list(s1):                                 # message bits 48..71, likeliest first
        count = _bits_value(common[0:6])
        if not 2 <= count <= BOOTSTRAP_MAX_FRAMES:
            continue
        sid, nonce_hi = _bits_value(common[6:14]), _bits_value(common[14:24])
        infos = _infos(kinds, count, sid, nonce_hi)                 # nonce's 6 low bits zero
        totals = _nonce_totals(tables, infos)
        lo = int(np.argmax(totals))
        if best is None or totals[lo] > best[0]:
            best = (float(totals[lo]), count, sid, (nonce_hi << 6) | lo, infos, lo)
    if best is None:
        return none
    _, count, sid, nonce, infos, lo = best
    infos[:, _NONCE_LOW] = (lo >> np.arange(5, -1, -1)) & 1
    return [Header(m, n, mod, rate, i, count, sid, nonce, level) for m, n, mod, rate, level in kinds
            for i in range(count)], _transmitted_many(infos, params)


_NONCE_LOW = slice(_N_INFO - 8, _N_INFO - 2)
"""Info bits of the nonce's 6 low bits (72..77): with the level's two bits, the first 8 of the
seventh Golay message, whose last 4 and the eighth message are the CRC."""


@lru_cache(maxsize=1)
def _nonce_low_crc() -> np.ndarray:
    """What setting the nonce's 6 low bits to v does to a header's CRC-16: uint16 (64,), XORed into
    the CRC of the same info with those bits zero (the CRC is affine in the message:
    crc(a ^ b) = crc(a) ^ crc(b) ^ crc(0) for messages of one length)."""
    delta = np.zeros((64, _N_INFO), np.uint8)
    delta[:, _NONCE_LOW] = (np.arange(64)[:, None] >> np.arange(5, -1, -1)) & 1
    crc = _messages_many(delta)[:, _N_INFO:].astype(np.int64) @ (1 << np.arange(15, -1, -1))
    out = (crc ^ crc[0]).astype(np.uint16)
    out.flags.writeable = False
    return out


def _nonce_totals(tables: np.ndarray, infos: np.ndarray) -> np.ndarray:
    """For each value v of the nonce's 6 low bits: the sum over B headers of each one's best
    correlation (``_codeword_tables``, float (B, 8, 4096)) with the candidates ``infos`` (uint8 bits
    (P, 80), nonce low bits zero) with v put in: float (64,). The first six codewords do not depend
    on v; the last two are looked up from the CRC of the zero-v info and ``_nonce_low_crc``, so one
    CRC per candidate is computed instead of 64."""
    msgs = _messages_many(infos)
    idx = msgs[:, : 6 * 12].reshape(-1, 6, 12).astype(np.int64) @ (1 << np.arange(11, -1, -1))   # (P, 6)
    fixed = tables[:, np.arange(6), idx].sum(axis=2)                                # (B, P)
    crc = msgs[:, _N_INFO:].astype(np.int64) @ (1 << np.arange(15, -1, -1))          # (P,) at v = 0
    level = msgs[:, _N_INFO - 2].astype(np.int64) * 2 + msgs[:, _N_INFO - 1]
    crc_v = crc[None, :] ^ _nonce_low_crc().astype(np.int64)[:, None]              # (64, P)
    w6 = (np.arange(64)[:, None] << 6) | (level[None, :] << 4) | (crc_v >> 12)
    corr = fixed[:, None, :] + tables[:, 6, w6] + tables[:, 7, crc_v & 0xFFF]       # (B, 64, P)
    return corr.max(axis=2).sum(axis=0)


def _codeword_tables(code: np.ndarray) -> np.ndarray:
    """Each of B headers' code-bit LLRs (float (B, 192)) correlated with every Golay codeword, codeword
    position by position: float64 (B, 8, 4096), [b, w, m] = sum over the 24 code bits of codeword w of
    their LLR times the bit of message m's codeword as ±1. A header's correlation with its transmitted
    bits, sum_i llr_i (2 t_i - 1), is the sum over w of [b, w, message w] (the copies of a code bit and
    the whitening are what ``_code_llr`` folds in): 8 look-ups per candidate instead of n products."""
    from phy import golay

    signs = golay.decoder_tables()[2].astype(np.float64)                    # (24, 4096)
    return code.reshape(code.shape[0], -1, 24) @ signs


def _agreeing(shared: np.ndarray) -> list[np.ndarray]:
    """Groups of the headers (code-bit LLRs of the common codewords, float (B, 48)) that may be frames
    of one stream: all of them, and for each of the BOOTSTRAP_SEEDS pairs whose products
    sum_m l_im l_jm stand most standard deviations (sqrt(sum_m l_im^2 l_jm^2), their spread for
    unrelated bits) above 0, that pair grown one header at a time by the header that agrees most with
    the sum of the group, while it does by more than BOOTSTRAP_JOIN standard deviations. Bursts found
    at a wrong timing or in another burst's data carry unrelated bits that only add noise to a sum,
    and a pair of them may agree by chance, hence several groups."""
    b = shared.shape[0]
    groups = [np.arange(b)]
    if b <= 2:
        return groups
    sq = shared ** 2
    z = (shared @ shared.T) / np.sqrt(np.maximum(sq @ sq.T, 1e-30))
    z[np.tril_indices(b)] = -np.inf
    for flat in np.argsort(z, axis=None)[::-1][:BOOTSTRAP_SEEDS]:
        i, j = np.unravel_index(int(flat), z.shape)
        if z[i, j] < BOOTSTRAP_JOIN:
            break
        chosen = [int(i), int(j)]
        while len(chosen) < b:
            total = shared[chosen].sum(axis=0)
            rest = [k for k in range(b) if k not in chosen]
            score = [(shared[k] @ total) / np.sqrt(max(float(sq[k] @ total ** 2), 1e-30)) for k in rest]
            best = int(np.argmax(score))
            if score[best] < BOOTSTRAP_JOIN:
                break
            chosen.append(rest[best])
        group = np.array(sorted(chosen))
        if not any(np.array_equal(group, g) for g in groups):
            groups.append(group)
    return groups


BOOTSTRAP_SEEDS = 3
"""``_agreeing``: pairs of headers each group starts from."""
BOOTSTRAP_JOIN = 2.0
"""``_agreeing``: standard deviations of agreement on the common code bits that make a header join."""
BOOTSTRAP_LIST = 3
"""``stream_hypotheses`` tries the BOOTSTRAP_LIST likeliest words of each of the two common codewords."""


def _common_list(summed: np.ndarray) -> list[np.ndarray]:
    """Message bits 48..71 (uint8 (24,)) for the BOOTSTRAP_LIST^2 likeliest pairs of the two common
    codewords, from their summed code-bit LLRs (float (48,)), likeliest pair first."""
    from phy import golay

    msgs, signs = golay.decoder_tables()[1:3]
    scores = [summed[24 * w: 24 * (w + 1)] @ signs for w in range(2)]          # (4096,) each
    tops = [np.argsort(sc)[::-1][:BOOTSTRAP_LIST] for sc in scores]
    pairs = sorted(((a, b) for a in tops[0] for b in tops[1]), key=lambda ab: -(scores[0][ab[0]] + scores[1][ab[1]]))
    return [np.concatenate([msgs[a], msgs[b]]) for a, b in pairs]


def _kinds(kind: np.ndarray, analog_length: int, control_lengths: tuple[int, ...]) -> list[tuple]:
    """(mode, length, modulation, code rate, level) of the frames to hypothesise, from what
    ``_kind_words`` found of the data frames: the analog length (± 2 values too), the codeword-wise
    decision if it is another kind (control frames at every level), and control frames of
    ``control_lengths`` at every level."""
    mode, length = _bits_value(kind[0:2]), _bits_value(kind[6:22])
    kinds = {("control", n, None, None, level) for n in control_lengths for level in range(CONTROL_LEVELS)}
    kinds |= {("analog", analog_length + d, None, None, 0) for d in (-2, 0, 2) if 0 < analog_length + d < 1 << 16}
    if mode == 1:
        kinds.add(("digital", length, MODULATIONS[_bits_value(kind[2:4])], CODE_RATES[_bits_value(kind[4:6])], 0))
    elif mode == 2:
        kinds |= {("control", length, None, None, level) for level in range(CONTROL_LEVELS)}
    return sorted(kinds, key=str)


def _infos(kinds: list[tuple], count: int, sid: int, nonce_hi: int) -> np.ndarray:
    """Info bits uint8 (len(kinds) * count, 80) of every (kind, frame index) of a stream, in that
    order, the nonce's 6 low bits zero."""
    f = _field_slices()
    info = np.zeros((len(kinds), count, _N_INFO), np.uint8)

    def put(name: str, value, axes: tuple) -> None:
        lo_bit, hi_bit = f[name]
        width = hi_bit - lo_bit
        v = np.asarray(value, dtype=np.int64)[..., None] >> np.arange(width - 1, -1, -1) & 1
        info[..., lo_bit:hi_bit] = v.reshape(axes + (width,))

    k = (len(kinds), 1)
    put("mode", [MODES.index(m) for m, *_ in kinds], k)
    put("modulation", [MODULATIONS.index(mod) if m == "digital" else 0 for m, _, mod, _, _ in kinds], k)
    put("code_rate", [code_rate_index(rate) if m == "digital" else 0 for m, _, _, rate, _ in kinds], k)
    put("length", [n for _, n, *_ in kinds], k)
    put("level", [level for *_, level in kinds], k)
    put("frame_index", np.arange(count), (1, count))
    put("frame_count", count, (1, 1))
    put("stream_id", sid, (1, 1))
    put("nonce", nonce_hi << 6, (1, 1))
    return info.reshape(-1, _N_INFO)


@lru_cache(maxsize=1)
def _crc_table() -> np.ndarray:
    """CRC-16/CCITT (``binascii.crc_hqx``) byte table, uint16 (256,)."""
    return np.array([binascii.crc_hqx(bytes([i]), 0) for i in range(256)], np.uint16)


def _messages_many(info: np.ndarray) -> np.ndarray:
    """The 96-bit messages of many 80-bit infos (uint8 bits (C, 80)): the CRC-16 appended, vectorised:
    uint8 (C, 96)."""
    data = np.packbits(info, axis=1)                                                   # (C, 10)
    crc = np.full(data.shape[0], 0xFFFF, np.uint16)
    table = _crc_table()
    for j in range(data.shape[1]):
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ data[:, j]) & 0xFF]
    crc_bits = (crc[:, None].astype(np.int64) >> np.arange(15, -1, -1)) & 1
    return np.concatenate([info, crc_bits.astype(np.uint8)], axis=1)


def _transmitted_many(info: np.ndarray, params: OfdmParams) -> np.ndarray:
    """Transmitted header bits of many 80-bit infos at once (uint8 bits (C, 80) → CRC-16, Golay, rate
    matching, whitening, vectorised): uint8 (C, n_header_symbols * n_data), ``encode_header``'s bits."""
    from phy import golay

    msgs = _messages_many(info).reshape(-1, _N_BITS // 12, 12)
    coded = ((msgs.astype(np.float32) @ golay.generator().astype(np.float32)).astype(np.int64) % 2).astype(
        np.uint8).reshape(info.shape[0], _N_CODED)
    plan = _rate_match(params)
    out = np.empty((info.shape[0], plan.src.size), np.uint8)
    out[:, plan.perm] = coded[:, plan.src]
    return out ^ plan.white
