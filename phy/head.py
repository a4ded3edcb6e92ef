"""The stream head: a long known sync sequence and a strongly coded stream map, sent once before a
stream's frames, so that a receiver finds the stream (its timing, CFO and channel) and what it carries
far below the SNR where a frame's own preamble and header work (issue 21).

Waveform (``head_waveform``): SYNC_PERIODS copies of the 802.11a LTF symbol (n_fft samples each, no
guard: the sequence is periodic in n_fft), eight more with the signs of END_PATTERN, then the map: OFDM symbols
with cyclic prefix and the frames' pilots, BPSK on the data subcarriers, carrying the stream's header
fields (stream id, nonce, frame count) and a control payload (the stream descriptor) coded as a control
frame is (CRC-16, Golay (24, 12), ``phy.control``) with HEAD_COPIES copies of every code bit. The head
is sent at the frames' power; the frames follow it, its idle gap after it.

Detection (``head_scores``): the samples are cut into n_fft-sample blocks on a fixed grid and each is
transformed; over a window of DETECT_BLOCKS blocks the test is the largest bin of the DFT over the blocks,
C = max_f sum_k |sum_b X_bk exp(-2 pi j f b / K)|^2 / sum_b sum_k |X_bk|^2, k over the data subcarriers.
Inside the sync every block is the same n_fft samples (a cyclic shift of the LTF through the channel)
turned by the CFO: one phase step per block (a ramp within a block is the same for every block, and an
offset of whole subcarriers moves the LTF's values to other bins, still the same in every block), so the
coherent sum keeps the energy of every path and subcarrier, for any CFO. The pilot subcarriers are left
out: in a frame they are tones of known values, coherent enough over the blocks that OFDM data at 20 dB
would pass the test. Noise alone gives, per bin, a chi-square with 2 n_data degrees of freedom over its
mean (C about 1); the sync at in-band SNR s gives (K s + 1) / (s + 1): 2.8 at -12 dB, 2.2 at -14 dB
(K = 32), against a threshold of about 1.8. The windows follow each other without overlap; the sync is
long enough that one lies wholly inside it. A window also has to hold its energy evenly over its blocks (a
strong short burst against quiet), and its coherent sum must look like the LTF through a channel shorter
than the cyclic prefix (``structure_test``): OFDM data, whose blocks overlap its 80-sample symbols, is
correlated from block to block and raises C at the low bins (to about 1.9 at 20 dB), but its coherent
sum is no LTF; neither is a tone.

Synchronisation (``locate_head``): the CFO bin gives the CFO modulo fs / n_fft; each alias within the
receiver's range is tried by the channel it implies (the averaged block FFTs over the known LTF): the
right one gives an impulse response within a cyclic prefix, a wrong one a spectrum shifted against the
LTF's signs, i.e. noise-like. The impulse response's strongest tap gives the period boundaries; the
per-period correlations with the channel estimate, correlated with the end pattern, give the end's
candidates, and the map is decoded at each in turn until its CRC passes.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.special

from phy.control import decode_control_bits, encode_control, repeated_symbols
from phy.equalizer import Equalizer
from phy.frame import window_offsets
from phy.known import known_entries
from phy.modulation import demap_llr, map_bits
from phy.ofdm import fft_windows, layout, pilot_values, symbols_to_time, used_subcarriers
from phy.params import OfdmParams
from phy.preamble import ltf_freq, ltf_symbol, stf_length

SYNC_PERIODS = 64
"""LTF symbols of the sync before its end pattern: at least 2 DETECT_BLOCKS - 1, so that a detection
window (they follow each other without overlap) lies wholly inside them whatever the grid's phase."""
END_PATTERN = (1, -1, 1, -1, -1, -1, 1, 1)
"""Signs of the LTF symbols that end the sync: correlated with SYNC_PLAIN plain periods before it, the
periods' correlations with the channel give 16 periods' worth at the end and at most 8 at any other
place (the best such pattern of 8, by search), so the end is found where a single sign change would be
lost in the noise."""
SYNC_PLAIN = 8
"""Plain periods before the end pattern that its template includes."""
HEAD_COPIES = 24
"""Copies of every Golay code bit of the map (rate 1/48): 12 dB more energy per code bit than one
copy, 6 dB more than the descriptor's control frame at level 1."""
DETECT_BLOCKS = 32
"""Blocks (n_fft samples each) summed coherently by the detection test."""
HEAD_FALSE_ALARM = 1e-6
"""Probability that noise passes the coherent test in one bin of one window (488 windows of 32 bins
per 10^6 samples: 0.016 passes, before the structure test; each detection costs at most a few map
decodes)."""
EVEN_ENERGY = 2.0
"""A window's largest block energy may be at most this many times its mean block energy."""
DELAY_TAPS = 8
"""Taps of the impulse-response window of the structure test (``delay_share``)."""
DELAY_SHARE = 0.45
"""A passing window's coherent sum, taken as the LTF through a channel, must hold this share of its
impulse response's energy in DELAY_TAPS taps (``delay_share``: for the sync through a short channel
close to 1 at high SNR, for noise or a tone about DELAY_TAPS / n_fft; OFDM data's, on the windows
that pass the coherent test, are in ``docs/results/head_detection.json``, from
``experiments/head_detection.py``)."""
DD_PASSES = 2
"""Decision-directed passes over a map whose CRC failed: the Golay decisions, re-encoded, are taken as
known symbols, so the phase and drift are fitted to all the map's subcarriers, not its pilots alone
(as ``phy.rx.Receiver`` does for control frames)."""
RUN_WINDOWS = -(-(SYNC_PERIODS + len(END_PATTERN)) // DETECT_BLOCKS) + 1
"""Windows that can overlap one sync: a run of passing windows is closed at this length."""
FRAME_REACH = 8
"""Samples either side of a frame's implied start that ``frame_match`` searches."""
FRAME_MATCH_Z = 4.0
"""``frame_match``'s threshold, in standard deviations of its statistic on samples unrelated to the
frame (Rayleigh with E z^2 = 1: the 17 shifts pass together with probability 17 exp(-16) = 2e-6); the
frame itself gives about sqrt(520 SNR) (its LTF and header: 10 symbols of 52 known subcarriers): 5.7 at
-12 dB in-band, 4.6 at -14 dB."""
CFO_LAG = 8
"""Periods between the correlations whose phase refines a detection window's CFO (``locate_head``)."""
END_MATCH = 2.5
"""The end template's normalised correlation (at most 4 for its 16 periods; about N(0, 1) where the
periods are unrelated to the channel, as in a window of other signals that passed the detection test
by chance) below which a place is no candidate for the sync's end (its map is then not decoded)."""
END_CANDIDATES = 3
"""Places of the sync's end tried, likeliest first, until the map's CRC passes."""
_FIELDS = ">BHH"  # stream id, nonce, frame count


@dataclass(frozen=True)
class HeadMap:
    """What a stream head carries: the header fields its frames share and a control payload."""

    stream_id: int
    nonce: int
    frame_count: int
    payload: bytes

    def pack(self) -> bytes:
        return struct.pack(_FIELDS, self.stream_id, self.nonce, self.frame_count) + bytes(self.payload)

    @classmethod
    def unpack(cls, data: bytes) -> "HeadMap":
        sid, nonce, count = struct.unpack_from(_FIELDS, data)
        return cls(sid, nonce, count, bytes(data[struct.calcsize(_FIELDS):]))


def map_bytes(payload_bytes: int) -> int:
    """Bytes the map of a head with a ``payload_bytes`` control payload codes."""
    return struct.calcsize(_FIELDS) + payload_bytes


def map_symbols(payload_bytes: int, params: OfdmParams) -> int:
    """OFDM symbols of the map of a head with a ``payload_bytes`` control payload."""
    return repeated_symbols(map_bytes(payload_bytes), params, HEAD_COPIES)


def sync_length(params: OfdmParams) -> int:
    """Samples of the sync: SYNC_PERIODS LTF symbols and the end pattern's."""
    return _sync_signs().size * params.n_fft


@lru_cache(maxsize=1)
def _sync_signs() -> np.ndarray:
    """The sign of each LTF symbol of the sync, float (SYNC_PERIODS + len(END_PATTERN),) (read-only)."""
    signs = np.concatenate([np.ones(SYNC_PERIODS), END_PATTERN])
    signs.flags.writeable = False
    return signs


def head_length(payload_bytes: int, params: OfdmParams) -> int:
    """Samples of a head (without its idle gap)."""
    return sync_length(params) + map_symbols(payload_bytes, params) * params.symbol_len


def head_waveform(head: HeadMap, params: OfdmParams) -> np.ndarray:
    """The head in time at unit power per used subcarrier, complex128 (head_length,), before the
    transmitter's DAC scaling."""
    _, data_pos, pilot_pos = layout(params)
    ltf = ltf_symbol(params)
    sync = np.outer(_sync_signs(), ltf).reshape(-1)
    bits = encode_control(head.pack(), params, copies=HEAD_COPIES)
    n_sym = bits.size // params.n_data
    grid = np.zeros((n_sym, data_pos.size + pilot_pos.size), dtype=np.complex128)
    grid[:, data_pos] = map_bits(bits, "bpsk").reshape(n_sym, params.n_data)
    grid[:, pilot_pos] = pilot_values(params, 0, n_sym)
    return np.concatenate([sync, symbols_to_time(params, grid)])


@lru_cache(maxsize=8)
def detect_threshold(params: OfdmParams) -> float:
    """The detection test's threshold: one bin's chi-square (2 n_data degrees of freedom, over its mean)
    passes with HEAD_FALSE_ALARM on noise."""
    dof = 2 * params.n_data
    return float(2 * scipy.special.gammainccinv(dof / 2, HEAD_FALSE_ALARM) / dof)   # chi-square's isf


def head_scores(x: np.ndarray, n_windows: int, params: OfdmParams, max_shift: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The detection test of ``n_windows`` consecutive windows of DETECT_BLOCKS blocks from x[0] (x
    holds at least that many blocks): ``coherent_test``, then, where it passes, ``structure_test``;
    ``max_shift``: the largest CFO in whole subcarriers (fs / n_fft) the structure test tries.

    Returns (C float (n_windows,), with 0 where the window's energy is uneven or its coherent sum is no
    LTF through a short channel (``structure_test`` under DELAY_SHARE); the best DFT bin over the
    blocks, float (n_windows,) in [0, DETECT_BLOCKS) in steps of a half bin: the CFO is
    bin / DETECT_BLOCKS * fs / n_fft modulo fs / n_fft)."""
    score, best, even = coherent_test(x, n_windows, params)
    ok = (score > detect_threshold(params)) & even
    if np.any(ok):
        blocks = np.asarray(x[: n_windows * DETECT_BLOCKS * params.n_fft], dtype=np.complex64)
        windows = blocks.reshape(n_windows, DETECT_BLOCKS, params.n_fft)[ok]
        ok[ok] = structure_test(windows, best[ok], params, max_shift) >= DELAY_SHARE
    return np.where(ok, score, 0.0), best


def coherent_test(x: np.ndarray, n_windows: int, params: OfdmParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coherent test C of ``n_windows`` consecutive windows from x[0] (module docstring), on a DFT
    over the blocks zero-padded to 2 DETECT_BLOCKS bins (a CFO between two of K bins would lose up to
    3.9 dB, between two of 2 K at most 0.9 dB). Returns (C float (n_windows,); its best bin, float
    (n_windows,) in [0, DETECT_BLOCKS) in steps of a half bin; whether the window's energy is even over
    its blocks (its largest block energy at most EVEN_ENERGY times their mean), bool (n_windows,))."""
    n, k = params.n_fft, DETECT_BLOCKS
    blocks = np.asarray(x[: n_windows * k * n], dtype=np.complex64).reshape(-1, n)
    spec = np.ascontiguousarray(scipy.fft.fft(blocks, axis=1)[:, _data_bins(params)].T)  # (n_data, B)
    block_e = (spec.real ** 2 + spec.imag ** 2).sum(axis=0).reshape(n_windows, k)
    coherent = scipy.fft.fft(spec.reshape(spec.shape[0], n_windows, k), n=2 * k, axis=-1)   # (n_data, W, 2K)
    per_bin = (coherent.real ** 2 + coherent.imag ** 2).sum(axis=0)                     # (W, 2K)
    best = np.argmax(per_bin, axis=1)
    total = np.maximum(block_e.sum(axis=1), 1e-30)
    score = per_bin[np.arange(best.size), best] / total
    return score, best / 2.0, block_e.max(axis=1) <= EVEN_ENERGY * total / k


def structure_test(windows: np.ndarray, best: np.ndarray, params: OfdmParams, max_shift: int) -> np.ndarray:
    """``delay_share`` of the coherent sums of ``windows`` (complex (w, DETECT_BLOCKS, n_fft), the
    blocks of w windows) at their best bins ``best`` (float (w,), ``coherent_test``), after undoing the
    CFO's fraction of a subcarrier (the phase step per block) within the blocks: it would spread each
    subcarrier over two bins. float (w,)."""
    n, k = params.n_fft, DETECT_BLOCKS
    frac = best / k
    frac -= np.round(frac)
    ramp = np.exp(-2j * np.pi * frac[:, None] * np.arange(n) / n)
    turn = np.exp(-2j * np.pi * best[:, None] * np.arange(k) / k)
    summed = np.einsum("wkn,wk->wn", windows, turn) * ramp
    return delay_share(scipy.fft.fft(summed, axis=1)[:, _data_bins(params)], params, max_shift)


def delay_share(y: np.ndarray, params: OfdmParams, max_shift: int) -> np.ndarray:
    """The share of the energy of y / LTF (y: complex (W, n_data), coherent sums on the data
    subcarriers) that the best DELAY_TAPS-tap circular window of its impulse response holds, the best
    over the LTF shifted by up to ``max_shift`` subcarriers either way: float (W,). A sync through a
    channel that short gives nearly 1; noise or a tone about DELAY_TAPS / n_fft, OFDM data a little
    more (``docs/results/head_detection.json``)."""
    n = params.n_fft
    full = np.zeros((y.shape[0], n), dtype=np.complex128)
    full[:, _data_bins(params)] = y
    ltf = np.zeros(n)
    ltf[params.bins(tuple(used_subcarriers(params)))] = ltf_freq(params)
    best = np.zeros(y.shape[0])
    for shift in range(-max_shift, max_shift + 1):
        taps = np.fft.ifft(np.roll(full, -shift, axis=1) * ltf, axis=1)
        best = np.maximum(best, _window_share(taps.real ** 2 + taps.imag ** 2, DELAY_TAPS))
    return best


def _window_share(e: np.ndarray, taps: int) -> np.ndarray:
    """The share of the energy e (float (..., n): an impulse response's |h|^2 per tap) that its best
    circular window of ``taps`` taps holds: float (...)."""
    cum = np.cumsum(np.concatenate([e, e[..., :taps]], axis=-1), axis=-1)
    windowed = cum[..., taps:] - cum[..., : e.shape[-1]]
    return windowed.max(axis=-1) / np.maximum(e.sum(axis=-1), 1e-30)


@lru_cache(maxsize=8)
def _data_bins(params: OfdmParams) -> np.ndarray:
    return params.bins(params.data_subcarriers)


@dataclass(frozen=True)
class HeadSync:
    """A located head.

    Attributes:
        end: stream index of the sync's end (the map's first sample).
        cfo_hz: CFO estimate, Hz.
        dc: DC offset estimate (x's units): the mean of the detection window's samples (the LTF has no
            DC subcarrier, and the CFO turns its periods' means about zero).
    """

    end: int
    cfo_hz: float
    dc: complex = 0j


def cfo_limit_hz(params: OfdmParams, max_cfo_hz: float | None) -> float:
    """The CFO range searched, Hz: ``max_cfo_hz``, or ±fs/32 (the STF's unambiguous range) for None."""
    return params.sample_rate_hz / 32 if max_cfo_hz is None else max_cfo_hz


def _cir_window_energy(h: np.ndarray, params: OfdmParams) -> tuple[float, int]:
    """(Share of the impulse response's energy in its best n_cp-tap circular window, its strongest
    tap) for a channel estimate on the used subcarriers (complex (n_used,))."""
    bins, _, _ = layout(params)
    full = np.zeros(params.n_fft, dtype=np.complex128)
    full[bins] = h
    e = np.abs(np.fft.ifft(full)) ** 2
    return float(_window_share(e, params.n_cp)), int(np.argmax(e))


def locate_head(x: np.ndarray, offset: int, first_block: int, best_bin: float, params: OfdmParams,
                max_cfo_hz: float | None) -> list[HeadSync]:
    """Places of the sync's end of a head detected in the window of blocks from stream index
    ``first_block``, likeliest first (at most END_CANDIDATES); x: samples from stream index ``offset``
    on, reaching ``head_span`` past the window's start (the sync may begin anywhere in the window);
    ``max_cfo_hz``: the CFO range (None: ±fs/32, as the frames' receiver)."""
    n, fs = params.n_fft, params.sample_rate_hz
    spacing = fs / n
    limit = cfo_limit_hz(params, max_cfo_hz)
    starts = first_block + n * np.arange(DETECT_BLOCKS)
    dc = complex(np.mean(x[first_block - offset: first_block - offset + DETECT_BLOCKS * n]))
    fine = _bin_cfo(x[first_block - offset: first_block - offset + DETECT_BLOCKS * n] - dc, best_bin, params)
    ltf = ltf_freq(params)
    best = None
    for alias in range(-int(limit // spacing) - 1, int(limit // spacing) + 2):
        cfo = fine + alias * spacing
        if abs(cfo) > limit + spacing / 2:
            continue
        h = fft_windows(params, x, starts - offset, cfo, offset, dc=dc).mean(axis=0) * ltf
        share, tap = _cir_window_energy(h, params)
        if best is None or share > best[0]:
            best = (share, tap, cfo)
    _, tap, cfo = best
    period0 = first_block + tap                           # a period boundary (stream index), mod n
    periods = period0 + n * np.arange(-1, _sync_signs().size + DETECT_BLOCKS + 2)
    periods = periods[(periods - offset >= 0) & (periods - offset + n <= x.size)]
    y = fft_windows(params, x, periods - offset, cfo, offset, dc=dc) * ltf
    inside = (periods >= first_block) & (periods + n <= first_block + DETECT_BLOCKS * n)
    c = y @ np.mean(y[inside], axis=0).conj()
    # the window's CFO is off by up to a few hundred hertz where the sync fills only part of it: refine
    # it on the correlations' phase step over CFO_LAG periods (unambiguous within ±fs / (2 n CFO_LAG))
    residual = np.angle(np.vdot(c[:-CFO_LAG], c[CFO_LAG:])) / (2 * np.pi * n * CFO_LAG) * fs
    cfo += residual
    rho = (c * np.exp(-2j * np.pi * residual * (periods - periods[inside].mean()) / fs)).real
    template = np.concatenate([np.ones(SYNC_PLAIN), END_PATTERN])
    if rho.size < template.size:
        return []
    pieces = np.lib.stride_tricks.sliding_window_view(rho, template.size)
    match = pieces @ template / np.maximum(np.sqrt(np.einsum("ij,ij->i", pieces, pieces)), 1e-30)
    order = [i for i in np.argsort(match)[::-1][:END_CANDIDATES] if match[i] >= END_MATCH]
    return [HeadSync(int(periods[i] + template.size * n), cfo, dc) for i in order]


def _bin_cfo(window: np.ndarray, best_bin: float, params: OfdmParams) -> float:
    """CFO modulo fs / n_fft (Hz, in ±fs / 2 n_fft) of a detected window (its samples, DC removed): the
    phase of the lag-one products of the blocks' coherent halves (the DFT bin's phase step, refined)."""
    n = params.n_fft
    blocks = window.reshape(-1, n).astype(np.complex128)
    k = blocks.shape[0]
    turn = np.exp(-2j * np.pi * best_bin * np.arange(k) / k)[:, None]
    half = k // 2
    a, b = (blocks[:half] * turn[:half]).sum(axis=0), (blocks[half:] * turn[half:]).sum(axis=0)
    residual = np.angle(np.vdot(a, b)) / (2 * np.pi * half)
    step = best_bin / k + residual
    step -= np.round(step)
    return float(step * params.sample_rate_hz / n)


@dataclass(frozen=True)
class HeadReception:
    """A decoded head.

    Attributes:
        head: its map.
        start: stream index of its first sample.
        cfo_hz: the CFO refined on the whole sync, Hz.
        snr_db: in-band SNR estimate, dB: the mean |channel|^2 (less its estimate's noise) over noise_var.
        channel: complex (n_used,) the channel on the used subcarriers from the sync's LTF symbols, for
            FFT windows backed off n_cp/4 into the guard as a frame's are (``phy.frame.window_offsets``).
        noise_var: complex noise variance per subcarrier: the sync's periods' spread about their mean.
        dc: DC offset estimate (x's units): the mean of the sync's samples.
    """

    head: HeadMap
    start: int
    cfo_hz: float
    snr_db: float
    channel: np.ndarray
    noise_var: float
    dc: complex = 0j


def decode_map(x: np.ndarray, offset: int, sync: HeadSync, payload_bytes: int, params: OfdmParams,
               equalizer: Equalizer) -> HeadReception | None:
    """Decode the map of a head whose sync ends at ``sync.end`` (x: samples from stream index
    ``offset``, reaching the map's end); None when its CRC fails. The CFO is first refined on the sync
    (the phase between the averaged LTF symbols of its two halves), the channel comes from the sync's LTF
    symbols (averaged, as the two LTF rows of a frame), the phase track from the map's pilots
    (``equalizer``: a payload equaliser with ``first`` = 2), then, while the CRC fails, from its
    decisions (DD_PASSES)."""
    n, back = params.n_fft, params.n_cp // 4
    n_sym = map_symbols(payload_bytes, params)
    signs = _sync_signs()
    # every period's window but the first's (backed off into the idle gap before the sync)
    periods = sync.end - n * np.arange(signs.size - 1, 0, -1) - back
    signs = signs[1:, None]
    dc = complex(np.mean(x[sync.end - sync_length(params) - offset: sync.end - offset])) if \
        sync.end - sync_length(params) >= offset else sync.dc
    sync_rows = fft_windows(params, x, periods - offset, sync.cfo_hz, offset, dc=dc) * signs
    half = periods.size // 2
    turn = np.vdot(sync_rows[:half].sum(axis=0), sync_rows[half: 2 * half].sum(axis=0))  # late vs early
    cfo = sync.cfo_hz + float(np.angle(turn)) / (2 * np.pi * half * n) * params.sample_rate_hz
    window0 = sync.end - 2 * n - back                     # as a frame's first LTF window before its symbols
    if periods[0] < offset or window0 + _map_offsets(params, n_sym)[-1] + n > offset + x.size:
        return None                                       # the head is not wholly in x
    rows = fft_windows(params, x, np.concatenate([periods, window0 + _map_offsets(params, n_sym)]) - offset,
                       cfo, offset, dc=dc)
    sync_rows = rows[: periods.size] * signs
    y = np.concatenate([[sync_rows[0::2].mean(axis=0), sync_rows[1::2].mean(axis=0)], rows[periods.size:]])
    known = known_entries(params, n_sym, 0, None)
    for _ in range(1 + DD_PASSES):
        eq = equalizer(y[None], known)
        llr = demap_llr(eq.equalized[0].reshape(-1), eq.error_var[0].reshape(-1), "bpsk")
        data, ok, sent = decode_control_bits(llr, map_bytes(payload_bytes))
        if ok:
            mean = sync_rows.mean(axis=0)
            noise_var = float(np.mean(np.abs(sync_rows - mean) ** 2)) * periods.size / (periods.size - 1)
            snr = max(float(np.mean(np.abs(mean) ** 2)) - noise_var / periods.size, 1e-12) / noise_var
            return HeadReception(HeadMap.unpack(data), sync.end - sync_length(params), cfo, 10 * np.log10(snr),
                                 mean * ltf_freq(params), noise_var, dc)
        known = known_entries(params, n_sym, n_sym, sent[None])
    return None


def frame_match(x: np.ndarray, offset: int, start: int, header_bits: np.ndarray, params: OfdmParams,
                head: HeadReception) -> int | None:
    """Where a frame of the head's stream begins near ``start`` (stream index of its first STF sample,
    as the stream's layout implies; x from stream index ``offset``): the shift within ±FRAME_REACH
    samples (a sample-rate offset moves the frames) at which its LTF and header (``header_bits``, the
    header's transmitted bits) best match the head's channel, non-coherently (the residual CFO turns
    the common phase over a stream), normalised by the power of the samples compared (so that a
    strong signal there that is not this frame, e.g. another frame's data, scores like noise); None
    where no shift reaches FRAME_MATCH_Z (the frame is not where the layout puts it: not sent back to
    back after the head)."""
    n_hdr = header_bits.size // params.n_data
    offsets = window_offsets(params, n_hdr)
    shifts = np.arange(-FRAME_REACH, FRAME_REACH + 1)
    first = start + stf_length(params) + params.n_fft // 2 - params.n_cp // 4
    y = fft_windows(params, x, (first + shifts[:, None] + offsets[None]).reshape(-1) - offset, head.cfo_hz,
                    offset, dc=head.dc).reshape(shifts.size, offsets.size, -1)
    ref = head.channel * known_entries(params, n_hdr, n_hdr, header_bits[None]).x_full[0]
    power = np.mean(y.real ** 2 + y.imag ** 2, axis=(1, 2))           # noise, or whatever else is there
    z = np.abs(np.einsum("srk,rk->s", y, ref.conj())) / np.sqrt(power * np.sum(np.abs(ref) ** 2))
    best = int(np.argmax(z))
    return int(shifts[best]) if z[best] >= FRAME_MATCH_Z else None


def _map_offsets(params: OfdmParams, n_sym: int) -> np.ndarray:
    """FFT window starts of the map's symbols relative to the window of the sync's last period but
    one (as ``phy.frame.window_offsets`` past a frame's two LTF windows)."""
    return 2 * params.n_fft + params.n_cp + params.symbol_len * np.arange(n_sym)


def head_span(payload_lengths: tuple[int, ...], params: OfdmParams) -> int:
    """Samples from a detection window's start to the end of the longest map it may lead to (the sync
    may begin anywhere in the window; ``locate_head`` reads two periods past the sync's latest end)."""
    longest = max(map_symbols(b, params) for b in payload_lengths)
    return (_sync_signs().size + DETECT_BLOCKS + 3) * params.n_fft + longest * params.symbol_len


@dataclass(frozen=True)
class Detection:
    """A detected head waiting for its samples: the best window of its run of passing windows.

    Attributes:
        window: stream index of the window's first block.
        best_bin: its DFT bin over the blocks (``head_scores``: in steps of a half bin).
        need: one past the last stream index that locating the head and decoding its map read.
    """

    window: int
    best_bin: float
    need: int


class HeadSearch:
    """Streaming head detection (``head_scores``) over the detection path's samples: the windows on the
    block grid (stream indices multiple of n_fft) not tested yet, in runs of consecutive passing
    windows (a sync passes in up to RUN_WINDOWS of them); the best window of each run becomes a
    ``Detection``, and windows up to the end of its longest possible map are not tested.

    Args:
        params: the numerology.
        payload_lengths: control payload lengths (bytes) a head may carry (the receiver's ``control_lengths``).
        max_cfo_hz: the CFO range, Hz (None: ±fs/32, as the frames' receiver).
    """

    def __init__(self, params: OfdmParams, payload_lengths: tuple[int, ...], max_cfo_hz: float | None = None) -> None:
        self.params = params
        self.max_shift = math.ceil(cfo_limit_hz(params, max_cfo_hz) / (params.sample_rate_hz / params.n_fft))
        self.span = head_span(payload_lengths, params)
        self.threshold = detect_threshold(params)
        self.scan = 0                  # stream index of the next window to test
        self.quiet_until = 0           # windows starting before this stream index are not tested
        self.run: list[tuple[float, int, float]] = []   # (score, window, bin) of the passing run being read
        self.pending: list[Detection] = []

    def feed(self, det: np.ndarray, offset: int, busy: list[tuple[int, int]] = ()) -> None:
        """Test the windows that the detection samples ``det`` (stream index ``offset`` on) complete,
        except those that overlap a span of ``busy`` ((start, end) stream indices: bursts the receiver
        has accepted or whose header has decoded, where no head can be)."""
        step = DETECT_BLOCKS * self.params.n_fft
        n_windows = (offset + det.size - self.scan) // step
        if n_windows <= 0:
            return
        starts = self.scan + step * np.arange(n_windows)
        test = np.ones(n_windows, dtype=bool)
        for a, b in busy:
            test &= (starts + step <= a) | (starts >= b)
        scores, bins = np.zeros(n_windows), np.zeros(n_windows)
        if np.any(test):
            windows = det[self.scan - offset: self.scan - offset + n_windows * step].reshape(n_windows, step)
            scores[test], bins[test] = head_scores(windows[test].reshape(-1), int(test.sum()), self.params,
                                                   self.max_shift)
        hits = np.flatnonzero(scores > self.threshold)
        if self.run and (hits.size == 0 or hits[0] != 0):
            self._close()                                   # the run ended at the first window
        for i in hits.tolist():
            window = self.scan + i * step
            if self.run and window != self.run[-1][1] + step:
                self._close()
            if window < self.quiet_until:
                continue
            self.run.append((float(scores[i]), window, float(bins[i])))
            if len(self.run) == RUN_WINDOWS:
                self._close()
        if self.run and self.run[-1][1] != self.scan + (n_windows - 1) * step:
            self._close()                                   # a window after the run failed
        self.scan += n_windows * step

    def close(self) -> None:
        """End the run being read (the stream ended)."""
        if self.run:
            self._close()

    def _close(self) -> None:
        _, window, best_bin = max(self.run)
        self.run = []
        self.pending.append(Detection(window, best_bin, window + self.span))
        self.quiet_until = window + self.span

    def keep_from(self) -> int:
        """The first stream index that a pending detection, the run being read or the next window reads
        (a window may lie anywhere in its sync: the sync may begin a whole sync before it)."""
        back = sync_length(self.params) + self.params.n_fft
        return min([d.window - back for d in self.pending] + [w - back for _, w, _ in self.run] + [self.scan])

