"""GNU Radio flowgraphs over ZeroMQ (pyzmq), in gr-zeromq's stream format; imported only when opened.

Wire format (GNU Radio 3.10 ``gr-zeromq``, ``zeromq.pub_sink`` / ``sub_source`` / ``push_sink`` /
``pull_source`` with item size 8, i.e. ``gr_complex``): each ZMQ message carries a whole number of
complex64 samples (little-endian float32 I, Q), nothing else. With ``pass_tags`` on, each message
starts with GNU Radio's tag header instead (``tags=1`` here): magic 0x5FF0 (uint16), version 1
(uint8), the absolute index of the message's first sample (uint64), the number of tags (uint64),
then per tag its absolute offset (uint64) and three serialized PMTs (key, value, source id), all
native little-endian except the PMTs (big-endian, ``pmt::serialize``). The samples follow.

GNU Radio's convention holds: its ZMQ *sinks bind* and its *sources connect*. So ``sub=``/``pull=``
connect to a flowgraph's PUB/PUSH sink (we receive), ``pub=``/``push=`` bind for a flowgraph's
SUB/PULL source to connect to (we transmit). PUB/SUB drops messages past ZeroMQ's high-water mark
(a slow reader loses samples); PUSH/PULL blocks the sender instead. A dropped message shows up only
in the tag header's sample offsets: with ``tags=1`` every jump is counted as an RX ``overflow``
event at the first sample after it (``stats``), and the samples lost are logged; without the tag
header a ZMQ drop cannot be seen from the stream.

A ZMQ stream carries no sample rate or centre frequency: ``rate=`` (S/s) and ``freq=`` (Hz) in the
URI state them (read back by ``settings()``, written into ``rx --record`` captures); with a tag
header, ``rx_rate`` and ``rx_freq`` tags (a UHD or Soapy source's) override them as they arrive.
"""
from __future__ import annotations

import errno
import logging
import struct
import threading
import time
from dataclasses import dataclass

import numpy as np

from .base import DeviceSettings, Radio, RadioConfig, RadioError, SampleQueue, burst_samples, one_line, parse_params

log = logging.getLogger(__name__)

URI_FORM = "zmq:sub=|pull=|pub=|push=tcp://HOST:PORT[,rate=SPS,freq=HZ,tags=0|1,timeout=S]"
TAG_MAGIC = 0x5FF0
TAG_VERSION = 1
_TAG_HEAD = struct.Struct("<HBQQ")  # magic, version, offset of the first sample, number of tags
MESSAGE_SAMPLES = 1 << 14
"""Samples per ZMQ message on transmit (128 kB of complex64)."""
FORMAT_HINT = ("a zmq: stream must be complex64 samples (GNU Radio item type 'complex', gr_complex, 8 bytes) at "
               "the URI's rate=, without GNU Radio's tag header unless the URI says tags=1")
IMPLAUSIBLE_MAGNITUDE = 1e6
"""Samples are full scale at magnitude 1; other formats read as float32 (int16 pairs, bytes) give NaN, inf or
magnitudes up to 3e38, which are zeroed (and warned about once) before they reach the DSP."""
PATTERNS = {"sub": ("SUB", "connect", "rx"), "pull": ("PULL", "connect", "rx"),
            "pub": ("XPUB", "bind", "tx"), "push": ("PUSH", "bind", "tx")}
"""URI key -> (ZMQ socket type, how its address is used, direction). ``pub=`` is an XPUB socket: it
speaks to SUB peers like PUB, and also sees their subscriptions, so a transmission waits for a
subscriber instead of being dropped before one has joined."""


@dataclass(frozen=True)
class ZmqSpec:
    """A parsed ``zmq:`` URI.

    Attributes:
        pattern: 'sub', 'pull' (receive; connect) or 'pub', 'push' (transmit; bind).
        address: the ZMQ endpoint, e.g. 'tcp://127.0.0.1:5555'.
        rate_hz: the stream's sample rate in S/s, None when the URI gives none (the radio config's).
        freq_hz: the stream's centre frequency in Hz, None when the URI gives none (the config's).
        tags: messages carry GNU Radio's tag header (``pass_tags`` on in the flowgraph).
        timeout_s: seconds to wait for the first samples (rx) or for a peer (tx) before RadioError;
            after samples have flowed, a receive silence this long ends the stream.
    """

    pattern: str
    address: str
    rate_hz: float | None = None
    freq_hz: float | None = None
    tags: bool = False
    timeout_s: float = 5.0

    @property
    def direction(self) -> str:
        return PATTERNS[self.pattern][2]

    @property
    def uri(self) -> str:
        return f"zmq:{self.pattern}={self.address}"


def parse_spec(spec: str) -> ZmqSpec:
    """``'sub=tcp://127.0.0.1:5555,rate=2e6'`` -> ZmqSpec; RadioError (one line) for a bad URI."""
    uri = f"zmq:{spec}"
    params = parse_params(spec, uri)
    patterns = [k for k in params if k in PATTERNS]
    unknown = set(params) - set(PATTERNS) - {"rate", "freq", "tags", "timeout"}
    if unknown:
        raise RadioError(f"unknown zmq parameter(s) {', '.join(sorted(unknown))} in {uri!r}; valid form: {URI_FORM}")
    if len(patterns) != 1:
        raise RadioError(f"{uri!r} must name exactly one of sub=, pull= (receive) or pub=, push= (transmit); "
                         f"valid form: {URI_FORM}")
    pattern = patterns[0]
    address = params[pattern]
    if "://" not in address:
        raise RadioError(f"{pattern}={address!r} in {uri!r} is not a ZMQ endpoint; write e.g. "
                         f"{pattern}=tcp://127.0.0.1:5555")

    def number(key: str, low: float = 0.0) -> float | None:
        if key not in params:
            return None
        try:
            value = float(params[key])
        except ValueError:
            raise RadioError(f"{key}={params[key]!r} in {uri!r} is not a number") from None
        if not np.isfinite(value) or value <= low:
            raise RadioError(f"{key}={params[key]} in {uri!r} must be a positive number")
        return value

    tags = params.get("tags", "0")
    if tags not in ("0", "1"):
        raise RadioError(f"tags={tags!r} in {uri!r}: write tags=1 when the flowgraph's ZMQ block passes tags, "
                         f"tags=0 (default) when not")
    timeout = number("timeout")
    return ZmqSpec(pattern, address, number("rate"), number("freq"), tags == "1",
                   5.0 if timeout is None else timeout)


def _port(address: str) -> str:
    return address.rsplit(":", 1)[-1] if address.startswith("tcp://") else address


def read_pmt(buf: bytes | memoryview, pos: int) -> tuple[object, int]:
    """Deserialize one PMT (``pmt::serialize``, big-endian) at ``pos``: (value, position after it).

    Symbols -> str, booleans, int32/uint64/int64 -> int, doubles, complex, NIL -> None, pairs and
    dicts -> (car, cdr), tuples and vectors -> tuple, uniform vectors -> NumPy arrays. Raises
    ValueError for a type code it does not know (then the header is not GNU Radio's).
    """
    kind = buf[pos]
    pos += 1
    if kind in (0x00, 0x01):
        return kind == 0x00, pos
    if kind == 0x02:
        (n,) = struct.unpack_from(">H", buf, pos)
        return bytes(buf[pos + 2:pos + 2 + n]).decode("utf-8", "replace"), pos + 2 + n
    if kind == 0x03:
        return struct.unpack_from(">i", buf, pos)[0], pos + 4
    if kind == 0x04:
        return struct.unpack_from(">d", buf, pos)[0], pos + 8
    if kind == 0x05:
        re, im = struct.unpack_from(">dd", buf, pos)
        return complex(re, im), pos + 16
    if kind == 0x06:
        return None, pos
    if kind in (0x07, 0x09):  # pair; dict (serialized as its association list)
        car, pos = read_pmt(buf, pos)
        cdr, pos = read_pmt(buf, pos)
        return (car, cdr), pos
    if kind in (0x08, 0x0C):  # vector, tuple
        (n,) = struct.unpack_from(">I", buf, pos)
        pos += 4
        items = []
        for _ in range(n):
            item, pos = read_pmt(buf, pos)
            items.append(item)
        return tuple(items), pos
    if kind == 0x0A:  # uniform vector: element type, length, padding, big-endian elements
        dtypes = (">u1", ">i1", ">u2", ">i2", ">u4", ">i4", ">u8", ">i8", ">f4", ">f8", ">c8", ">c16")
        etype, n, npad = struct.unpack_from(">BIB", buf, pos)
        if etype >= len(dtypes):
            raise ValueError(f"unknown PMT uniform vector type {etype}")
        pos += 6 + npad
        dtype = np.dtype(dtypes[etype])
        return np.frombuffer(bytes(buf[pos:pos + n * dtype.itemsize]), dtype), pos + n * dtype.itemsize
    if kind in (0x0B, 0x0D):
        return struct.unpack_from(">Q" if kind == 0x0B else ">q", buf, pos)[0], pos + 8
    raise ValueError(f"unknown PMT type code 0x{kind:02x}")


def parse_tag_header(buf: bytes | memoryview) -> tuple[int, list[tuple[int, object, object]], int]:
    """GNU Radio's tag header at the start of a message: (first sample's offset, [(offset, key,
    value)], header length in bytes). ValueError when ``buf`` does not start with one."""
    if len(buf) < _TAG_HEAD.size:
        raise ValueError(f"a {len(buf)}-byte message is too short for a tag header")
    magic, version, offset, ntags = _TAG_HEAD.unpack_from(buf, 0)
    if magic != TAG_MAGIC or version != TAG_VERSION:
        raise ValueError(f"no tag header (magic 0x{magic:04x}, version {version}; expected 0x{TAG_MAGIC:04x}, "
                         f"{TAG_VERSION})")
    pos, tags = _TAG_HEAD.size, []
    for _ in range(ntags):
        (tag_offset,) = struct.unpack_from("<Q", buf, pos)
        key, pos = read_pmt(buf, pos + 8)
        value, pos = read_pmt(buf, pos)
        _, pos = read_pmt(buf, pos)  # the source id
        tags.append((tag_offset, key, value))
    return offset, tags, pos


def tag_header(offset: int) -> bytes:
    """A tag header with no tags for a message whose first sample has absolute index ``offset``."""
    return _TAG_HEAD.pack(TAG_MAGIC, TAG_VERSION, offset, 0)


def _import_zmq():
    try:
        import zmq
    except ImportError as exc:
        raise RadioError(f"the zmq radio needs pyzmq ({one_line(exc)}); pip install pyzmq") from None
    return zmq


class ZmqRadio(Radio):
    """One direction of a ZMQ stream to or from a GNU Radio flowgraph (see the module docstring).

    Args:
        spec: the URI after ``zmq:`` (``sub=tcp://127.0.0.1:5555,rate=2e6``; :data:`URI_FORM`).
        config: the radio settings; ``sample_rate_hz`` must equal the URI's ``rate=`` when both are
            given (a ZMQ stream is not resampled here: do it in the flowgraph).

    ``receive`` waits up to ``timeout=`` seconds for the first message (RadioError after that: nobody
    publishes), and ends the stream (returns fewer samples, then none) after a silence that long
    once samples have flowed, as a file's end does. ``transmit`` waits as long for a peer:
    ``pub=`` until a SUB source has subscribed (ZeroMQ drops what a PUB sends before), ``push=``
    until a PULL source takes the first message; then ``close()`` lingers that long for the
    messages still queued. ``transmit(burst, repeat=True)`` streams the burst back to back from a
    background thread until ``close()``; the peer paces it (PUSH and this PUB block at the
    high-water mark instead of dropping).
    """

    def __init__(self, spec: str, config: RadioConfig | None = None) -> None:
        self.spec = parse_spec(spec)
        self._zmq = zmq = _import_zmq()
        self.config = config or RadioConfig()
        self._check_rate(self.config)
        self._rate_tag: float | None = None
        self._freq_tag: float | None = None
        self._queue = SampleQueue()
        self._produced = 0           # samples handed to the queue (the index space of RX events)
        self._next_offset: int | None = None  # tag header: the offset the next message should start at
        self._got_any = False
        self._ended = False
        self._sent = 0
        self._peer = False
        self._implausible = 0  # samples zeroed: NaN, inf or beyond IMPLAUSIBLE_MAGNITUDE
        self._repeat_stop: threading.Event | None = None
        self._repeat_thread: threading.Thread | None = None
        self._tx_error: BaseException | None = None
        kind, how, _ = PATTERNS[self.spec.pattern]
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(getattr(zmq, kind))
        try:
            if kind == "SUB":
                self._sock.setsockopt(zmq.SUBSCRIBE, b"")
            if kind == "XPUB":
                self._sock.setsockopt(zmq.XPUB_NODROP, 1)  # wait at the high-water mark, never drop
            if how == "bind":
                self._sock.setsockopt(zmq.SNDTIMEO, 100)  # send waits in 100 ms slices (Ctrl-C, stop, timeout)
            if how == "bind":
                self._sock.bind(self.spec.address)
            else:
                self._sock.connect(self.spec.address)
        except zmq.ZMQError as exc:
            self._sock.close(linger=0)
            self._ctx.term()
            if exc.errno == errno.EADDRINUSE:
                raise RadioError(f"port {_port(self.spec.address)} is in use ({self.spec.uri}): another program "
                                 f"(a second diffradio, or a flowgraph's ZMQ sink) is bound there; pick another "
                                 f"port") from None
            raise RadioError(f"cannot {how} {self.spec.uri} ({one_line(exc)}); valid form: {URI_FORM}") from None

    def _check_rate(self, config: RadioConfig) -> None:
        rate = self.spec.rate_hz
        if rate is not None and rate != config.sample_rate_hz:
            raise RadioError(f"{self.spec.uri} says rate={rate:g} but the link runs at {config.sample_rate_hz:g} "
                             f"S/s; give the same rate to --rate, or resample in the flowgraph (a ZMQ stream is "
                             f"not resampled here)")

    def configure(self, config: RadioConfig) -> None:
        """Adopt ``config`` (nothing to tune: the flowgraph does); its rate must match ``rate=``."""
        self._check_rate(config)
        self.config = config

    def settings(self) -> DeviceSettings:
        """Rate and frequency of the stream: a source's ``rx_rate``/``rx_freq`` tags when they
        arrived (``tags=1``), else the URI's ``rate=``/``freq=``, else the config's."""
        rate = self._rate_tag or self.spec.rate_hz or self.config.sample_rate_hz
        freq = self._freq_tag or self.spec.freq_hz or self.config.center_freq_hz
        return DeviceSettings(float(rate), float(freq))

    def no_signal_hint(self) -> str:
        return (f"{FORMAT_HINT}; check that the flowgraph's source is on the signal's frequency and gain "
                f"(or try --radio sim:)")

    # ---- receive -------------------------------------------------------------------------------

    def _need(self, direction: str) -> None:
        if self.spec.direction != direction:
            other = "sub= or pull=" if direction == "rx" else "pub= or push="
            raise RadioError(f"{self.spec.uri} {'transmits' if direction == 'rx' else 'receives'} only; "
                             f"use zmq:{other} to {'receive' if direction == 'rx' else 'transmit'}")

    def _samples(self, msg) -> np.ndarray:
        """The samples of one message (complex64), its tag header read when ``tags=1``."""
        buf = memoryview(msg)
        if self.spec.tags:
            try:
                offset, tags, start = parse_tag_header(buf)
            except (ValueError, struct.error, IndexError) as exc:
                raise RadioError(f"{self.spec.uri}: tags=1 but a message has no valid GNU Radio tag header "
                                 f"({one_line(exc)}); turn pass_tags on in the flowgraph's ZMQ sink, or drop "
                                 f"tags=1") from None
            self._track_offset(offset, (len(buf) - start) // 8)
            for _, key, value in tags:
                if key == "rx_rate" and isinstance(value, float):
                    self._rate_tag = value
                elif key == "rx_freq" and isinstance(value, float):
                    self._freq_tag = value
            buf = buf[start:]
        elif len(buf) >= _TAG_HEAD.size and _TAG_HEAD.unpack_from(buf, 0)[:2] == (TAG_MAGIC, TAG_VERSION):
            raise RadioError(f"{self.spec.uri}: the stream carries GNU Radio's tag header (pass_tags on in the "
                             f"flowgraph's ZMQ sink); add tags=1 to the URI, or turn pass_tags off")
        if len(buf) % 8:
            raise RadioError(f"{self.spec.uri}: a {len(buf)}-byte message is not a whole number of complex64 "
                             f"samples; {FORMAT_HINT}")
        x = np.frombuffer(buf, dtype="<c8").astype(np.complex64)
        with np.errstate(invalid="ignore", over="ignore"):
            bad = ~(np.abs(x) <= IMPLAUSIBLE_MAGNITUDE)  # NaN, inf and absurd magnitudes
        if bad.any():
            if not self._implausible:
                log.warning("%s: samples that are not finite or exceed %g in magnitude (zeroed); %s",
                            self.spec.uri, IMPLAUSIBLE_MAGNITUDE, FORMAT_HINT)
            self._implausible += int(bad.sum())
            x[bad] = 0
        return x

    def _track_offset(self, offset: int, n: int) -> None:
        """Count a jump in the tag header's sample offsets as an RX overflow (a dropped message)."""
        expected = self._next_offset
        if expected is not None and offset != expected:
            self.stats.add("overflow", "rx", self._produced)
            log.warning("%s: %d sample(s) dropped before sample %d (ZMQ high-water mark: a slow reader)",
                        self.spec.uri, offset - expected, self._produced)
        self._next_offset = offset + n

    def _next_block(self, want: int) -> np.ndarray | None:
        """The next message's samples, or None at the end of the stream (a silence of ``timeout_s``
        after samples flowed). RadioError when nothing ever arrived within ``timeout_s``."""
        zmq = self._zmq
        if self._ended:
            return None
        deadline = time.monotonic() + self.spec.timeout_s
        while True:
            if self._sock.poll(100, zmq.POLLIN):  # short slices: Ctrl-C is seen at once
                x = self._samples(self._sock.recv(copy=False))
                if x.size == 0:
                    continue
                self._got_any = True
                self._produced += x.size
                return x
            if time.monotonic() > deadline:
                break
        if not self._got_any:
            source = "PUB" if self.spec.pattern == "sub" else "PUSH"
            raise RadioError(f"nothing arrived on {self.spec.uri} for {self.spec.timeout_s:g} s: no flowgraph's "
                             f"ZMQ {source} sink is sending there (GNU Radio's sinks bind, zmq:{self.spec.pattern}= "
                             f"connects); start the flowgraph, check the address, or raise timeout=")
        log.info("%s: no samples for %g s; the stream ended", self.spec.uri, self.spec.timeout_s)
        self._ended = True
        return None

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` samples, complex64 (n,); fewer, then empty, once the stream ended."""
        self._need("rx")
        out = self._queue.take(n_samples, self._next_block)
        self.stats.rx_samples += out.size
        return out

    # ---- transmit ------------------------------------------------------------------------------

    def _wait_for_peer(self) -> None:
        """``pub=``: wait until a SUB source has subscribed (its subscription reaches the XPUB)."""
        zmq = self._zmq
        if self._peer or self.spec.pattern != "pub":
            return
        deadline = time.monotonic() + self.spec.timeout_s
        while time.monotonic() < deadline:
            if self._sock.poll(100, zmq.POLLIN):
                self._sock.recv()  # a subscription message
                self._peer = True
                return
        raise RadioError(f"no ZMQ SUB source subscribed to {self.spec.uri} within {self.spec.timeout_s:g} s; start "
                         f"the flowgraph (its ZMQ SUB source connects to {self.spec.address}) or raise timeout=")

    def _send(self, x: np.ndarray, stop: threading.Event | None = None) -> None:
        """Send ``x`` (complex64) in messages of ``MESSAGE_SAMPLES``, each waiting up to ``timeout_s``."""
        zmq = self._zmq
        for start in range(0, x.size, MESSAGE_SAMPLES):
            part = x[start:start + MESSAGE_SAMPLES]
            data = part.tobytes() if not self.spec.tags else tag_header(self._sent) + part.tobytes()
            deadline = time.monotonic() + self.spec.timeout_s
            while True:
                if stop is not None and stop.is_set():
                    return
                try:
                    self._sock.send(data, copy=False)  # waits up to SNDTIMEO (100 ms) at the high-water mark
                    break
                except zmq.Again:
                    if time.monotonic() > deadline:
                        sink = "SUB" if self.spec.pattern == "pub" else "PULL"
                        raise RadioError(f"no ZMQ {sink} source took samples from {self.spec.uri} for "
                                         f"{self.spec.timeout_s:g} s; start the flowgraph (its ZMQ {sink} source "
                                         f"connects to {self.spec.address}) or raise timeout=") from None
            self._sent += part.size

    def _raise_tx_error(self) -> None:
        error, self._tx_error = self._tx_error, None
        if error is not None:
            raise error

    def _stop_repeat(self) -> None:
        if self._repeat_thread is not None:
            self._repeat_stop.set()
            self._repeat_thread.join()
            self._repeat_thread = self._repeat_stop = None
        self._raise_tx_error()

    def wait(self, seconds: float) -> None:
        """Let a repeating transmission run for ``seconds``; raise its error as soon as it fails."""
        stop = self._repeat_stop
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):  # set early only by the thread, when it fails
            self._repeat_thread.join()
            self._repeat_thread = self._repeat_stop = None
        self._raise_tx_error()

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Send ``burst`` (shape (n,), complex, |x| <= 1) as complex64 messages; ``repeat`` streams it
        back to back from a background thread until ``close()`` (its error is raised by the next
        ``wait``, ``transmit`` or ``close``)."""
        self._need("tx")
        x = np.ascontiguousarray(burst_samples(burst), dtype=np.complex64)
        self._stop_repeat()
        self._wait_for_peer()
        if not repeat:
            self._send(x)
            return
        stop = threading.Event()

        def loop() -> None:
            try:
                while not stop.is_set():
                    self._send(x, stop)
            except Exception as exc:  # handed to the caller (its traceback kept for a bug)
                self._tx_error = exc
                stop.set()

        self._repeat_stop, self._repeat_thread = stop, threading.Thread(target=loop, daemon=True)
        self._repeat_thread.start()

    def close(self) -> None:
        """Stop a repeating transmission, deliver what is queued (up to ``timeout_s``), close the socket."""
        if self._sock is None:
            return
        try:
            self._stop_repeat()
        finally:
            linger = int(self.spec.timeout_s * 1000) if self.spec.direction == "tx" else 0
            self._sock.close(linger=linger)
            self._ctx.term()
            self._sock = None
