"""SigMF recordings on the `sigmf` package: atomic writing and chunked, resampled reading.

Sample convention everywhere: complex64 baseband with full scale at magnitude 1.0. Fixed-point
captures are scaled as the `sigmf` package scales them (``ci16``: value / 2**15, ``ci8``: / 2**7,
``cu8``: (value - 128) / 2**7), so a ``ci16_le`` capture we write reads back within 2**-15.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import sigmf
from sigmf import hashing
from sigmf.error import SigMFError
from sigmf.sigmffile import dtype_info, get_dataset_filename_from_metadata, get_sigmf_filenames
from sigmf.utils import get_sigmf_iso8601_datetime_now

from .base import Radio, RadioError, SampleQueue, interrupts_deferred, one_line

WRITE_DATATYPES = ("cf32_le", "ci16_le")
READ_DATATYPES = (
    "cf32_le", "cf32_be", "cf64_le", "cf64_be", "ci16_le", "ci16_be", "ci8", "cu8",
)
_MAX_RATIO_TERM = 1000  # largest up/down factor of the rational resampler
_MAX_RATIO_ERROR = 1e-5  # largest relative rate error accepted from that rational approximation
_READ_CHUNK = 1 << 16  # capture samples per file read (bounds the reader's memory)
EXTENSION = {"name": "diffradio", "version": "1.0.0", "optional": True}
"""``core:extensions`` entry for the ``diffradio:`` keys of a capture segment (device settings read back)."""


def sigmf_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Return ``(meta_path, data_path)`` for a SigMF recording named by either file or its stem."""
    names = get_sigmf_filenames(path)
    return names["meta_fn"], names["data_fn"]


class SigMFRecorder:
    """Writes one SigMF recording (a ``.sigmf-meta``/``.sigmf-data`` pair), atomically.

    Samples go to hidden temporary files next to the target; ``close()`` hashes and validates the
    metadata and renames both into place, so a crash or Ctrl-C never leaves a half-written capture
    under the target name; Ctrl-C during ``close()`` is held back until the capture is in place.
    Leaving the ``with`` block through an exception (KeyboardInterrupt included) discards the
    recording; catch the interrupt inside the block (or call ``close()`` in a ``finally``) to keep it.
    ``SigMFRecorder.from_radio`` records what a radio receives, with its read-back settings and its
    overflow/late events as annotations.

    Args:
        path: target ``PATH.sigmf-meta`` (or ``PATH.sigmf-data`` or the stem ``PATH``).
        sample_rate_hz: complex sample rate in Hz (``core:sample_rate``).
        center_freq_hz: RF centre frequency in Hz (``core:frequency`` of the capture), or None.
        datatype: ``'cf32_le'`` (default, lossless) or ``'ci16_le'`` (full scale 1.0 -> 2**15,
            rounded and clipped to int16; clipped samples are counted in ``clipped_samples``).
        hw: ``core:hw`` text (the radio that produced the samples).
        author: ``core:author``; description: ``core:description``.
        capture_fields: extra ``diffradio:`` keys of the capture segment (``EXTENSION``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate_hz: float,
        center_freq_hz: float | None = None,
        datatype: str = "cf32_le",
        hw: str | None = None,
        author: str | None = None,
        description: str | None = None,
        capture_fields: dict | None = None,
    ) -> None:
        if datatype not in WRITE_DATATYPES:
            raise RadioError(f"cannot write SigMF datatype {datatype!r}; use one of {', '.join(WRITE_DATATYPES)}")
        if not sample_rate_hz > 0:
            raise RadioError(f"SigMF sample rate must be positive, got {sample_rate_hz} Hz")
        self.meta_path, self.data_path = sigmf_paths(path)
        if not self.meta_path.parent.is_dir():
            raise RadioError(f"cannot record to {self.meta_path}: directory {self.meta_path.parent} does not exist")
        self.sample_rate_hz = float(sample_rate_hz)
        self.center_freq_hz = center_freq_hz
        self.datatype = datatype
        self.clipped_samples = 0
        self.n_samples = 0
        self._global = {sigmf.DATATYPE_KEY: datatype, sigmf.SAMPLE_RATE_KEY: self.sample_rate_hz,
                        sigmf.RECORDER_KEY: "diffradio"}
        for key, value in ((sigmf.HW_KEY, hw), (sigmf.AUTHOR_KEY, author), (sigmf.DESCRIPTION_KEY, description)):
            if value:
                self._global[key] = value
        self._datetime = get_sigmf_iso8601_datetime_now()
        self._annotations: list[tuple[int, int | None, dict]] = []
        self._capture_fields = dict(capture_fields or {})
        self._radio: Radio | None = None
        self._radio_offset = 0  # the radio's rx_samples when recording began
        stem = f".{self.meta_path.stem}.{os.getpid()}.{id(self):x}.partial"
        self._tmp_data = self.meta_path.with_name(stem + sigmf.SIGMF_DATASET_EXT)
        self._tmp_meta = self.meta_path.with_name(stem + sigmf.SIGMF_METADATA_EXT)
        self._file = open(self._tmp_data, "wb")

    @classmethod
    def from_radio(cls, path: str | os.PathLike, radio: Radio, **kwargs) -> "SigMFRecorder":
        """A recorder for the samples ``radio`` delivers from now on.

        ``core:sample_rate`` and ``core:frequency`` are the rate and LO read back from the device
        (``radio.settings()``), the capture segment also holds its RX gain, gain mode and bandwidth
        (``diffradio:`` keys), and ``close()`` annotates every RX overflow and late event the radio
        reported at its sample position (label 'overflow' / 'late'). ``kwargs``: as the constructor's.
        """
        s = radio.settings()
        fields = {"diffradio:rx_gain_db": s.rx_gain_db, "diffradio:rx_gain_mode": s.rx_gain_mode,
                  "diffradio:bandwidth_hz": s.bandwidth_hz}
        recorder = cls(path, s.sample_rate_hz, s.center_freq_hz,
                       capture_fields={k: v for k, v in fields.items() if v is not None}, **kwargs)
        recorder._radio, recorder._radio_offset = radio, radio.stats.rx_samples
        return recorder

    def _annotate_radio_events(self) -> None:
        """Annotate the radio's RX events that fall inside the recording (positions in its samples)."""
        for event in list(self._radio.stats.events):
            at = event.sample - self._radio_offset
            if event.direction == "rx" and 0 <= at <= self.n_samples:
                what = "samples were dropped before this one" if event.kind == "overflow" else "a late command"
                self.annotate(at, None, label=event.kind, comment=f"RX {event.kind} reported by the radio: {what}")

    @property
    def closed(self) -> bool:
        """True once the recording was finalised or discarded."""
        return self._file is None

    def write(self, chunk: np.ndarray) -> int:
        """Append samples (shape (n,), complex) and return the index of the chunk's first sample."""
        if self._file is None:
            raise RadioError(f"recording {self.meta_path} is already closed")
        x = np.asarray(chunk).reshape(-1)
        start = self.n_samples
        if self.datatype == "cf32_le":
            raw = x.astype("<c8")
        else:
            iq = np.empty((x.size, 2), dtype=np.float64)
            iq[:, 0], iq[:, 1] = x.real, x.imag
            iq = np.round(iq * 2**15)
            self.clipped_samples += int(np.count_nonzero(np.any((iq > 2**15 - 1) | (iq < -(2**15)), axis=1)))
            raw = np.clip(iq, -(2**15), 2**15 - 1).astype("<i2")
        self._file.write(raw.tobytes())
        self.n_samples += x.size
        return start

    def annotate(self, sample_start: int, sample_count: int | None, label: str | None = None,
                 comment: str | None = None) -> None:
        """Add an annotation over samples ``[sample_start, sample_start + sample_count)`` (count None:
        an instant, no ``core:sample_count``)."""
        if sample_start < 0 or (sample_count is not None and sample_count < 0):
            raise RadioError(f"bad annotation span start={sample_start} count={sample_count}")
        fields = {}
        if label:
            fields[sigmf.LABEL_KEY] = label
        if comment:
            fields[sigmf.COMMENT_KEY] = comment
        self._annotations.append((int(sample_start), None if sample_count is None else int(sample_count), fields))

    def close(self) -> None:
        """Finalise: hash, validate and atomically rename the recording into place (idempotent).

        Ctrl-C during finalisation is held back until the capture is complete, then raised.
        """
        if self._file is None:
            return
        with interrupts_deferred():
            self._finalise()

    def _finalise(self) -> None:
        try:
            self._file.close()
            self._file = None
            if self._radio is not None:
                self._annotate_radio_events()
            meta = sigmf.SigMFFile(global_info=dict(self._global))
            meta.set_global_field(sigmf.SHA512_KEY, hashing.calculate_sha512(filename=self._tmp_data))
            capture = {sigmf.DATETIME_KEY: self._datetime}
            if self.center_freq_hz is not None:
                capture[sigmf.FREQUENCY_KEY] = float(self.center_freq_hz)
            if self._capture_fields:
                meta.set_global_field(sigmf.EXTENSIONS_KEY, [dict(EXTENSION)])
                capture.update(self._capture_fields)
            meta.add_capture(0, metadata=capture)
            for start, count, fields in sorted(self._annotations, key=lambda a: a[0]):
                meta.add_annotation(start, count, metadata=dict(fields))
            meta.validate()
            with open(self._tmp_meta, "w") as fp:
                meta.dump(fp, pretty=True)
                fp.write("\n")
            # An old metadata file must never pair with new data: remove it first, then publish the
            # data, then the metadata (whose presence marks a complete recording).
            self.meta_path.unlink(missing_ok=True)
            os.replace(self._tmp_data, self.data_path)
            os.replace(self._tmp_meta, self.meta_path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the recording: close and delete the temporary files (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp_data.unlink(missing_ok=True)
        self._tmp_meta.unlink(missing_ok=True)

    def __enter__(self) -> "SigMFRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def rational_ratio(target_rate_hz: float, source_rate_hz: float) -> tuple[int, int]:
    """Return ``(up, down)`` with ``up/down ~= target/source`` (terms <= 1000, error <= 10 ppm)."""
    exact = Fraction(target_rate_hz) / Fraction(source_rate_hz)
    ratio = exact.limit_denominator(_MAX_RATIO_TERM)
    if ratio.numerator > _MAX_RATIO_TERM or ratio.numerator == 0 or abs(ratio / exact - 1) > _MAX_RATIO_ERROR:
        raise RadioError(
            f"cannot resample {source_rate_hz:g} S/s to {target_rate_hz:g} S/s with a small rational ratio; "
            f"pick a receiver rate (--rate) closer to a simple fraction of the capture's rate"
        )
    return ratio.numerator, ratio.denominator


class StreamingResampler:
    """Chunk-by-chunk ``scipy.signal.resample_poly``: concatenated outputs equal the one-shot call.

    Uses resample_poly's own filter (``firwin(20*max(up,down)+1, 1/max(up,down), window=('kaiser', 5))
    * up``), its zero padding and its output alignment, keeping as much input history between calls as
    the filter spans, so there are no chunk-edge artefacts. ``filter_taps`` is that FIR (pass it as
    ``window=`` to resample_poly to compare).

    Args:
        up, down: resampling factors (coprime after reduction).
    """

    def __init__(self, up: int, down: int) -> None:
        from scipy.signal import firwin  # slow to import (python -X importtime): only when resampling

        g = math.gcd(up, down)
        self.up, self.down = up // g, down // g
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        self.filter_taps = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
        n_pre_pad = self.down - half_len % self.down
        self._h = np.concatenate([np.zeros(n_pre_pad), self.filter_taps * self.up])
        self._skip = (half_len + n_pre_pad) // self.down  # leading upfirdn outputs resample_poly drops
        self._buf = np.zeros(0, dtype=np.complex128)
        self._buf_start = 0  # absolute input index of _buf[0]; always a multiple of down
        self._n_in = 0  # input samples consumed so far
        self._next_k = self._skip  # next upfirdn output index to emit
        self._n_out = 0

    def _emit(self, k_end: int) -> np.ndarray:
        """Outputs with upfirdn index in [_next_k, k_end), then drop input no longer needed."""
        if k_end <= self._next_k:
            return np.zeros(0, dtype=np.complex64)
        from scipy.signal import upfirdn

        z = upfirdn(self._h, self._buf, self.up, self.down)
        offset = self._buf_start * self.up // self.down
        out = z[self._next_k - offset:k_end - offset]
        self._next_k = k_end
        first_needed = max(0, (k_end * self.down - self._h.size) // self.up + 1)
        new_start = first_needed // self.down * self.down
        if new_start > self._buf_start:
            self._buf = self._buf[new_start - self._buf_start:]
            self._buf_start = new_start
        self._n_out += out.size
        return out.astype(np.complex64)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Resample the next input chunk (shape (n,), complex); returns complex64 (m,), m ~ n*up/down."""
        self._buf = np.concatenate([self._buf, np.asarray(x, dtype=np.complex128)])
        self._n_in += len(x)
        end = self._buf_start + self._buf.size
        return self._emit(-(-end * self.up // self.down))

    def flush(self) -> np.ndarray:
        """Emit the tail (the input is zero-padded as resample_poly does); total = ceil(n_in*up/down)."""
        n_total = -(-self._n_in * self.up // self.down)
        pad = self._h.size // self.up + self._skip * self.down // self.up + 2
        self._buf = np.concatenate([self._buf, np.zeros(pad, dtype=np.complex128)])
        remaining = n_total - self._n_out
        return self._emit(self._next_k + max(0, remaining))


class SigMFReader:
    """Reads one complex single-channel SigMF recording in bounded-memory chunks.

    Args:
        path: ``PATH.sigmf-meta`` (or the ``.sigmf-data`` file or the stem).
        target_rate_hz: deliver samples at this rate in Hz (streaming resample_poly); None: as recorded.

    Attributes:
        sample_rate_hz: the capture's ``core:sample_rate`` in Hz.
        center_freq_hz: ``core:frequency`` of the first capture segment, or None.
        datatype: ``core:datatype``.
        n_samples: samples in the data file (at the capture's rate).
        annotations: the metadata's annotations (dicts, sample indices at the capture's rate).
        hw: ``core:hw`` or None.

    Every problem with the capture raises RadioError with one line naming the file and the fix.
    """

    def __init__(self, path: str | os.PathLike, target_rate_hz: float | None = None) -> None:
        self.meta_path, _ = sigmf_paths(path)
        self._sf = self._load()
        glob = self._sf.get_global_info()
        self.sample_rate_hz = float(glob[sigmf.SAMPLE_RATE_KEY])
        self.datatype = glob[sigmf.DATATYPE_KEY]
        self.hw = glob.get(sigmf.HW_KEY)
        captures = self._sf.get_captures()
        self.center_freq_hz = captures[0].get(sigmf.FREQUENCY_KEY) if captures else None
        self.annotations = list(self._sf.get_annotations())
        self.n_samples = int(self._sf.sample_count)
        self._pos = 0
        self._resampler = None
        if target_rate_hz is not None and float(target_rate_hz) != self.sample_rate_hz:
            self._resampler = StreamingResampler(*rational_ratio(float(target_rate_hz), self.sample_rate_hz))
        self._resampled = SampleQueue()
        self._flushed = False

    def _fail(self, problem: str, fix: str = "check the capture or record it again") -> RadioError:
        return RadioError(f"SigMF capture {self.meta_path}: {problem}; {fix}")

    def _load(self) -> "sigmf.SigMFFile":
        path = self.meta_path
        if not path.is_file():
            raise RadioError(f"SigMF capture {path} does not exist; give an existing PATH.sigmf-meta "
                             f"(or record one with `diffradio tx --radio file:{path}`)")
        try:
            metadata = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._fail(f"metadata is not valid JSON ({exc.__class__.__name__}: {one_line(exc)})") from None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("global"), dict):
            raise self._fail("metadata has no 'global' object, so it is not SigMF")
        glob = metadata["global"]
        datatype = glob.get(sigmf.DATATYPE_KEY)
        if datatype not in READ_DATATYPES:
            raise self._fail(f"unsupported core:datatype {datatype!r}",
                             f"supported: {', '.join(READ_DATATYPES)}")
        rate = glob.get(sigmf.SAMPLE_RATE_KEY)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
            raise self._fail(f"missing or invalid core:sample_rate ({rate!r})",
                             "add the sample rate in Hz to the metadata's global object")
        if glob.get(sigmf.NUM_CHANNELS_KEY, 1) != 1:
            raise self._fail(f"{glob.get(sigmf.NUM_CHANNELS_KEY)} channels; only single-channel captures are read",
                             "split the channels into separate recordings")
        for key in ("captures", "annotations"):
            if not isinstance(metadata.setdefault(key, []), list) or not all(
                    isinstance(item, dict) and isinstance(item.get(sigmf.SAMPLE_START_KEY), int)
                    for item in metadata[key]):
                raise self._fail(f"'{key}' must be a list of objects with integer core:sample_start")
        try:
            data_path = get_dataset_filename_from_metadata(path, metadata)
        except SigMFError as exc:
            raise self._fail(one_line(exc)) from None
        if data_path is None:
            raise self._fail(f"data file {sigmf_paths(path)[1]} does not exist",
                             "keep the .sigmf-data file next to its .sigmf-meta")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sample-count problems are checked below, with clear errors
                sf = sigmf.SigMFFile(metadata=metadata, data_file=data_path, skip_checksum=True)
        except (SigMFError, ValueError, OSError) as exc:
            raise self._fail(f"unreadable ({one_line(exc)})") from None
        sample_size = dtype_info(datatype)["sample_size"]
        data_bytes = Path(data_path).stat().st_size - getattr(sf, "data_offset", 0) - glob.get(
            sigmf.TRAILING_BYTES_KEY, 0)
        if data_bytes % sample_size:
            raise self._fail(f"truncated data file {data_path} ({data_bytes} bytes is not a whole number of "
                             f"{sample_size}-byte {datatype} samples)")
        ends = [a[sigmf.SAMPLE_START_KEY] + a.get(sigmf.SAMPLE_COUNT_KEY, 0) for a in sf.get_annotations()]
        if ends and max(ends) > sf.sample_count:
            raise self._fail(f"truncated data file {data_path} (holds {sf.sample_count} samples but the "
                             f"annotations reach sample {max(ends)})")
        return sf

    @property
    def rate_ratio(self) -> float:
        """Output samples per capture sample (1.0 without resampling)."""
        return 1.0 if self._resampler is None else self._resampler.up / self._resampler.down

    def _read_raw(self, n: int) -> np.ndarray:
        count = min(n, self.n_samples - self._pos)
        if count <= 0:
            return np.zeros(0, dtype=np.complex64)
        x = self._sf.read_samples(start_index=self._pos, count=count)
        self._pos += count
        return np.asarray(x, dtype=np.complex64)

    def read(self, n: int) -> np.ndarray:
        """Return the next ``n`` samples at the target rate, complex64 (n,); fewer at the end, then empty."""
        if self._resampler is None:
            return self._read_raw(n)
        return self._resampled.take(n, self._resample_next)

    def _resample_next(self, want: int) -> np.ndarray | None:
        """The resampler's output for the next raw chunk; its tail at the end of the file, then None."""
        if self._flushed:
            return None
        raw = self._read_raw(_READ_CHUNK)
        if raw.size:
            return self._resampler.process(raw)
        self._flushed = True
        return self._resampler.flush()
