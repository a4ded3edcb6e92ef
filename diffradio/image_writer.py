"""Decode and write each image of a live reception as it completes, beside the receive loop."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from diffradio import link
from diffradio.images import write_image


class ImageWriter:
    """Decodes and writes, in a background thread, each stream handed to :meth:`submit`.

    ``rx`` with ``{n}`` in ``--out`` gives it every stream as the stream completes
    (``link.receive(on_image=...)``), so that the receive loop keeps reading the radio while an
    image decodes (a semantic decode takes 0.1–1 s; a Pluto's kernel buffers hold about 0.13 s at
    2 MS/s) and every image is on disk as soon as it can be: what was written stays written
    whatever ends the reception (Ctrl-C, a radio error). The frames of a written stream are
    dropped.

    Args:
        pattern: ``--out`` with ``{n}``; image ``n`` goes to ``pattern.format(n=n)``.
        decode: (``link.RxRun``, stream state) -> ``link.Reception`` (the decoder, its codec and
            settings bound).
        reference: uint8 (H, W, 3) sent image for the metrics, or None.
        log: callable taking one line per written image.
        on_written: callable taking (image number, its JSON object) once the image is on disk
            (``rx --live``), or None.
    """

    def __init__(self, pattern: str, decode: Callable[[link.RxRun, object], link.Reception],
                 reference: np.ndarray | None,
                 log: Callable[[str], None], on_written: Callable[[int, dict], None] | None = None) -> None:
        self._pattern, self._decode, self._reference, self._log = pattern, decode, reference, log
        self._on_written = on_written
        self._queue: queue.Queue = queue.Queue()
        self.results: list[dict] = []          # the JSON of each written image, in number order
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="diffradio-image-writer", daemon=True)
        self._thread.start()

    def submit(self, run: link.RxRun, number: int, state) -> None:
        """Queue image ``number`` (from 1, in completion order) of stream ``state`` (a released
        ``StreamState``) of ``run``."""
        self._queue.put((run, number, state))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            run, number, state = item
            if self._error is not None:
                continue
            try:
                rec = self._decode(run, state)
                out = self._pattern.format(n=number)
                result = link.measurements(rec, self._reference, out)  # checks the reference first
                write_image(out, rec.image)
                self.results.append(result)
                self._log(f"wrote  image {number} to {out}")
                if self._on_written is not None:
                    self._on_written(number, result)
            except Exception as exc:  # handed to the caller by close()
                self._error = exc
            finally:
                state.frames.clear()
                state.received.clear()
                state.failed_descriptors.clear()

    def close(self) -> list[dict]:
        """Wait for the queued images; return their JSON objects. Raises what a decode raised."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.results
