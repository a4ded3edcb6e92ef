"""``rx --live``: a local web page that shows a reception while it runs.

Three kinds of thread share one :class:`LiveMonitor`:

- the **receive loop** (``link.receive``) calls :meth:`LiveMonitor.on_frame` for every frame and
  :meth:`LiveMonitor.on_image` for every completed stream. Both only copy references and a few
  numbers under a lock (no decoding, no image encoding), so the radio is read as fast as without
  the page;
- a **preview thread** decodes, at most ``preview_hz`` times a second, each semantic stream that
  got new frames since its last preview, with the fast ``direct`` decoder: the received latents,
  missing ones marked by infinite variance, so that tiles not yet received are the decoder's
  estimate from their neighbours. The page marks those tiles;
- the **HTTP server** (standard library ``ThreadingHTTPServer``, one thread per request) answers
  ``/`` (the page, plain HTML and JavaScript), ``/state`` (one JSON snapshot), ``/preview/K.png``
  (the latest preview of stream K) and ``/image/N.png`` (finished image N, read from disk).

The page polls ``/state`` twice a second and reloads an image only when its version changed, so a
browser that connects late sees everything so far, and one that leaves costs nothing.

Frame counters: ``detected`` counts every frame whose header decoded; ``decoded`` the payload
frames (analog, or digital with a good CRC) and descriptor copies that decoded; ``lost`` the payload
frames a stream's descriptor announced that did not arrive, counted for finished streams and, for
streams still arriving, below the highest frame index seen.
"""
from __future__ import annotations

import io
import json
import logging
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np

from diffradio.stream import StreamState, gather_latents, stream_key

log = logging.getLogger(__name__)

CONSTELLATION_POINTS = 1500
"""Equalised symbols of the latest frame sent to the page at most (evenly subsampled)."""
HISTORY_FRAMES = 300
"""Frames whose SNR and CFO the page plots (the most recent)."""
POLL_MS = 500
"""How often the page asks for the state, in ms (the page's refresh rate bound)."""


def _png(image: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


class _Stream:
    """What the page shows of one stream: references to its frames, copied from the receive loop."""

    def __init__(self, key) -> None:
        self.key = key
        self.descriptor = None
        self.payload: dict[int, list] = {}   # frame index -> frames (references; emptied once written)
        self.highest = 0                      # highest payload frame index seen
        self.last_frame_seen = False          # the closing descriptor copy's frame arrived
        self.changed = False                  # new payload since the last preview
        self.preview: bytes | None = None     # PNG
        self.preview_version = 0
        self.missing_tiles: list[int] = []    # tile indices (row-major) with no latent received
        self.partial_tiles: list[int] = []    # tile indices with some latents missing
        self.grid: tuple[int, int] | None = None
        self.number: int | None = None        # image number once complete
        self.finished = False                 # written to disk

    def lost(self) -> int:
        if self.descriptor is None:
            return 0
        upto = self.descriptor.n_data_frames if (self.finished or self.last_frame_seen) else self.highest
        return sum(1 for i in range(1, upto + 1) if i not in self.payload)


class LiveMonitor:
    """The shared state of a live reception (see the module docstring).

    Args:
        codec: the ``SemanticCodec`` for previews (None: no previews, finished images only); the
            ``codec`` attribute may be set later (``rx`` opens the page before loading the model).
        preview_hz: preview rounds per second at most (each decodes the streams that changed).
        decode_lock: held while a preview decodes (shared with the image writer: one codec, one
            decode at a time); None: a lock of its own.
    """

    def __init__(self, codec=None, preview_hz: float = 2.0, decode_lock: threading.Lock | None = None) -> None:
        self.codec = codec
        self._decoding = decode_lock or threading.Lock()
        self._lock = threading.Lock()
        self._streams: dict = {}
        self._history: deque = deque(maxlen=HISTORY_FRAMES)
        self._constellation: dict = {"points": [], "mode": None, "frame": None}
        self._finished: list[dict] = []
        self._files: dict[int, Path] = {}
        self.detected = self.decoded = 0
        self.status = "receiving"
        self.version = 0
        self._stop = threading.Event()
        self._period = 1.0 / preview_hz
        self._thread = threading.Thread(target=self._previews, name="diffradio-live-preview", daemon=True)
        self._thread.start()

    # ---- called by the receive loop (cheap) ------------------------------------------------------

    def on_frame(self, state: StreamState | None, frame) -> None:
        """File one received ``frame`` (``phy.ReceivedFrame``) of stream ``state`` (its assembler
        state, for the descriptor; None for a stream already released)."""
        h = frame.header
        eq = frame.diagnostics.get("constellation_eq")
        points = None
        if eq is not None and np.size(eq):
            flat = np.asarray(eq).reshape(-1)
            step = max(1, flat.size // CONSTELLATION_POINTS)
            points = np.round(np.stack([flat.real[::step], flat.imag[::step]], axis=1).astype(float), 3).tolist()
        good = (h.mode == "analog" and frame.values is not None) or frame.crc_ok
        with self._lock:
            self.detected += 1
            self.decoded += bool(good)
            self._history.append({"n": self.detected, "stream": h.stream_id, "index": h.frame_index,
                                  "count": h.frame_count, "mode": h.mode,
                                  "snr_db": round(float(frame.snr_db), 2) if np.isfinite(frame.snr_db) else None,
                                  "cfo_hz": round(float(frame.cfo_hz), 1)})
            if points is not None:
                self._constellation = {"points": points, "mode": h.mode, "frame": self.detected}
            key = stream_key(h)
            s = self._streams.get(key)
            if s is None:
                s = self._streams[key] = _Stream(key)
            if state is not None and state.descriptor is not None:
                s.descriptor = state.descriptor
            if h.frame_index == h.frame_count - 1:
                s.last_frame_seen = True
            if good and 0 < h.frame_index < h.frame_count - 1:
                copies = s.payload.setdefault(h.frame_index, [])
                if s.number is None:  # a complete stream's later copies (a cyclic transmission) are not kept
                    copies.append(frame)
                    s.changed = True
                s.highest = max(s.highest, h.frame_index)
            self.version += 1

    def on_image(self, number: int, state: StreamState) -> None:
        """Stream ``state`` completed as image ``number`` (it is being decoded and written)."""
        with self._lock:
            s = self._streams.get(state.key)
            if s is not None:
                s.number, s.descriptor = number, state.descriptor
            self.version += 1

    # ---- called when images are on disk, and at the end --------------------------------------------

    def on_written(self, number: int, result: dict) -> None:
        """Image ``number`` was written to ``result['out']``; ``result``: its JSON (metrics)."""
        keep = ("psnr_db", "ms_ssim", "snr_db_est", "cfo_hz_est", "frames_decoded", "frames_expected",
                "frames_lost", "scheme", "decode_s", "stream_id", "nonce", "out")
        with self._lock:
            self._files[number] = Path(result["out"])
            self._finished = [f for f in self._finished if f["n"] != number]
            self._finished.append({"n": number, **{k: result.get(k) for k in keep}})
            self._finished.sort(key=lambda f: f["n"])
            for s in self._streams.values():
                if (s.key[0], s.key[1]) == (result.get("stream_id"), result.get("nonce")):
                    s.finished, s.number = True, number
                    s.payload = {i: [] for i in s.payload}  # the frames are no longer needed (indices are)
                    s.preview = None
            self.version += 1

    def set_status(self, status: str) -> None:
        """'receiving', 'ended' (reception over, the page stays) or 'stopped'."""
        with self._lock:
            self.status = status
            self.version += 1

    # ---- previews ----------------------------------------------------------------------------------

    def _previews(self) -> None:
        while not self._stop.wait(self._period):
            with self._lock:
                todo = [s for s in self._streams.values() if s.changed and not s.finished and s.descriptor is not None
                        and s.descriptor.scheme == "semantic"]
                jobs = []
                for s in todo:
                    s.changed = False
                    jobs.append((s, StreamState(s.key, s.descriptor, {i: list(f) for i, f in s.payload.items()})))
            for s, state in jobs:
                try:
                    self._preview(s, state)
                except Exception:  # a preview is a courtesy: the reception and the written images go on
                    log.exception("live preview of stream %s failed", s.key)

    def _preview(self, s: _Stream, state: StreamState) -> None:
        if self.codec is None:
            return
        desc = state.descriptor
        values, var, _ = gather_latents(state)
        shape = desc.latent_shape
        with self._decoding:
            image = self.codec.decode(values.reshape(shape), var.reshape(shape), desc.image_shape, method="direct")
        per_tile = np.isinf(var.reshape(shape[0], -1))
        png = _png(image)
        with self._lock:
            if s.finished:
                return
            s.preview, s.preview_version = png, s.preview_version + 1
            s.missing_tiles = np.flatnonzero(per_tile.all(axis=1)).tolist()
            s.partial_tiles = np.flatnonzero(per_tile.any(axis=1) & ~per_tile.all(axis=1)).tolist()
            s.grid = tuple(int(v) for v in self.codec.tile_grid(desc.image_shape))
            self.version += 1

    # ---- read by the server ------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The page's state as one JSON-ready dict."""
        with self._lock:
            streams = []
            for s in self._streams.values():
                if s.finished:  # shown among the finished images
                    continue
                d = s.descriptor
                streams.append({
                    "id": f"{s.key[0]}-{s.key[1]:04x}-{s.key[2]}", "stream_id": s.key[0], "nonce": s.key[1],
                    "scheme": d.scheme if d else None, "size": [d.image_shape[1], d.image_shape[0]] if d else None,
                    "frames_expected": d.n_data_frames if d else None, "frames_received": len(s.payload),
                    "lost": s.lost(), "number": s.number, "finished": s.finished,
                    "preview_version": s.preview_version if s.preview else 0, "grid": s.grid,
                    "missing_tiles": s.missing_tiles, "partial_tiles": s.partial_tiles})
            return {"version": self.version, "status": self.status, "poll_ms": POLL_MS,
                    "frames": {"detected": self.detected, "decoded": self.decoded,
                               "lost": sum(s.lost() for s in self._streams.values())},
                    "history": list(self._history), "constellation": self._constellation,
                    "streams": streams, "finished": list(self._finished)}

    def preview_png(self, stream_id: str) -> bytes | None:
        with self._lock:
            for s in self._streams.values():
                if f"{s.key[0]}-{s.key[1]:04x}-{s.key[2]}" == stream_id:
                    return s.preview
        return None

    def image_path(self, number: int) -> Path | None:
        with self._lock:
            return self._files.get(number)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _page() -> bytes:
    return resources.files("diffradio").joinpath("live.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    monitor: LiveMonitor  # set on the subclass made by LiveServer

    def log_message(self, format, *args) -> None:  # no access log on the command's stderr
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the browser left
            pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._send(200, _page(), "text/html; charset=utf-8")
        if path == "/state":
            return self._send(200, json.dumps(self.monitor.snapshot()).encode(), "application/json")
        if path.startswith("/preview/") and path.endswith(".png"):
            png = self.monitor.preview_png(path[len("/preview/"):-4])
            return self._send(200, png, "image/png") if png else self._send(404, b"no preview", "text/plain")
        if path.startswith("/image/") and path.endswith(".png") and path[7:-4].isdigit():
            file = self.monitor.image_path(int(path[7:-4]))
            if file is not None and file.is_file():
                return self._send(200, file.read_bytes(), "image/png")
        return self._send(404, b"not found", "text/plain")


class LiveServer:
    """The page's HTTP server on ``host``:``port`` in a daemon thread (``port`` 0: any free port).

    Raises OSError with one line naming the port when it cannot listen there.
    """

    def __init__(self, monitor: LiveMonitor, host: str = "127.0.0.1", port: int = 8765) -> None:
        handler = type("LiveHandler", (_Handler,), {"monitor": monitor})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(f"cannot serve the live page on {host}:{port} ({exc.strerror or exc}): port {port} is in "
                          f"use or not allowed; pick another with --port") from None
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="diffradio-live-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_for_interrupt(poll_s: float = 0.2) -> None:
    """Sleep until Ctrl-C (SIGINT) or SIGTERM; return normally then (the caller ends cleanly).

    SIGINT is given its default Python handler for the wait: a process started in the background
    by a non-interactive shell inherits it ignored, and Ctrl-C or ``kill -INT`` must still stop it.
    """
    import signal

    stop = threading.Event()
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        while not stop.wait(poll_s):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
