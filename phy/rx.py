"""The streaming receiver, as a chain of named stages in the manner of gr-digital's OFDM receiver:
detection (STF tests; stream heads, ``phy.head``, and the frames their layout implies) ->
synchronisation (LTF timing, CFO, DC offset) -> header (FFT, equalisation,
Golay + CRC, else a match to a heard stream's headers) -> payload demux (the header says how long the
burst is) -> channel estimation and tracking -> equalisation and demapping (analog values or
LDPC-decoded bytes). Each stage runs over all the bursts that one call's samples reach, so the FFTs,
equalisers and their compiled kernels see batches instead of one burst at a time.
"""
from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from phy.analog import symbols_to_values
from phy.control import decode_control_bits
from phy.equalizer import Equalizer
from phy.frame import burst_length, payload_bits, payload_symbols, preamble_length, window_offsets
from phy.head import (FRAME_REACH, Detection, HeadReception, HeadSearch, decode_map, frame_match, head_length,
                      locate_head)
from phy.header import (CONTROL_LEVELS, Header, decode_headers_bits, encode_header, match_headers, n_header_symbols,
                        stream_hypotheses)
from phy.known import known_entries
from phy.ldpc import decode_payload
from phy.modulation import demap_llr
from phy.ofdm import fft_windows, used_subcarriers
from phy.params import OfdmParams
from phy.preamble import stf_length
from phy.sync import (STF_BLOCK, TRIGGER_GAP_PERIODS, FloorTracker, FrontEnd, LtfSync, cfo_hypotheses, gap_dc,
                      known_preamble_cfo, ltf_search, ltf_snr_db, power_drops, stf_detect, stf_span,
                      stf_threshold)


HEARD_STREAMS = 8
"""Streams (stream id, nonce, frame count) whose frames the receiver expects again: the last ones heard."""
HYPOTHESIS_MAX_FRAMES = 64
"""A heard stream's failed headers are matched against every frame index only up to this frame count
(more candidates would make a wrong match likelier and the test slower)."""


LTF_FALSE_ALARM = 1e-2
"""Probability that noise alone passes the LTF test, per search. Only STF triggers are searched (about
7 per 10^6 noise samples at the default false_alarm_prob), so the two tests pass noise about 7e-8 times
per sample (``bench outage`` measures false_alarms_per_1e6), and a header must still pass its CRC or
match a heard stream's; a stricter LTF test would cost weak bursts (its threshold on the normalised
correlation over ~200 positions: about 0.075 here, 0.108 at 1e-4)."""
HEADER_CFO_STEP = 1 / 64
"""``Receiver._header_cfo_search``: spacing of the CFO hypotheses, in subcarrier spacings (0.49 kHz
at 2 MS/s and n_fft 64: a CFO error of half a step turns the last of 8 header symbols by 0.5 rad)."""
HEADER_CFO_STEPS = (0, -1, 1, -2, 2)
"""... and the hypotheses, in HEADER_CFO_STEPs from the estimate, in the order tried (nearest first):
±0.98 kHz at 2 MS/s around the known-preamble estimate (``phy.sync.known_preamble_cfo``), whose
error on TDL-C and Rayleigh bursts at -5 dB mean in-band SNR is 0.7 kHz rms (1.6-1.8 kHz for the
lag products it refines; ``docs/results/known_preamble_cfo.json``). Before that estimate the search
reached ±5.9 kHz (25 hypotheses) around the lag-product estimate; side by side on the 2000 runs of
``bench outage`` this receiver gives 10 images more and 3 fewer
(``docs/results/outage_receiver_known_cfo.json``)."""
HEADER_CFO_SEARCH_MAX_DB = 10.0
"""... a failed header whose burst stands this far above the noise floor (in-band SNR from the power over
its LTF and header, ``Receiver._in_band_snr_db``) is neither searched nor parked: there the preamble's
CFO estimate is off by about 0.2 kHz or less (0.53 kHz at 0 dB, ``phy.sync.preamble_cfo``, falling
as 1/sqrt(SNR)), under half a HEADER_CFO_STEP, so no hypothesis can do better than the estimate;
what fails there is a burst confirmed at a wrong timing (a trigger that fired early, whose LTF search
found the LTF's half match one symbol early or the STF under a one-subcarrier CFO hypothesis, the
burst then found again by ``Receiver._rescan``) or a foreign one, where the search only costs time
(each hypothesis equalised and Golay-decoded)."""
KNOWN_CFO_MAX_DB = 10.0
"""A burst whose LTF's two symbols agree to an in-band SNR below this (``phy.sync.ltf_snr_db``, which
depends on the burst's samples alone) gets its CFO refined on the known preamble before its header is
decoded (``phy.sync.known_preamble_cfo``, 0.1-0.15 ms of CPU per burst); above it the lag-product
estimate is already within about 0.2 kHz (``phy.sync.preamble_cfo``)."""
HEADER_CFO_MARGIN = 1.0
"""... a hypothesis whose header still fails replaces the first pass's LLRs only when they correlate
with their Golay decisions this many standard deviations more than the first pass's do (the largest
of several noisy scores is biased upwards)."""
CONTROL_DD_PASSES = 2
"""Decision-directed passes over a control frame whose CRC failed (``Receiver._control_dd``)."""
PARKED_HEADERS = 64
"""Failed headers kept (with their bursts' samples) for a stream heard later: the most recent ones."""
PARKED_SAMPLES = 1 << 17
"""... at most this many samples behind the detector (65 ms at 2 MS/s)."""


class Stage(enum.Enum):
    """Where a burst is in the receiver: the stage that runs next on it."""

    SYNC = "sync"          # the STF test fired: LTF search next
    HEADER = "header"      # the LTF test confirmed it: header decoding next
    PAYLOAD = "payload"    # the header is decoded: waiting for the payload's samples


@dataclass(slots=True)
class _Burst:
    """One burst on its way through the receiver (all positions are stream indices, samples).

    Attributes:
        trigger: first window whose STF test passed.
        autocorr: the STF test's value there, its phase the per-period phase advance (``phy.sync.stf_detect``).
        stage: the stage that runs next.
        dc: DC offset removed before the LTF search and the header's FFTs (``phy.sync.gap_dc``
            before the trigger, not reaching back beyond the previous burst's LTF), then before
            all its FFTs (over the gap after the previous burst's end, once that is known).
        sync: LTF timing (first_ltf as a stream index) and CFO, from the HEADER stage on.
        header, header_bits: the decoded header and its transmitted bits (uint8 (n_hdr * n_data,)),
            from the PAYLOAD stage on.
        retry: a trigger found again before the LTF of a burst whose header failed (an early
            trigger on noise can confirm a burst's LTF at a wrong timing or CFO alias and hide the
            triggers on its STF): searched although it lies before the last confirmed LTF, unless
            a trigger searched just before it confirms one after it.
        need: one past the last sample (stream index) the next stage reads (set by the receiver
            with each stage; the burst's end in the PAYLOAD stage).
    """

    trigger: int
    autocorr: complex
    stage: Stage = Stage.SYNC
    dc: complex = 0j
    sync: LtfSync | None = None
    header: Header | None = None
    header_bits: np.ndarray | None = None
    retry: bool = False
    need: int = 0

    def window0(self, params: OfdmParams) -> int:
        """Start of the first LTF FFT window (backed off n_cp/4 into the guard interval)."""
        return self.sync.first_ltf - params.n_cp // 4

    def start(self, params: OfdmParams) -> int:
        """Estimated first STF sample."""
        return self.sync.first_ltf - params.n_fft // 2 - stf_length(params)

    def end(self, params: OfdmParams) -> int:
        """One past the burst's last sample (PAYLOAD stage)."""
        return self.start(params) + burst_length(self.header, params)

@dataclass
class ReceivedFrame:
    """One decoded frame (or a stream head's control frame: its diagnostics then hold 'subcarriers',
    'channel', 'noise_var' and 'head').

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
    end of the stream). ``receive(samples)`` is process + flush. Each call runs the stages in
    order over every burst its samples reach: ``_detect`` -> ``_synchronise`` -> ``_decode_headers``
    -> ``_demux`` -> ``_equalise`` -> the analog values (``_analog_values``, in batches) or
    ``_decode_payload`` (per digital or control frame).

    Args:
        params: OFDM numerology (must match the transmitter).
        false_alarm_prob: per-sample probability that noise alone passes the STF test (the LTF test
            at LTF_FALSE_ALARM per search and the header CRC-16 follow).
        max_payload_symbols: longest payload accepted (longer headers are treated as corrupt).
        ldpc_iterations: belief-propagation iterations for digital frames.
        max_cfo_hz: CFO search range ±max_cfo_hz (Hz); None: the STF's unambiguous range ±fs/32
            (±62.5 kHz at 2 MS/s). A wider range (e.g. 60e3 for ±25 ppm at 2.4 GHz at a lower sample
            rate) tests every STF alias within it on the LTF (``phy.sync.cfo_hypotheses``).
        control_lengths: payload lengths (bytes) of the control frames a heard stream may also
            carry (the link's stream descriptor), besides those already received; also those a
            stream head (``phy.head``) may carry: with any given, the receiver searches for heads.
        layout: the headers of the frames that follow a stream head back to back (each after the
            idle gap), from the head's control frame header and payload (the link's descriptor);
            None: frames are found by their own preambles only.

    Stream heads (``phy.head``, searched when ``control_lengths`` are given): a head found and its
    map decoded gives a control frame at index 0 carrying the map's payload (``stats['heads']``), and its
    stream is heard from then on, as if that frame's header had decoded. With a ``layout``, the frames
    it lists are then looked for where the layout puts them (``phy.head.frame_match``: their LTF and
    known header through the head's channel, within a few samples) and, where found, filed with those
    headers (``stats['implied']``), whether or not their own preamble and header could be received.

    Headers of heard streams: once a header of a stream (stream id, nonce, frame count) has decoded,
    a later or simultaneous burst whose header fails Golay + CRC is matched against the headers that
    stream can still send (every frame index, with the modes and lengths heard in it, analog lengths
    ± 2 values, and ``control_lengths``; ``phy.header.match_headers``), so that its frames still count
    when the channel is too weak for a header alone (``stats['header_matched']``). Two or more failed
    headers of one batch are also tried as frames of one stream not heard yet
    (``phy.header.stream_hypotheses``: what all frames of a stream share decoded from all of them).
    """

    def __init__(self, params: OfdmParams = OfdmParams(), *, false_alarm_prob: float = 1e-4,
                 max_payload_symbols: int = 1024, ldpc_iterations: int = 20,
                 max_cfo_hz: float | None = None, control_lengths: tuple[int, ...] = (),
                 layout: Callable[[Header, bytes], list[Header]] | None = None) -> None:
        if not 0 < false_alarm_prob < 1:
            raise ValueError(f"false_alarm_prob must be in (0, 1), got {false_alarm_prob}")
        if max_cfo_hz is not None and not 0 < max_cfo_hz < params.sample_rate_hz / 2:
            raise ValueError(f"max_cfo_hz must be in (0, {params.sample_rate_hz / 2:g}) Hz (half the sample rate) "
                             f"or None for ±fs/32, got {max_cfo_hz}")
        self.params = params
        self.false_alarm_prob = false_alarm_prob
        self.max_payload_symbols = max_payload_symbols
        self.ldpc_iterations = ldpc_iterations
        self.max_cfo_hz = max_cfo_hz
        self.control_lengths = tuple(int(n) for n in control_lengths)
        self.layout = layout
        self._lag, self._window = stf_span(params)
        self._threshold = stf_threshold(params, false_alarm_prob)
        self._hdr_syms = n_header_symbols(params)
        # how far past a trigger the LTF search reads, and past the first LTF window the header's FFTs
        self._sync_reach = (self._window + self._lag + stf_length(params) + params.n_fft // 2 + params.n_cp
                            + 2 * params.n_fft)
        self._header_reach = int(window_offsets(params, self._hdr_syms)[-1]) + params.n_fft + params.n_cp
        # samples kept before a trigger: its burst may start up to W + L earlier, its idle gap before that
        self._history = params.idle_gap + self._window + self._lag + stf_length(params)
        # the four equalisers: the header's first pass (LTF channel, common-phase line), its
        # decision-directed second pass, its CFO search (LTF channel alone), and the payload's
        # (channel fitted to the LTF and header)
        self._header_eq = Equalizer(params, passes=0, first=2)
        self._header_dd_eq = Equalizer(params, passes=2, first=2)
        self._header_cfo_eq = Equalizer(params, passes=-1, first=2)
        self._payload_eq = Equalizer(params, passes=2, first=2 + self._hdr_syms)
        self._head_eq = Equalizer(params, passes=2, first=2)
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples; the next sample is stream index 0."""
        self._clear_samples()
        self._front = FrontEnd(STF_BLOCK)
        self._floor = FloorTracker()
        self._offset = 0          # stream index of _buf[0]
        self._scan = 0            # stream index of the next window to test
        self._real_end = None     # stream index where real samples end (set by flush)
        self._bursts: list[_Burst] = []
        self._next_trigger = 0    # a new STF trigger must be at or after this stream index
        self._busy_until = 0      # end of the last accepted burst (less n_cp/4), stream index
        self._dc = 0j             # the last burst's DC offset estimate
        self._last_ltf = 0        # first LTF sample of the last burst the LTF test confirmed, stream index
        self._heard: OrderedDict = OrderedDict()   # (stream id, nonce, frame count) -> {header shape}
        # failed headers kept for matching: (burst, LLRs, _heard_changes when their CFO search last ran)
        self._parked: list[tuple[_Burst, np.ndarray, int]] = []
        self._heard_changes = 0   # how many times the headers the heard streams may send (_candidates) changed
        self._candidates_cache: list[Header] | None = None
        self._heads = self._new_head_search()
        self._implied: list[tuple[Header, int, HeadReception]] = []   # (header, implied start, its head)
        self._accepted: list[tuple[int, int]] = []  # (start, end) of bursts accepted since the head scan passed them
        self.stats = {"stf_triggers": 0, "ltf_confirmed": 0, "header_failed": 0, "header_matched": 0, "frames": 0,
                      "control_dd": 0, "header_cfo_tries": 0, "heads": 0, "head_detections": 0, "implied": 0,
                      "implied_missed": 0}
        """Counters since the last reset: STF triggers examined, bursts confirmed by the LTF test,
        confirmed bursts whose header failed in their batch (Golay + CRC and the matching; a parked
        one may still match later), headers that failed their CRC but matched a heard stream's,
        frames returned, decision-directed passes over control frames whose CRC failed
        (``_control_dd``), heads whose map decoded and head detections (``_find_heads``), frames
        filed where a head's layout put them and those not found there (``_place_implied``)."""

    def _new_head_search(self) -> HeadSearch | None:
        """A fresh search for stream heads (none when the receiver knows no control frame lengths)."""
        return HeadSearch(self.params, self.control_lengths, self.max_cfo_hz) if self.control_lengths else None

    # ----------------------------------------------------------------- streaming
    def process(self, chunk) -> list[ReceivedFrame]:
        """Feed complex samples (1-D); return the frames completed by them."""
        x = _check_samples(chunk)
        if x.size == 0:
            return []
        self._append(x)
        return self._run()

    def _clear_samples(self) -> None:
        """Empty the sample buffers: ``_buf`` (the samples as received) and ``_det`` (the same
        through the detection front end, same indices) are views of the rows of ``_store``
        (complex64 (2, capacity)) from column ``_head`` on."""
        self._store = np.zeros((2, 0), dtype=np.complex64)
        self._head = 0
        self._buf, self._det = self._store[0], self._store[1]

    def _append(self, x: np.ndarray) -> None:
        """Append complex64 samples to the buffer and, through the front end, to the detection
        buffer, in place: the store is replaced (by one twice the samples kept, at least 2^18
        columns) only when they do not fit after its head."""
        n, m = self._buf.size, x.size
        if self._head + n + m > self._store.shape[1]:
            store = np.empty((2, max(2 * (n + m), 1 << 18)), dtype=np.complex64)
            store[:, :n] = self._store[:, self._head: self._head + n]
            self._store, self._head = store, 0
        end = self._head + n
        self._store[0, end: end + m] = x
        self._front(x, self._offset + n, out=self._store[1, end: end + m])
        self._buf, self._det = self._store[0, self._head: end + m], self._store[1, self._head: end + m]

    def flush(self) -> list[ReceivedFrame]:
        """Decode what is left (the stream ended); then the receiver starts a new stream position."""
        end = self._offset + self._buf.size
        pad = preamble_length(self.params) + self._window + 4 * self.params.n_fft
        self._real_end = end
        self._append(np.zeros(pad, dtype=np.complex64))
        frames = self._run()
        self._bursts = []
        self._parked = []
        self._implied = []
        self._accepted = []
        self._offset = end
        self._scan = self._next_trigger = self._busy_until = self._last_ltf = end
        self._heads = self._new_head_search()
        if self._heads is not None:
            self._heads.scan = self._heads.quiet_until = -(-end // self.params.n_fft) * self.params.n_fft
        self._clear_samples()
        self._front = FrontEnd(STF_BLOCK)
        self._floor = FloorTracker()
        self._real_end = None
        return frames

    def receive(self, samples) -> list[ReceivedFrame]:
        """All frames in a whole buffer of samples (process + flush)."""
        return self.process(samples) + self.flush()

    def _run(self) -> list[ReceivedFrame]:
        self._detect()
        self._synchronise()
        while self._decode_headers():
            self._synchronise()
        heads = self._find_heads()
        self._place_implied()
        bursts = self._demux()
        frames = heads + (self._equalise(bursts) if bursts else [])
        self._trim()
        self.stats["frames"] += len(frames)
        return frames

    def _available(self, end: int) -> bool:
        """Whether the samples up to stream index ``end`` (exclusive) are there."""
        return end <= (self._real_end if self._real_end is not None else self._offset + self._buf.size)

    def _waiting(self, burst: _Burst) -> bool:
        """Whether ``burst``'s next stage must wait for samples (False once the stream has ended)."""
        return self._real_end is None and not self._available(burst.need)

    def _burst(self, trigger: int, autocorr: complex) -> _Burst:
        """A burst in the SYNC stage for an STF trigger at stream index ``trigger``."""
        return _Burst(trigger=trigger, autocorr=autocorr, need=trigger + self._sync_reach)

    def _fft(self, starts: np.ndarray, cfo_hz: np.ndarray, dc: np.ndarray) -> np.ndarray:
        """CFO-corrected FFT of the windows at stream indices ``starts`` (one CFO in Hz and one DC
        offset per window): complex (len(starts), n_used)."""
        return fft_windows(self.params, self._buf, starts - self._offset, cfo_hz, self._offset, dc=dc)

    def _window_starts(self, bursts: list[_Burst], n_syms: list[int]) -> np.ndarray:
        """FFT window starts (stream indices) of each burst's two LTF symbols and its first
        ``n_syms[i]`` OFDM symbols (``phy.frame.window_offsets``), burst after burst: int64
        (sum of 2 + n_syms,)."""
        p = self.params
        first = np.array([b.window0(p) for b in bursts], dtype=np.int64)
        if len(set(n_syms)) == 1:                         # one size: one broadcast sum
            return (first[:, None] + window_offsets(p, n_syms[0])).reshape(-1)
        offsets = [window_offsets(p, n) for n in n_syms]
        return np.concatenate(offsets) + np.repeat(first, [o.size for o in offsets])

    # ----------------------------------------------------------------- stages
    def _detect(self) -> None:
        """Detection: the STF tests (autocorrelation, and matched filter near the noise floor:
        ``phy.sync.stf_detect``, on the samples through the DC blocker and spur notch,
        ``phy.sync.FrontEnd``) over the windows not tested yet; a trigger (at least
        TRIGGER_GAP_PERIODS L after the previous one) not inside an accepted burst starts a burst
        (SYNC)."""
        span = self._window + self._lag + self._lag // 2    # the matched-filter test reads half a period more
        first = self._scan - self._offset
        if self._buf.size - first < span:
            return
        hits, acorr = stf_detect(self._det, self.params, self._threshold, first, self._offset,
                                 self._next_trigger - self._offset, self._floor)
        self._scan = self._offset + self._buf.size - span + 1
        if hits.size:
            self._next_trigger = self._offset + int(hits[-1]) + TRIGGER_GAP_PERIODS * self._lag
        quiet = self._busy_until - self._window - self._lag - self._offset   # a trigger fires up to W + L early
        for d, a in zip(hits[hits >= quiet].tolist(), acorr[hits >= quiet].tolist()):
            self._bursts.append(self._burst(self._offset + d, a))

    def _find_heads(self) -> list[ReceivedFrame]:
        """Stream heads (``phy.head``): the detection test over the windows the new samples complete
        (but those overlapping a burst accepted or whose header has decoded: no head is there), then,
        for each detection whose samples are all there (or the stream ended), the places of its
        sync's end and the map at each length of ``control_lengths`` until its CRC passes. A decoded map
        gives a control frame (index 0, the map's stream fields and payload) and makes its stream heard."""
        if self._heads is None:
            return []
        p = self.params
        known = [(b.start(p), b.end(p)) for b in self._bursts if b.stage is Stage.PAYLOAD]
        self._heads.feed(self._det, self._offset, self._accepted + known)   # no head inside a known burst
        self._accepted = [span for span in self._accepted if span[1] > self._heads.scan]
        if self._real_end is not None:
            self._heads.close()
        frames, waiting = [], []
        for d in self._heads.pending:
            if not self._available(d.need) and self._real_end is None:
                waiting.append(d)
                continue
            self.stats["head_detections"] += 1
            frame = self._decode_head(d)                    # at the stream's end, from what is there
            if frame is not None:
                frames.append(frame)
        self._heads.pending = waiting
        return frames

    def _decode_head(self, d: Detection) -> ReceivedFrame | None:
        """The control frame of a detected head (``phy.head.Detection``), or None where no map decodes;
        with a ``layout``, the frames it lists join ``_implied``."""
        p = self.params
        for sync in locate_head(self._buf, self._offset, d.window, d.best_bin, p, self.max_cfo_hz):
            for n_bytes in self.control_lengths:
                rec = decode_map(self._buf, self._offset, sync, n_bytes, p, self._head_eq)
                if rec is None:
                    continue
                head = rec.head
                header = Header("control", n_bytes, frame_index=0, frame_count=head.frame_count,
                                stream_id=head.stream_id, nonce=head.nonce)
                self._hear(header)
                self.stats["heads"] += 1
                if self.layout is not None:
                    start = rec.start + head_length(n_bytes, p) + p.idle_gap
                    for h in self.layout(header, head.payload):
                        self._implied.append((h, start, rec))
                        start += burst_length(h, p) + p.idle_gap
                return ReceivedFrame(header=header, start_sample=rec.start, cfo_hz=rec.cfo_hz, snr_db=rec.snr_db,
                                     payload=head.payload, crc_ok=True,
                                     diagnostics={"subcarriers": used_subcarriers(p), "channel": rec.channel,
                                                  "noise_var": rec.noise_var, "head": True})
        return None

    def _place_implied(self) -> None:
        """Frames where a head's layout puts them, in order, as far as their samples are there: each
        one that ``phy.head.frame_match`` finds within a few samples of its place becomes a burst in
        the PAYLOAD stage with its known header and the head's CFO (a burst of the same frame found by
        its own preamble too is dropped by ``_demux`` as one inside an accepted burst)."""
        p = self.params
        reach = stf_length(p) + p.n_fft // 2 + int(window_offsets(p, self._hdr_syms)[-1]) + p.n_fft + FRAME_REACH
        waiting = []
        for i, (header, start, rec) in enumerate(self._implied):
            if not self._available(start + reach) and self._real_end is None:
                waiting = self._implied[i:]
                break
            if start + reach > self._offset + self._buf.size:
                continue                                    # the samples ended before it
            bits = encode_header(header, p)
            shift = frame_match(self._buf, self._offset, start, bits, p, rec)
            if shift is None:
                self.stats["implied_missed"] += 1
                continue
            first_ltf = start + shift + stf_length(p) + p.n_fft // 2
            b = _Burst(trigger=start + shift, autocorr=0j, stage=Stage.PAYLOAD,
                       sync=LtfSync(first_ltf, rec.cfo_hz, float("nan")), header=header, header_bits=bits)
            b.need = b.end(p)
            self._bursts = sorted(self._bursts + [b], key=lambda c: c.trigger)
            self.stats["implied"] += 1
        self._implied = waiting

    def _synchronise(self) -> None:
        """Synchronisation, in stream order: DC offset, then the LTF search around each trigger
        (timing, CFO). A trigger after which the power drops (``phy.sync.power_drops``: a burst's
        tail) and a burst the LTF test rejects are dropped; a confirmed one drops the triggers that
        fired before its LTF (on its own STF) unless its header fails (``_decode_headers``)."""
        p, lag, w = self.params, self._lag, self._window
        keep = []
        confirmed = -1                                      # first LTF of the burst confirmed last here
        for i, b in enumerate(self._bursts):
            if b.stage is not Stage.SYNC:
                keep.append(b)
                continue
            if self._waiting(b):
                keep += self._bursts[i:]
                break
            if b.trigger < (confirmed if b.retry else self._last_ltf):
                continue                                    # fired on the STF of the burst before
            self.stats["stf_triggers"] += 1
            d = b.trigger - self._offset
            base = stf_length(p) + p.n_fft // 2
            lo, hi = d - lag + base - p.n_cp, d + w + lag + base + p.n_cp
            if hi + 2 * p.n_fft > self._buf.size:           # the stream ended first
                continue
            if power_drops(self._det, d, w, max(lo, 0), hi + 2 * p.n_fft):
                continue                                    # fired on a burst's tail
            dc = gap_dc(self._buf, self._last_ltf - self._offset, d - lag, p)
            b.dc = self._dc if dc is None else dc
            sync = ltf_search(self._buf, max(lo, 0), hi, cfo_hypotheses(b.autocorr, p, self.max_cfo_hz), p,
                              LTF_FALSE_ALARM, dc=b.dc)
            if sync is None:
                continue
            b.sync = LtfSync(self._offset + sync.first_ltf, sync.cfo_hz, sync.metric)
            b.stage = Stage.HEADER
            b.need = b.window0(p) + self._header_reach
            self._last_ltf = max(self._last_ltf, b.sync.first_ltf)
            confirmed = b.sync.first_ltf
            self.stats["ltf_confirmed"] += 1
            keep.append(b)
        self._bursts = keep

    def _decode_headers(self) -> bool:
        """Header: FFT, equalisation and Golay + CRC of every burst whose header samples are
        there, in one batch. Bursts whose LTF gives an in-band SNR below KNOWN_CFO_MAX_DB first get
        their CFO refined on the known preamble (``phy.sync.known_preamble_cfo``). First pass: the
        LTF channel and a common phase (residual CFO) fitted to the LTF and the pilots; over the
        header's few symbols the timing drift is negligible and fitting it near 0 dB costs more than
        it brings. Where the CRC fails, a decision-directed
        second pass takes the Golay decoder's decisions as known symbols, so the channel, phase and
        drift are fitted to the whole header instead of the two LTF symbols (the LTF-only
        estimate's noise dominates the header's errors near 0 dB); the CRC still guards the result.
        Headers that still fail go through the CFO search (``_header_cfo_search``) and are parked,
        unless their burst stands HEADER_CFO_SEARCH_MAX_DB above the noise floor, and the parked
        headers of earlier batches go through it again once the heard streams have changed
        (``_search_parked``).
        A burst whose header fails, or announces a payload longer than max_payload_symbols, is
        dropped, and the STF test's triggers between its own and its LTF are found again (``_rescan``)
        for ``_synchronise``. Returns whether there are any."""
        p, n_hdr = self.params, self._hdr_syms
        batch = [b for b in self._bursts if b.stage is Stage.HEADER and not self._waiting(b)
                 and self._available(b.need)]
        if not batch:
            self._bursts = [b for b in self._bursts if b.stage is not Stage.HEADER or self._waiting(b)]
            return False
        for b in batch:
            first_ltf = b.sync.first_ltf - self._offset
            if ltf_snr_db(self._buf, first_ltf, p, b.dc) < KNOWN_CFO_MAX_DB:
                cfo = known_preamble_cfo(self._buf, first_ltf, b.sync.cfo_hz, p, b.dc)
                b.sync = LtfSync(b.sync.first_ltf, cfo, b.sync.metric)
        offsets = window_offsets(p, n_hdr)
        starts = self._window_starts(batch, [n_hdr] * len(batch))
        y = self._fft(starts, np.repeat([b.sync.cfo_hz for b in batch], offsets.size),
                      np.repeat([b.dc for b in batch], offsets.size)).reshape(len(batch), offsets.size, -1)
        llr = self._header_llr(self._header_eq(y, known_entries(p, n_hdr, n_hdr, None)))
        decoded = decode_headers_bits(llr, p)
        retry = [i for i, (h, _) in enumerate(decoded) if h is None]
        if retry:
            bits = np.stack([decoded[i][1] for i in retry])
            eq = self._header_dd_eq(y[retry], known_entries(p, n_hdr, n_hdr, bits))
            for i, d in zip(retry, decode_headers_bits(self._header_llr(eq), p)):
                decoded[i] = d
        for header, _ in decoded:
            if header is not None:
                self._hear(header)
        searched = self._heard_changes
        failed = [i for i, (h, _) in enumerate(decoded) if h is None]
        strong = {i for i in failed if self._in_band_snr_db(batch[i]) >= HEADER_CFO_SEARCH_MAX_DB}
        weak = [i for i in failed if i not in strong]
        if weak:
            self._header_cfo_search([batch[i] for i in weak], weak, llr, decoded)
        parked, self._parked = self._parked, []
        decoded += self._search_parked(parked)   # failed headers of earlier batches, matched again with these
        if parked:
            llr = np.concatenate([llr, np.stack([row for _, row, _ in parked])])
        self._match_failed(llr, decoded, [b.sync for b in batch] + [b.sync for b, _, _ in parked])
        for (b, row, seen), (header, bits) in zip(parked, decoded[len(batch):]):
            if header is None:
                self._parked.append((b, row, seen))
            elif self._fits(header):
                b.header, b.header_bits, b.stage = header, bits, Stage.PAYLOAD
                b.need = b.end(p)
                self._bursts = sorted(self._bursts + [b], key=lambda c: c.trigger)
        decoded = decoded[: len(batch)]
        for i, (b, (header, bits)) in enumerate(zip(batch, decoded)):
            if header is None or not self._fits(header):
                self.stats["header_failed"] += 1
                b.stage = None
                if header is None and i not in strong:
                    self._parked.append((dataclasses.replace(b), llr[i], searched))
                continue
            b.header, b.header_bits, b.stage = header, bits, Stage.PAYLOAD
            b.need = b.end(p)
        retry = [r for b in batch if b.stage is None for r in self._rescan(b)]
        self._bursts = [b for b in self._bursts if b.stage is not None
                        and (b.stage is not Stage.HEADER or self._waiting(b))]
        if retry:
            self._bursts = sorted(self._bursts + retry, key=lambda b: b.trigger)
        return bool(retry)

    def _header_cfo_search(self, bursts: list[_Burst], rows: list[int], llr: np.ndarray, decoded: list) -> None:
        """Headers that failed both passes, tried again at CFOs HEADER_CFO_STEPS away from their
        estimate (the estimate itself first), equalised with the LTF channel alone: near the
        control plane's limit (-5 dB in-band) the CFO estimate, refined on the known preamble
        (``phy.sync.known_preamble_cfo``), is still off by 0.7 kHz rms on fading realisations at
        -5 dB mean SNR, which turns the header's last symbols by radians, and the header's phase
        line, fitted to 4 pilots per symbol, follows it poorly and turns good headers into noise
        (measured on TDL-C and Rayleigh realisations at -5 dB with the lag-product estimate, 2.3 kHz
        rms then: the sent header's LLRs correlated with it at a median 5.9 standard deviations of
        noise through the first pass, 7.6 through the LTF channel alone); here the CFO hypothesis
        stands in for the phase line. The estimate is tried first, then the other hypotheses in one
        batch; where none passes Golay + CRC, the one whose LLRs correlate most with their Golay
        decisions (see below) gets a decision-directed pass (those decisions as known symbols, as
        in ``_decode_headers``), and every hypothesis's LLRs are matched against the heard
        streams' headers (``phy.header.match_headers``). The nearest hypothesis whose header
        passes Golay + CRC or matches is taken (its CFO replaces the burst's; the header is
        heard); else each header keeps the LLRs (in ``llr``, rows
        ``rows``, in place, for the matching and the parking that follow) and the CFO of the
        hypothesis whose LLRs correlate most, in standard deviations, with the transmitted bits of
        their own Golay decisions. ``decoded``: the (header, bits) of ``llr``'s rows, entries
        replaced in place."""
        p, n_hdr = self.params, self._hdr_syms
        n_w = window_offsets(p, n_hdr).size
        starts = self._window_starts(bursts, [n_hdr] * len(bursts)).reshape(len(bursts), n_w)
        dc = np.array([b.dc for b in bursts])

        def score(rows_llr, rows_bits) -> np.ndarray:
            corr = np.einsum("bi,bi->b", rows_llr, 2.0 * rows_bits - 1.0)
            return corr / np.sqrt(np.maximum(np.einsum("bi,bi->b", rows_llr, rows_llr), 1e-30))

        best = score(llr[rows], np.stack([decoded[i][1] for i in rows]))
        cfo = np.array([b.sync.cfo_hz for b in bursts])
        chosen = cfo.copy()
        replaced = np.zeros(len(rows), bool)        # the first pass's LLRs replaced by a hypothesis's
        open_ = np.ones(len(rows), bool)
        step = HEADER_CFO_STEP * p.sample_rate_hz / p.n_fft
        for ks in (HEADER_CFO_STEPS[:1], HEADER_CFO_STEPS[1:]):   # the first alone, then the rest in one batch
            idx = np.flatnonzero(open_)
            if not idx.size or not ks:
                continue
            n_k = len(ks)
            hyp = np.repeat(idx, n_k)                # hypotheses burst by burst, each in the order of ks
            f = cfo[hyp] + np.tile(ks, idx.size) * step
            y = self._fft(starts[hyp].reshape(-1), np.repeat(f, n_w),
                          np.repeat(dc[hyp], n_w)).reshape(hyp.size, n_w, -1)
            trial = self._header_llr(self._header_cfo_eq(y, known_entries(p, n_hdr, n_hdr, None)))
            self.stats["header_cfo_tries"] += hyp.size
            dec = decode_headers_bits(trial, p)
            sc = score(trial, np.stack([bits for _, bits in dec]))
            miss = [n * n_k + int(np.argmax(sc[n * n_k: (n + 1) * n_k])) for n in range(idx.size)
                    if all(d is None for d, _ in dec[n * n_k: (n + 1) * n_k])]   # per burst, its best hypothesis
            if miss:
                known = known_entries(p, n_hdr, n_hdr, np.stack([dec[j][1] for j in miss]))
                for j, d in zip(miss, decode_headers_bits(self._header_llr(self._header_dd_eq(y[miss], known)), p)):
                    if d[0] is not None:
                        dec[j] = d
            miss = [j for j in range(hyp.size) if dec[j][0] is None]
            matched = set()
            if miss and self._heard:
                for j, header in zip(miss, match_headers(trial[miss], self._candidates(), p)):
                    if header is not None:
                        dec[j] = (header, encode_header(header, p))
                        matched.add(j)
            sc = score(trial, np.stack([bits for _, bits in dec]))
            for n, i in enumerate(idx.tolist()):
                block = range(n * n_k, (n + 1) * n_k)
                j = next((j for j in block if dec[j][0] is not None), None)   # the nearest that decodes
                if j is not None:
                    decoded[rows[i]] = dec[j]
                    open_[i] = False
                    self.stats["header_matched"] += j in matched
                else:
                    j = block.start + int(np.argmax(sc[block]))
                    if sc[j] <= best[i] + (0.0 if replaced[i] else HEADER_CFO_MARGIN):
                        continue
                best[i] = sc[j]
                llr[rows[i]] = trial[j]
                chosen[i] = f[j]
                replaced[i] = True
        for header, _ in (decoded[r] for r in rows):
            if header is not None:
                self._hear(header)
        for b, cfo_hz in zip(bursts, chosen.tolist()):
            if cfo_hz != b.sync.cfo_hz:
                b.sync = LtfSync(b.sync.first_ltf, cfo_hz, b.sync.metric)

    def _in_band_snr_db(self, burst: _Burst) -> float:
        """The in-band SNR (dB per used subcarrier) of ``burst`` from the mean power of the detection
        samples over its LTF and header against the noise floor (``phy.sync.FloorTracker``); -inf
        before the floor is known or where the power is not above it."""
        floor = float(self._floor.state[0])
        lo = burst.window0(self.params) - self._offset
        seg = self._det[max(lo, 0): lo + self._header_reach]
        if not (np.isfinite(floor) and floor > 0.0) or not seg.size:
            return -np.inf
        excess = float(np.vdot(seg, seg).real) / seg.size / floor - 1.0
        return 10.0 * np.log10(excess / self.params.occupied_fraction) if excess > 0.0 else -np.inf

    def _search_parked(self, parked: list[tuple[_Burst, np.ndarray, int]]) -> list:
        """The CFO search (``_header_cfo_search``, which matches each hypothesis's LLRs against the
        heard streams' headers) run again on the parked headers that have not been searched since
        those headers last changed, e.g. a stream's first control frame, parked before any of its
        frames was heard; their LLRs (entries of ``parked``, replaced in place) become the best
        hypothesis's. Returns (header or None, bits or None) per entry of ``parked``."""
        out = [(None, None)] * len(parked)
        again = [j for j, (_, _, seen) in enumerate(parked) if seen != self._heard_changes] if self._heard else []
        if not again:
            return out
        searched = self._heard_changes
        llr = np.stack([parked[j][1] for j in again])
        found = decode_headers_bits(llr, self.params)
        self._header_cfo_search([parked[j][0] for j in again], list(range(len(again))), llr, found)
        for r, j in enumerate(again):
            parked[j] = (parked[j][0], llr[r], searched)
            if found[r][0] is not None:
                out[j] = found[r]
        return out

    def _fits(self, header: Header) -> bool:
        """Whether the payload a header announces is one the receiver takes: at most
        max_payload_symbols OFDM symbols, and (digital) within one LDPC codeword."""
        try:
            return payload_symbols(header, self.params) <= self.max_payload_symbols
        except ValueError:
            return False

    def _rescan(self, failed: _Burst) -> list[_Burst]:
        """The triggers (``phy.sync.stf_detect``) after ``failed``'s own and before its LTF, as SYNC bursts
        to search again (``_Burst.retry``)."""
        lo = failed.trigger + self._lag - self._offset
        hi = failed.sync.first_ltf - self._offset
        if hi <= lo:
            return []
        hits, acorr = stf_detect(self._det[lo: hi + self._window + self._lag], self.params, self._threshold,
                                 floor=self._floor.copy())
        return [dataclasses.replace(self._burst(self._offset + lo + d, a), retry=True)
                for d, a in zip(hits.tolist(), acorr.tolist())]

    @staticmethod
    def _header_llr(eq) -> np.ndarray:
        """Transmitted-bit LLRs (log P(1)/P(0)) of an equalised header batch: float (B, n_hdr * n_data)."""
        llr = demap_llr(eq.equalized.reshape(-1), eq.error_var.reshape(-1), "bpsk")
        return llr.reshape(eq.equalized.shape[0], -1)

    def _match_failed(self, llr: np.ndarray, decoded: list, syncs: list[LtfSync]) -> None:
        """Headers of a batch that failed Golay + CRC (None in ``decoded``, their LLRs rows of ``llr``
        (B, n), their LTF synchronisation ``syncs``): matched against the headers of the heard streams
        (``phy.header.match_headers``); when two or more bursts still fail, against those of one
        stream they may share (``phy.header.stream_hypotheses``: its common codewords decoded from
        all of them, one header per burst: of failed headers whose LTFs lie within a burst's
        preamble and header of each other, e.g. a burst confirmed again at another timing, the one
        with the strongest LTF), and what that stream makes heard is matched once more. Matches
        replace their entries in place."""
        p = self.params

        def match(failed, candidates, bits=None) -> None:
            for i, header in zip(failed, match_headers(llr[failed], candidates, p, bits)):
                if header is not None:
                    decoded[i] = (header, encode_header(header, p))
                    self.stats["header_matched"] += 1
                    self._hear(header)

        failed = [i for i, (h, _) in enumerate(decoded) if h is None]
        if failed and self._heard:
            match(failed, self._candidates())
            failed = [i for i in failed if decoded[i][0] is None]
        distinct = []
        for i in sorted(failed, key=lambda i: -syncs[i].metric):
            if all(abs(syncs[i].first_ltf - syncs[j].first_ltf) > self._header_reach for j in distinct):
                distinct.append(i)
        if len(distinct) >= 2:
            candidates, bits = stream_hypotheses(llr[distinct], p, self.control_lengths)
            if candidates:
                match(failed, candidates, bits)
                failed = [i for i in failed if decoded[i][0] is None]
                if failed and len(failed) < len(llr):
                    match(failed, self._candidates())

    def _hear(self, header: Header) -> None:
        """Remember the stream of a decoded header and the shape (mode, length, modulation, code rate, level)
        of its frame, for ``_candidates``; the HEARD_STREAMS most recently heard streams are kept."""
        key = (header.stream_id, header.nonce, header.frame_count)
        shapes = self._heard.pop(key, set())
        shape = (header.mode, header.length, header.modulation, header.code_rate, header.level)
        if shape not in shapes:
            self._candidates_cache = None
            self._heard_changes += 1
        shapes.add(shape)
        self._heard[key] = shapes
        while len(self._heard) > HEARD_STREAMS:
            self._heard.popitem(last=False)
            self._candidates_cache = None
            self._heard_changes += 1

    def _candidates(self) -> list[Header]:
        """Every header the heard streams may still send: each frame index with each heard shape,
        analog lengths also 2 values shorter and longer (``diffradio.stream.frame_slices`` cuts a
        stream's values into frames whose lengths differ by at most one pair), and control frames
        of ``control_lengths`` at every repetition level."""
        if self._candidates_cache is None:
            out = []
            for (sid, nonce, count), shapes in self._heard.items():
                if count > HYPOTHESIS_MAX_FRAMES:
                    continue
                kinds = set(shapes) | {("control", n, None, None, level) for n in self.control_lengths
                                       for level in range(CONTROL_LEVELS)}
                kinds |= {("analog", n + d, None, None, 0) for mode, n, *_ in shapes if mode == "analog"
                          for d in (-2, 2) if 0 < n + d < 1 << 16}
                for mode, length, modulation, rate, level in sorted(kinds, key=str):
                    out += [Header(mode, length, modulation, rate, i, count, sid, nonce, level) for i in range(count)]
            self._candidates_cache = out
        return self._candidates_cache

    def _demux(self) -> list[_Burst]:
        """Payload demux: in stream order, the bursts whose payload samples are all there; a burst
        that starts inside an accepted one is dropped, and the first burst still waiting holds back
        those after it (frames come out in stream order)."""
        p = self.params
        ready, keep = [], []
        for i, b in enumerate(self._bursts):
            if b.sync is not None and b.start(p) < self._busy_until:
                continue                                    # inside the burst accepted before it
            if b.stage is not Stage.PAYLOAD or self._waiting(b):
                keep = self._bursts[i:]
                break
            if not self._available(b.need):                 # the stream ended inside this burst
                continue
            dc = gap_dc(self._buf, self._busy_until + p.n_cp // 4 - self._offset, b.start(p) - self._offset, p)
            if dc is not None:
                self._dc = dc
            b.dc = self._dc
            ready.append(b)
            self._busy_until = b.need - p.n_cp // 4
            self._accepted.append((b.start(p), b.need))
        self._bursts = keep
        return ready

    def _equalise(self, bursts: list[_Burst]) -> list[ReceivedFrame]:
        """Channel estimation, tracking and equalisation of the payloads of ``bursts``, frames of
        equal size together (their FFTs in one call), then the analog frames' values (those of equal
        length together) and each digital or control frame's payload decoded.
        Frames in the order of ``bursts``."""
        p = self.params
        n_hdr = self._hdr_syms
        n_pay = [payload_symbols(b.header, p) for b in bursts]
        n_rows = [2 + n_hdr + n for n in n_pay]
        y_all = self._fft(self._window_starts(bursts, [n_hdr + n for n in n_pay]),
                          np.repeat([b.sync.cfo_hz for b in bursts], n_rows), np.repeat([b.dc for b in bursts], n_rows))
        frames: list[ReceivedFrame | None] = [None] * len(bursts)
        groups: dict[int, list[int]] = {}
        for i, n in enumerate(n_pay):
            groups.setdefault(n, []).append(i)
        first = np.cumsum([0] + n_rows) if len(groups) > 1 else None
        for n, idx in groups.items():
            if first is None:                               # one size: the FFT rows as they are
                y = y_all.reshape(len(bursts), n_rows[0], -1)
            else:
                y = np.stack([y_all[first[i]: first[i + 1]] for i in idx])
            known = known_entries(p, n_hdr + n, n_hdr, np.stack([bursts[i].header_bits for i in idx]))
            eq = self._payload_eq(y, known)
            est = eq.estimate
            snr_db = est.snr_db
            snr_sc_db = 10 * np.log10(np.maximum(est.snr_per_subcarrier, 1e-12))
            analog = self._analog_values([bursts[i].header for i in idx], eq)
            for j, i in enumerate(idx):
                b = bursts[i]
                frame = ReceivedFrame(header=b.header, start_sample=b.start(p), cfo_hz=b.sync.cfo_hz,
                                      snr_db=float(snr_db[j]))
                if j in analog:
                    frame.values, frame.noise_var = analog[j]
                else:
                    self._decode_payload(frame, eq.equalized[j], eq.error_var[j])
                    if frame.header.mode == "control" and not frame.crc_ok:
                        self._control_dd(frame, y[j], b.header_bits, n)
                frame.diagnostics = {
                    "subcarriers": used_subcarriers(p),
                    "channel": est.h[j], "noise_var": float(est.noise_var[j]),
                    "snr_per_subcarrier_db": snr_sc_db[j],
                    "noise_var_per_subcarrier": est.noise_var_per_subcarrier[j],
                    "constellation_raw": eq.received[j], "constellation_eq": eq.equalized[j],
                    "sro_ppm": float(eq.track.sro_ppm[j]), "ltf_metric": b.sync.metric, "dc_offset": b.dc,
                }
                frames[i] = frame
        return frames

    @staticmethod
    def _analog_values(headers: list[Header], eq) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The values and noise variances of the analog frames of an equalised payload batch
        (``phy.analog.symbols_to_values``), frames of equal value count in one call:
        {index in the batch: (values, noise_var)}."""
        by_length: dict[int, list[int]] = {}
        for j, h in enumerate(headers):
            if h.mode == "analog":
                by_length.setdefault(h.length, []).append(j)
        out = {}
        for n, js in by_length.items():
            rows = slice(js[0], js[-1] + 1) if js[-1] - js[0] == len(js) - 1 else js
            values, noise_var = symbols_to_values(eq.equalized[rows], eq.error_var[rows], n)
            out.update(zip(js, zip(values, noise_var)))
        return out

    def _control_dd(self, frame: ReceivedFrame, y: np.ndarray, header_bits: np.ndarray, n_pay: int) -> None:
        """Decision-directed passes over a control frame whose CRC failed (at most CONTROL_DD_PASSES):
        the Golay decoder's decisions, re-encoded, are taken as known symbols with the header, so
        that the channel, common phase and timing drift are fitted to the whole frame (2 + n_hdr +
        n_pay symbols) instead of the LTF and the header alone; the payload is equalised and decoded
        again with that fit. Near the control plane's limit (in-band SNR -4 to -7 dB) the fit to the
        LTF and the header is what loses the frame (its noise and a timing drift fitted to noise);
        the decisions are mostly right even where the CRC fails, and the CRC still guards the result.
        ``y``: complex (2 + n_hdr + n_pay, n_used) the frame's FFTs. Fills the frame's LLRs, bytes and CRC
        from the last pass (its LLRs are what failed copies are combined from)."""
        p, n_hdr = self.params, self._hdr_syms
        sent = self._control_sent
        for _ in range(CONTROL_DD_PASSES):
            bits = np.concatenate([header_bits, sent])[None]
            eq = self._payload_eq(y[None], known_entries(p, n_hdr + n_pay, n_hdr + n_pay, bits))
            llr = demap_llr(eq.equalized[0].reshape(-1), eq.error_var[0].reshape(-1), "bpsk").astype(np.float32)
            payload, ok, sent = decode_control_bits(llr, frame.header.length)
            frame.llr, frame.payload, frame.crc_ok = llr, payload, ok
            frame.snr_db = float(eq.estimate.snr_db[0])
            self.stats["control_dd"] += 1
            if ok:
                break

    def _decode_payload(self, frame: ReceivedFrame, eq: np.ndarray, var: np.ndarray) -> None:
        """Demapping and decoding of a digital or control frame: fill its LLRs, bytes and CRC from
        its equalised data symbols and their error variances (n_payload_symbols, n_data)."""
        header = frame.header
        if header.mode == "control":
            frame.llr = demap_llr(eq.reshape(-1), var.reshape(-1), "bpsk").astype(np.float32)
            frame.payload, frame.crc_ok, self._control_sent = decode_control_bits(frame.llr, header.length)
            return
        llr = demap_llr(eq.reshape(-1), var.reshape(-1), header.modulation)[: payload_bits(header, self.params)]
        frame.llr = llr.astype(np.float32)
        frame.payload, frame.crc_ok = decode_payload(llr, header.length, header.modulation,
                                                     header.code_rate, self.ldpc_iterations)

    def _trim(self) -> None:
        """Drop the samples no burst and no future trigger needs (keeping the idle gap before them
        for the DC estimate)."""
        if self._real_end is not None:
            return
        self._parked = [e for e in self._parked[-PARKED_HEADERS:] if e[0].trigger >= self._scan - PARKED_SAMPLES]
        need = min([b.trigger - self._history for b in self._bursts]
                   + [b.trigger - self._history for b, _, _ in self._parked] + [self._scan - self._history,
                                                                          self._scan - self._scan % STF_BLOCK]
                   + ([self._heads.keep_from()] if self._heads is not None else [])
                   + [start - self._history for _, start, _ in self._implied[:1]])
        keep_from = min(max(need - self._offset, 0), self._buf.size)
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._det = self._det[keep_from:]
            self._head += keep_from
            self._offset += keep_from
