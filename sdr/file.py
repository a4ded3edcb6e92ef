"""The file radio: transmitting records SigMF, receiving replays SigMF (resampled to the radio's rate)."""
from __future__ import annotations

import os

import numpy as np

from .base import Radio, RadioConfig, RadioError, burst_samples
from .sigmf_io import SigMFReader, SigMFRecorder, sigmf_paths


class FileRadio(Radio):
    """A radio backed by one SigMF recording ``PATH.sigmf-meta``.

    Transmitting writes exactly the baseband samples sent (complex64, |x| <= 1) with one annotation
    per ``transmit()`` call over its non-zero span; the recording is written under a temporary name
    and renamed into place by ``close()`` (leaving a ``with`` block through an exception discards it).
    Receiving reads an existing recording in bounded-memory chunks, resampled from the capture's rate
    to ``config.sample_rate_hz``; ``receive`` returns fewer samples at the end, then empty arrays.
    While a recording is open the radio cannot replay; after ``close()`` it replays what it wrote.

    Args:
        path: the recording (``.sigmf-meta``, ``.sigmf-data`` or the stem).
        config: rates in Hz; the centre frequency is written as ``core:frequency``.
        datatype: written datatype, ``'cf32_le'`` (default) or ``'ci16_le'``.
    """

    def __init__(self, path: str | os.PathLike, config: RadioConfig | None = None,
                 datatype: str = "cf32_le") -> None:
        self.meta_path, _ = sigmf_paths(path)
        self.config = config or RadioConfig()
        self.datatype = datatype
        self._recorder: SigMFRecorder | None = None
        self._reader: SigMFReader | None = None
        self._bursts = 0

    def configure(self, config: RadioConfig) -> None:
        """Adopt ``config``; the sample rate cannot change once samples were written or read."""
        if (self._recorder or self._reader) and config.sample_rate_hz != self.config.sample_rate_hz:
            raise RadioError(f"file radio {self.meta_path}: the sample rate cannot change after samples were "
                             f"written or read; open the radio again with the new rate")
        self.config = config

    @property
    def reader(self) -> SigMFReader:
        """The open capture when receiving (opened on first use)."""
        if self._recorder is not None:
            raise RadioError(f"file radio {self.meta_path} is being written by this program; close it and "
                             f"open it again to replay it")
        if self._reader is None:
            self._reader = SigMFReader(self.meta_path, target_rate_hz=self.config.sample_rate_hz)
        return self._reader

    def annotations(self) -> list[dict]:
        """The capture's annotations with ``core:sample_start``/``core:sample_count`` rescaled to the
        radio's sample rate (the indices ``receive`` delivers)."""
        ratio = self.reader.rate_ratio
        out = []
        for ann in self.reader.annotations:
            scaled = dict(ann)
            scaled["core:sample_start"] = int(round(ann["core:sample_start"] * ratio))
            if "core:sample_count" in ann:
                scaled["core:sample_count"] = int(round(ann["core:sample_count"] * ratio))
            out.append(scaled)
        return out

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Append ``burst`` (shape (n,), complex, |x| <= 1) and annotate its non-zero span.

        A file holds one pass: ``repeat=True`` records the burst once (a replay loops nothing).
        """
        if self._reader is not None:
            raise RadioError(f"file radio {self.meta_path} was opened for replay; open a new file radio to record")
        burst = burst_samples(burst)
        if self._recorder is None:
            self._recorder = SigMFRecorder(
                self.meta_path, self.config.sample_rate_hz, self.config.center_freq_hz,
                datatype=self.datatype, hw="diffradio file radio (baseband samples as transmitted)")
        start = self._recorder.write(burst)
        active = np.flatnonzero(burst)
        if active.size:
            self._recorder.annotate(start + int(active[0]), int(active[-1] - active[0] + 1),
                                    label=label or f"burst {self._bursts}")
        self._bursts += 1

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` of the capture at ``config.sample_rate_hz``, complex64; fewer at the end."""
        out = self.reader.read(n_samples)
        self.stats.rx_samples += out.size
        return out

    def close(self) -> None:
        """Finalise a recording (atomic rename) and release the capture."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        self._reader = None

    def abort(self) -> None:
        """Discard an unfinished recording."""
        if self._recorder is not None:
            self._recorder.abort()
            self._recorder = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
