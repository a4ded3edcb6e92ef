"""The streaming receiver: detection, synchronisation, header decoding, equalisation, payload decoding."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phy.analog import symbols_to_values
from phy.control import decode_control
from phy.equalizer import track_and_equalize
from phy.frame import burst_length, payload_bits, payload_symbols, preamble_length, window_offsets
from phy.header import Header, decode_header_bits, n_header_symbols
from phy.known import known_entries
from phy.ldpc import decode_payload
from phy.modulation import demap_llr
from phy.ofdm import fft_windows, used_subcarriers
from phy.params import OfdmParams
from phy.preamble import stf_length
from phy.sync import LtfSync, beta_threshold, coarse_cfo_hz, ltf_search, stf_detect, stf_span

_NEED_MORE = object()


@dataclass
class _Payload:
    """A burst whose header is decoded and whose samples are all there, waiting for payload decoding.

    Attributes: y_hdr: complex (2 + n_hdr, n_used) CFO-corrected FFTs of the LTF and header;
    pay_starts: int64 (n_payload_symbols,) buffer indices of the payload's FFT windows (the
    receiver FFTs the payloads of all bursts found in one call together, into y_pay: complex
    (n_payload_symbols, n_used)); header; header_bits: its transmitted bits uint8 (n_hdr * n_data,);
    sync (LtfSync); start_sample: stream index of the burst's first STF sample.
    """

    y_hdr: np.ndarray
    pay_starts: np.ndarray
    header: Header
    header_bits: np.ndarray
    sync: LtfSync
    start_sample: int
    y_pay: np.ndarray | None = None


@dataclass
class ReceivedFrame:
    """One decoded frame.

    Attributes:
        header: the frame's header (its CRC passed).
        start_sample: absolute index in the stream of the estimated first STF sample.
        cfo_hz: estimated carrier frequency offset, Hz.
        snr_db: estimated in-band SNR (per-subcarrier Es/N0 on the used subcarriers), dB.
        values: analog frames: float32 (header.length,) unbiased estimates of the sent values.
        noise_var: analog frames: float32 (header.length,) error variance of each value (values' units).
        payload: digital and control frames: the decoded bytes (check ``crc_ok``).
        crc_ok: digital and control frames: the payload CRC (CRC-32, control: CRC-16) matched.
        llr: digital and control frames: float32 (n_bits,) LLRs log P(1)/P(0) of the transmitted
            (scrambled) bits; copies of one payload add (``phy.control.decode_control`` of the sum).
        diagnostics: 'subcarriers' int (n_used,), 'channel' complex (n_used,),
            'snr_per_subcarrier_db' (n_used,), 'noise_var_per_subcarrier' (n_used,), 'noise_var' (float),
            'constellation_raw' / 'constellation_eq' complex (n_payload_symbols, n_data) before / after
            equalisation, 'sro_ppm' (float), 'ltf_metric' (float).
    """

    header: Header
    start_sample: int
    cfo_hz: float
    snr_db: float
    values: np.ndarray | None = None
    noise_var: np.ndarray | None = None
    payload: bytes | None = None
    crc_ok: bool = False
    llr: np.ndarray | None = None
    diagnostics: dict = field(default_factory=dict)


def _check_samples(x) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"receiver input must be a 1-D complex array, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.complex64)
    if not np.iscomplexobj(a):
        raise ValueError(f"receiver input must be complex baseband (I + jQ), got dtype {a.dtype}; "
                         "convert with x.astype(np.complex64) or pass i + 1j * q")
    b = np.ascontiguousarray(a, dtype=np.complex64)
    # the sum of squares is finite unless a sample is not (or it overflows: then the exact test decides)
    with np.errstate(over="ignore", invalid="ignore"):
        energy = np.dot(b.view(np.float32), b.view(np.float32))
    if not np.isfinite(energy) and not np.all(np.isfinite(a)):
        raise ValueError("receiver input contains NaN or inf samples; check the radio or file")
    return b


class Receiver:
    """Streaming OFDM burst receiver.

    ``process(chunk)`` may be called with chunks of any size; frames that straddle chunk boundaries
    are returned once complete. ``flush()`` decodes what the buffer still holds (a burst at the very
    end of the stream). ``receive(samples)`` is process + flush.

    Args:
        params: OFDM numerology (must match the transmitter).
        false_alarm_prob: per-sample probability that noise alone passes the STF test (the LTF test
            at the same probability per search and the header CRC-16 follow).
        max_payload_symbols: longest payload accepted (longer headers are treated as corrupt).
        ldpc_iterations: belief-propagation iterations for digital frames.
    """

    def __init__(self, params: OfdmParams = OfdmParams(), *, false_alarm_prob: float = 1e-4,
                 max_payload_symbols: int = 1024, ldpc_iterations: int = 20) -> None:
        if not 0 < false_alarm_prob < 1:
            raise ValueError(f"false_alarm_prob must be in (0, 1), got {false_alarm_prob}")
        self.params = params
        self.false_alarm_prob = false_alarm_prob
        self.max_payload_symbols = max_payload_symbols
        self.ldpc_iterations = ldpc_iterations
        self._lag, self._window = stf_span(params)
        self._threshold = beta_threshold(self._window, false_alarm_prob)
        self._hdr_syms = n_header_symbols(params)
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples; the next sample is stream index 0."""
        self._buf = np.zeros(0, dtype=np.complex64)
        self._offset = 0          # stream index of _buf[0]
        self._scan = 0            # next buffer index to test for a burst
        self._real_end = None     # buffer index where real samples end (set by flush)
        self._pending = None      # (stream index of the STF trigger, of the LTF, sync, header FFTs,
                                  # header, its bits) of a burst waiting for more samples
        self.stats = {"stf_triggers": 0, "ltf_confirmed": 0, "header_failed": 0, "frames": 0}
        """Counters since the last reset: STF tests fired, bursts confirmed by the LTF test, confirmed
        bursts whose header failed its CRC, frames returned."""

    # ----------------------------------------------------------------- streaming
    def process(self, chunk) -> list[ReceivedFrame]:
        """Feed complex samples (1-D); return the frames completed by them."""
        x = _check_samples(chunk)
        if x.size == 0:
            return []
        self._buf = np.concatenate([self._buf, x])
        return self._run()

    def flush(self) -> list[ReceivedFrame]:
        """Decode what is left (the stream ended); then the receiver starts a new stream position."""
        real = self._buf.size
        pad = preamble_length(self.params) + self._window + 4 * self.params.n_fft
        self._real_end = real
        self._buf = np.concatenate([self._buf, np.zeros(pad, dtype=np.complex64)])
        frames = self._run()
        self._pending = None
        self._offset += real
        self._buf = np.zeros(0, dtype=np.complex64)
        self._scan = 0
        self._real_end = None
        return frames

    def receive(self, samples) -> list[ReceivedFrame]:
        """All frames in a whole buffer of samples (process + flush)."""
        return self.process(samples) + self.flush()

    def _run(self) -> list[ReceivedFrame]:
        jobs: list[_Payload] = []
        span = self._window + self._lag
        if self._buf.size - self._scan >= span:
            hits, acorr = stf_detect(self._buf[self._scan:], self.params, self._threshold)
            hits += self._scan
            i = 0
            while i < hits.size:
                d = int(hits[i])
                self.stats["stf_triggers"] += 1
                out = self._try_frame(d, acorr[i])
                if out is _NEED_MORE:
                    self._scan = d
                    break
                if out is None:
                    nxt = d + self._lag
                else:
                    job, nxt = out
                    jobs.append(job)
                i = int(np.searchsorted(hits, nxt))
                self._scan = nxt
            else:
                self._scan = max(self._scan, self._buf.size - span + 1)
        if jobs:
            y_pay = self._fft(np.concatenate([job.pay_starts for job in jobs]),
                              np.concatenate([np.full(job.pay_starts.size, job.sync.cfo_hz) for job in jobs]))
            first = 0
            for job in jobs:
                job.y_pay, first = y_pay[first: first + job.pay_starts.size], first + job.pay_starts.size
        keep_from = min(self._scan, self._buf.size)
        if self._real_end is None and keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._offset += keep_from
            self._scan -= keep_from
        frames = self._decode_payloads(jobs)
        self.stats["frames"] += len(frames)
        return frames

    # ----------------------------------------------------------------- one burst
    def _available(self, end: int) -> bool:
        limit = self._real_end if self._real_end is not None else self._buf.size
        return end <= limit

    def _try_frame(self, d: int, acorr: complex):
        """Synchronise the burst whose STF test fired at buffer index d and decode its header:
        (its payload to decode, end index), None, or _NEED_MORE.

        A burst that needs more samples keeps its synchronisation and header (keyed by the stream
        index of d) so that the next call, which fires at the same d, does not redo them."""
        p = self.params
        key = self._offset + d
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == key:
            t1, sync, y_hdr, header, bits = pending[1] - self._offset, *pending[2:]
        else:
            sync, y_hdr, header, bits = self._sync(d, acorr), None, None, None
            if sync is _NEED_MORE or sync is None:
                return sync
            t1 = sync.first_ltf
        starts = self._symbol_starts(t1 - p.n_cp // 4, self._hdr_syms)   # windows backed off into the guard
        if y_hdr is None:
            if not self._available(starts[-1] + p.n_fft + p.n_cp):
                return self._need_more(key, t1, sync, None, None, None)
            y_hdr = self._fft(starts, sync.cfo_hz)
            header, bits = self._decode_header(y_hdr)
        end = t1 - p.n_fft // 2 - stf_length(p) + (burst_length(header, p) if header else 0)
        if header is not None and payload_symbols(header, p) <= self.max_payload_symbols \
                and not self._available(end) and self._real_end is None:
            return self._need_more(key, t1, sync, y_hdr, header, bits)
        self.stats["ltf_confirmed"] += 1
        if header is None or payload_symbols(header, p) > self.max_payload_symbols:
            self.stats["header_failed"] += 1
            return None
        if not self._available(end):            # the stream ended inside this burst
            return None
        starts = self._symbol_starts(t1 - p.n_cp // 4, self._hdr_syms + payload_symbols(header, p))
        return _Payload(y_hdr, starts[y_hdr.shape[0]:], header, bits, sync, self._offset + t1 - p.n_fft // 2 - stf_length(p)), \
            end - p.n_cp // 4

    def _sync(self, d: int, acorr: complex):
        """LTF search around the STF trigger at buffer index d: LtfSync, None, or _NEED_MORE."""
        p = self.params
        lag, w = self._lag, self._window
        gi = p.n_fft // 2
        lo = d - lag + stf_length(p) + gi - p.n_cp
        hi = d + w + lag + stf_length(p) + gi + p.n_cp
        if hi + 2 * p.n_fft > self._buf.size:
            return None if self._real_end is not None else _NEED_MORE
        f0 = coarse_cfo_hz(acorr, p)
        alias = p.sample_rate_hz / lag
        cands = [f0] + ([f0 - np.sign(f0) * alias] if abs(f0) > 0.3 * alias else [])
        return ltf_search(self._buf, max(lo, 0), hi, cands, p, self.false_alarm_prob)

    def _need_more(self, key: int, t1: int, sync, y_hdr, header, bits):
        """_NEED_MORE, keeping what is done (buffer indices as stream indices: the buffer moves)."""
        if self._real_end is not None:
            return None
        self._pending = (key, self._offset + t1, sync, y_hdr, header, bits)
        return _NEED_MORE

    def _symbol_starts(self, w0: int, n_sym: int) -> np.ndarray:
        return w0 + window_offsets(self.params, n_sym)

    def _fft(self, starts: np.ndarray, cfo_hz: float | np.ndarray) -> np.ndarray:
        """CFO-corrected FFT of the windows at buffer indices ``starts`` (CFO in Hz, one or one per
        window): complex (len(starts), n_used)."""
        return fft_windows(self.params, self._buf, starts, cfo_hz, self._offset)

    def _decode_header(self, y: np.ndarray):
        """(Header or None, its transmitted bits uint8 (n_hdr * n_data,)) from its symbols (y: LTF +
        header, complex (2 + n_hdr, n_used)).

        First pass: the LTF channel and a common phase (residual CFO) fitted to the LTF and the
        pilots; over the header's few symbols the timing drift is negligible and fitting it near 0 dB
        costs more than it brings. If the CRC fails, a decision-directed second pass takes the Golay
        decoder's decisions as known symbols, so the channel, phase and drift are fitted to the whole
        header instead of the two LTF symbols (the LTF-only estimate's noise dominates the header's
        errors near 0 dB); the CRC still guards the result.
        """
        p = self.params
        n_hdr = self._hdr_syms
        y = y[None]
        *_, eq, var = track_and_equalize(y, known_entries(p, n_hdr, n_hdr, None), p, 0, 2)
        header, bits = decode_header_bits(demap_llr(eq.reshape(-1), var.reshape(-1), "bpsk"), p)
        if header is None:
            *_, eq, var = track_and_equalize(y, known_entries(p, n_hdr, n_hdr, bits[None]), p, 2, 2)
            header, bits = decode_header_bits(demap_llr(eq.reshape(-1), var.reshape(-1), "bpsk"), p)
        return header, bits

    def _decode_payloads(self, jobs: list[_Payload]) -> list[ReceivedFrame]:
        """Decode the payloads of bursts found in one call, frames of equal size together (tracking,
        channel estimation and equalisation vectorised over them). Frames in the order of ``jobs``."""
        p = self.params
        n_hdr = self._hdr_syms
        frames: list[ReceivedFrame | None] = [None] * len(jobs)
        groups: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.y_pay.shape[0], []).append(i)
        for n_pay, idx in groups.items():
            n_rows = 2 + n_hdr + n_pay
            y = np.empty((len(idx), n_rows, p.n_data + p.n_pilot), dtype=np.complex128)
            for b, i in enumerate(idx):
                y[b, : 2 + n_hdr] = jobs[i].y_hdr
                y[b, 2 + n_hdr:] = jobs[i].y_pay
            bits = np.stack([jobs[i].header_bits for i in idx])
            track, est, raw, eq, var = track_and_equalize(y, known_entries(p, n_rows - 2, n_hdr, bits), p, 2,
                                                          2 + n_hdr)
            snr_db = est.snr_db
            snr_sc_db = 10 * np.log10(np.maximum(est.snr_per_subcarrier, 1e-12))
            for b, i in enumerate(idx):
                job = jobs[i]
                frame = ReceivedFrame(header=job.header, start_sample=job.start_sample, cfo_hz=job.sync.cfo_hz,
                                      snr_db=float(snr_db[b]))
                self._payload(frame, eq[b], var[b])
                frame.diagnostics = {
                    "subcarriers": used_subcarriers(p),
                    "channel": est.h[b], "noise_var": float(est.noise_var[b]),
                    "snr_per_subcarrier_db": snr_sc_db[b],
                    "noise_var_per_subcarrier": est.noise_var_per_subcarrier[b],
                    "constellation_raw": raw[b], "constellation_eq": eq[b],
                    "sro_ppm": float(track.sro_ppm[b]), "ltf_metric": job.sync.metric,
                }
                frames[i] = frame
        return frames

    def _payload(self, frame: ReceivedFrame, eq: np.ndarray, var: np.ndarray) -> None:
        """Fill the frame's values and noise variances (analog) or LLRs, bytes and CRC (digital) from
        its equalised data symbols and their error variances (n_payload_symbols, n_data)."""
        header = frame.header
        if header.mode == "analog":
            frame.values, frame.noise_var = symbols_to_values(eq, var, header.length)
            return
        if header.mode == "control":
            frame.llr = demap_llr(eq.reshape(-1), var.reshape(-1), "bpsk").astype(np.float32)
            frame.payload, frame.crc_ok = decode_control(frame.llr, header.length)
            return
        llr = demap_llr(eq.reshape(-1), var.reshape(-1), header.modulation)[: payload_bits(header, self.params)]
        frame.llr = llr.astype(np.float32)
        frame.payload, frame.crc_ok = decode_payload(llr, header.length, header.modulation,
                                                     header.code_rate, self.ldpc_iterations)
