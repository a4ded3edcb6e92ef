"""Frame layout shared by the transmitter and the receiver.

A burst is: STF (10 * n_fft/4) | LTF (n_fft/2 + 2 * n_fft) | header (n_header_symbols OFDM symbols) |
payload (payload_symbols OFDM symbols) | idle gap (params.idle_gap zeros). OFDM symbols are
n_cp + n_fft samples. Analog payloads carry two real values per data subcarrier symbol, scrambled
and placed as ``phy.analog`` describes; the last symbol is zero-padded.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from phy.control import control_symbols
from phy.header import Header, n_header_symbols
from phy.ldpc import codeword_size
from phy.modulation import bits_per_symbol
from phy.params import OfdmParams
from phy.preamble import ltf_length, stf_length

DEFAULT_MAX_PAYLOAD_SYMBOLS = 48
"""Default payload OFDM symbols per frame (48 symbols = 4608 analog values at 48 data subcarriers)."""


def preamble_length(params: OfdmParams) -> int:
    """STF + LTF samples."""
    return stf_length(params) + ltf_length(params)


def payload_bits(header: Header, params: OfdmParams) -> int:
    """Coded bits a digital frame carries (whole OFDM symbols, ≥ the LDPC codeword)."""
    return payload_symbols(header, params) * params.n_data * bits_per_symbol(header.modulation)


def payload_symbols(header: Header, params: OfdmParams) -> int:
    """Payload OFDM symbols of the frame that ``header`` describes."""
    if header.mode == "analog":
        return math.ceil(math.ceil(header.length / 2) / params.n_data)
    if header.mode == "control":
        return control_symbols(header.length, params, header.level)
    _, n = codeword_size(header.length, header.modulation, header.code_rate)
    return math.ceil(n / (params.n_data * bits_per_symbol(header.modulation)))


def burst_length(header: Header, params: OfdmParams) -> int:
    """Samples of a burst without its idle gap."""
    n_sym = n_header_symbols(params) + payload_symbols(header, params)
    return preamble_length(params) + n_sym * params.symbol_len


@lru_cache(maxsize=64)
def window_offsets(params: OfdmParams, n_sym: int) -> np.ndarray:
    """FFT window starts of a frame's two LTF symbols and its first ``n_sym`` OFDM symbols (after
    their cyclic prefixes), relative to the first LTF window: int64 (2 + n_sym,), samples
    (read-only: cached)."""
    first = 2 * params.n_fft + params.n_cp
    out = np.concatenate([[0, params.n_fft], first + params.symbol_len * np.arange(n_sym)])
    out.flags.writeable = False
    return out
