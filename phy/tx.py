"""The transmitter: analog, digital and control payloads → complex64 baseband bursts."""
from __future__ import annotations

import secrets

import numpy as np

from phy.analog import values_to_symbols
from phy.control import encode_control
from phy.frame import DEFAULT_MAX_PAYLOAD_SYMBOLS, payload_bits, payload_symbols
from phy.head import HeadMap, head_waveform
from phy.header import Header, code_rate_index, encode_header
from phy.ldpc import CRC_BITS, MAX_INFO_BITS, codeword_size, encode_payload
from phy.modulation import bits_per_symbol, map_bits
from phy.ofdm import layout, pilot_values, symbols_to_time
from phy.params import OfdmParams
from phy.preamble import preamble


class Transmitter:
    """Builds bursts: preamble, header, payload, idle gap.

    Every burst is scaled for a DAC with full scale 1.0 by one fixed gain: the mean power of an OFDM
    symbol with unit-power subcarriers is 10^(-backoff_db/10), i.e. the RMS sits ``backoff_db`` below
    full scale, and the rare samples with magnitude beyond 1 are clipped to magnitude 1, phase kept
    (the radios' contract is |x| <= 1; at the default 10 dB, |x| is Rayleigh with 2 sigma^2 = 0.1,
    so exp(-10) = 4.5e-5 of samples clip). A fixed gain, rather than a per-burst peak
    normalisation, gives every burst of a stream the same mean power whatever its content, so all
    frames see the link's SNR. The relative levels of preamble and payload are fixed, so the
    receiver's channel estimate covers the scaling.

    Args:
        params: OFDM numerology.
        backoff_db: RMS level below DAC full scale, dB (≥ 0; the PAPR headroom).
        max_payload_symbols: payload OFDM symbols allowed per frame (sets the frame capacity).
        nonce: the stream nonce (0..65535) written in every header this transmitter builds; None
            (the default) draws one at random, so that two transmitters (two ``tx`` runs) with the
            same stream id are told apart by the receiver. Give one for reproducible output.
    """

    def __init__(self, params: OfdmParams = OfdmParams(), backoff_db: float = 10.0,
                 max_payload_symbols: int = DEFAULT_MAX_PAYLOAD_SYMBOLS, *, nonce: int | None = None) -> None:
        if not np.isfinite(backoff_db) or backoff_db < 0:
            raise ValueError(f"backoff_db must be a finite number of dB ≥ 0, got {backoff_db}")
        if max_payload_symbols < 1:
            raise ValueError(f"max_payload_symbols must be ≥ 1, got {max_payload_symbols}")
        if nonce is not None and not 0 <= nonce < 1 << 16:
            raise ValueError(f"nonce must be in 0..65535, got {nonce}")
        self.params = params
        self.nonce = secrets.randbits(16) if nonce is None else int(nonce)
        self.backoff_db = float(backoff_db)
        self.max_payload_symbols = int(max_payload_symbols)

    def max_analog_values(self) -> int:
        """Real values one analog frame can carry."""
        return min(2 * self.params.n_data * self.max_payload_symbols, 65535)

    def max_digital_bytes(self, modulation: str, code_rate: float) -> int:
        """Payload bytes one digital frame can carry at this modulation and LDPC code rate."""
        code_rate_index(code_rate)
        capacity = self.max_payload_symbols * self.params.n_data * bits_per_symbol(modulation)
        n_bytes = min((MAX_INFO_BITS - CRC_BITS) // 8, int(capacity * code_rate - CRC_BITS) // 8)
        while n_bytes > 0 and codeword_size(n_bytes, modulation, code_rate)[1] > capacity:
            n_bytes -= 1
        return max(n_bytes, 0)

    def analog_burst(self, values: np.ndarray, *, frame_index: int = 0, frame_count: int = 1,
                     stream_id: int = 0) -> np.ndarray:
        """Burst carrying real ``values`` (float (n,), mean square ~1, sent unquantised, two per data
        subcarrier symbol after the fixed scrambler of ``phy.analog``, so that correlated values keep
        the burst's mean power). Returns complex64 (m,) ending with params.idle_gap zeros."""
        v = np.asarray(values)
        if v.ndim != 1 or not np.issubdtype(v.dtype, np.floating) and not np.issubdtype(v.dtype, np.integer):
            raise ValueError(f"analog_burst needs a 1-D real array, got shape {v.shape} dtype {v.dtype}")
        if not np.all(np.isfinite(v)):
            raise ValueError("analog_burst values contain NaN or inf; clean the latents before sending")
        if v.size > self.max_analog_values():
            raise ValueError(f"{v.size} analog values exceed one frame ({self.max_analog_values()}); "
                             "split them over frames")
        header = Header("analog", int(v.size), frame_index=frame_index, frame_count=frame_count,
                        stream_id=stream_id, nonce=self.nonce)
        data = values_to_symbols(v.astype(np.float64), payload_symbols(header, self.params), self.params.n_data)
        return self._burst(header, data)

    def digital_burst(self, payload: bytes, *, modulation: str = "qpsk", code_rate: float = 0.5,
                      frame_index: int = 0, frame_count: int = 1, stream_id: int = 0) -> np.ndarray:
        """Burst carrying ``payload`` bytes, CRC-32 + 5G LDPC at ``code_rate`` + ``modulation``.
        Returns complex64 (m,) ending with params.idle_gap zeros."""
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError(f"digital_burst needs bytes, got {type(payload).__name__}")
        cap = self.max_digital_bytes(modulation, code_rate)
        if len(payload) > cap:
            raise ValueError(f"{len(payload)} bytes exceed one {modulation} rate {code_rate:.3g} frame ({cap}); "
                             "split them over frames")
        header = Header("digital", len(payload), modulation, code_rate, frame_index, frame_count, stream_id,
                        self.nonce)
        bits = encode_payload(bytes(payload), modulation, code_rate, payload_bits(header, self.params))
        return self._burst(header, map_bits(bits, modulation).reshape(-1, self.params.n_data))

    def control_burst(self, payload: bytes, *, frame_index: int = 0, frame_count: int = 1,
                      stream_id: int = 0, level: int = 0) -> np.ndarray:
        """Burst carrying a few ``payload`` bytes (≤ ``phy.control.MAX_BYTES``) in a control frame:
        CRC-16, Golay (24, 12) and repetition (``level``: an index of ``phy.control.LEVEL_COPIES``),
        BPSK (``phy.control``; decoded without Sionna).
        Returns complex64 (m,) ending with params.idle_gap zeros."""
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError(f"control_burst needs bytes, got {type(payload).__name__}")
        header = Header("control", len(payload), frame_index=frame_index, frame_count=frame_count,
                        stream_id=stream_id, nonce=self.nonce, level=level)
        bits = encode_control(bytes(payload), self.params, level)
        return self._burst(header, map_bits(bits, "bpsk").reshape(-1, self.params.n_data))

    def head_burst(self, payload: bytes, *, frame_count: int = 1, stream_id: int = 0) -> np.ndarray:
        """A stream head (``phy.head``): the long sync and the map carrying this transmitter's nonce,
        ``stream_id``, ``frame_count`` and a control ``payload`` (≤ ``phy.control.MAX_BYTES``; the
        stream descriptor), to be sent right before the stream's frames. Returns complex64 (m,)
        ending with params.idle_gap zeros."""
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError(f"head_burst needs bytes, got {type(payload).__name__}")
        Header("control", len(payload), frame_count=frame_count, stream_id=stream_id, nonce=self.nonce)  # ranges
        return self._scaled(head_waveform(HeadMap(stream_id, self.nonce, frame_count, bytes(payload)), self.params))

    def _burst(self, header: Header, payload: np.ndarray) -> np.ndarray:
        """Preamble + header + payload (complex (n_sym, n_data) data symbols) + gap, at the fixed DAC gain."""
        p = self.params
        bins, data_pos, pilot_pos = layout(p)
        hdr = map_bits(encode_header(header, p), "bpsk").reshape(-1, p.n_data)
        data = np.concatenate([hdr, payload])
        grid = np.zeros((data.shape[0], bins.size), dtype=np.complex128)
        grid[:, data_pos] = data
        grid[:, pilot_pos] = pilot_values(p, 0, data.shape[0])
        return self._scaled(np.concatenate([preamble(p), symbols_to_time(p, grid)]))

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        """Samples at unit power per used subcarrier → at the fixed DAC gain, clipped to |x| ≤ 1, with
        the idle gap appended: complex64."""
        p = self.params
        # symbols_to_time is orthonormal: unit-power subcarriers give mean power n_used / n_fft
        x = x * (10 ** (-self.backoff_db / 20) / np.sqrt((p.n_data + p.n_pilot) / p.n_fft))
        x /= np.maximum(np.abs(x), 1.0)
        return np.concatenate([x, np.zeros(p.idle_gap)]).astype(np.complex64)
