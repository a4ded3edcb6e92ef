"""The zmq: radio against real GNU Radio flowgraphs (system python3 with gnuradio.zeromq) and against
plain pyzmq peers for the bad-input paths."""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

zmq = pytest.importorskip("zmq")

from diffradio.cli import main  # noqa: E402
from sdr import RadioError, open_radio  # noqa: E402
from sdr.base import RadioConfig  # noqa: E402
from sdr.zeromq import parse_tag_header, read_pmt, tag_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
FLOWGRAPHS = ROOT / "scripts" / "gnuradio"


def _gnuradio_zeromq() -> bool:
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "from gnuradio import zeromq, channels"],
                              capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_gnuradio = pytest.mark.skipif(not _gnuradio_zeromq(),
                                    reason=f"{SYSTEM_PYTHON} cannot import gnuradio.zeromq (apt-get install gnuradio)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(capsys, *argv) -> tuple[int, dict | None, str]:
    """``diffradio ARGV`` in this process: (exit status, the JSON on stdout or None, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return code, json.loads(lines[-1]) if lines else None, err


@pytest.fixture(scope="module")
def coffee_png(tmp_path_factory) -> str:
    """The photo the shipped captures carry (128x192 coffee), as the reference PNG."""
    from diffradio.images import write_image
    from diffradio.sweep import sweep_photo
    return str(write_image(tmp_path_factory.mktemp("ref") / "coffee.png", sweep_photo("coffee", 128)))


# ---- against GNU Radio ---------------------------------------------------------------------------

@needs_gnuradio
def test_rx_decodes_a_capture_played_through_gnuradio_channel_model_like_replay(tmp_path, capsys, coffee_png):
    """captures/tdl-c through channels.channel_model (noise at ~30 dB, +1 kHz, a second path) into a
    ZMQ PUSH sink; ``rx --radio zmq:pull=`` decodes it at replay's PSNR within 0.5 dB."""
    capture = ROOT / "captures" / "tdl-c.sigmf-meta"
    code, replay, _ = run_cli(capsys, "replay", str(capture), "--reference", coffee_png, "--out",
                              str(tmp_path / "replay.png"), "--json")
    assert code == 0
    port = free_port()
    graph = subprocess.Popen([SYSTEM_PYTHON, str(FLOWGRAPHS / "capture_channel_zmq.py"), "--capture",
                              str(capture.with_suffix(".sigmf-data")), "--address", f"tcp://127.0.0.1:{port}",
                              "--noise-voltage", "0.005", "--freq-offset-hz", "1000", "--echo", "0.2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        code, rx, err = run_cli(capsys, "rx", "--radio", f"zmq:pull=tcp://127.0.0.1:{port},rate=2e6,timeout=20",
                                "--timeout", "30", "--reference", coffee_png, "--out", str(tmp_path / "rx.png"),
                                "--json")
        graph.wait(timeout=30)
    finally:
        graph.kill()
    assert code == 0, err
    assert graph.returncode == 0, graph.stderr.read()
    assert rx["frames_decoded"] == rx["frames_expected"] == replay["frames_expected"] == 2
    assert abs(rx["cfo_hz_est"] - replay["cfo_hz_est"] - 1000) < 100  # GNU Radio's offset was added
    assert abs(rx["psnr_db"] - replay["psnr_db"]) < 0.5, (rx["psnr_db"], replay["psnr_db"])
    assert rx["overflows"] == 0


SINK = """
import sys, time
from gnuradio import blocks, gr, zeromq
pattern, address, n, path = sys.argv[1:]
tb = gr.top_block()
make = zeromq.sub_source if pattern == "sub" else zeromq.pull_source
src = make(gr.sizeof_gr_complex, 1, address, 100, False, -1)
head = blocks.head(gr.sizeof_gr_complex, int(n))
sink = blocks.file_sink(gr.sizeof_gr_complex, path, False)
tb.connect(src, head, sink)
tb.start()  # (tb.run() would not return: a ZMQ source does not end when the head block does)
while sink.nitems_read(0) < int(n):  # the sink's count, not the head's: stopping once the head has passed
    time.sleep(0.05)                 # n items can cut off the last buffer still on its way to the file
tb.stop()
tb.wait()
sink.close()
"""


@needs_gnuradio
@pytest.mark.parametrize("pattern", ["push", "pub"])
def test_tx_into_a_gnuradio_file_sink_writes_the_file_radios_samples(tmp_path, capsys, photo_png, pattern):
    """``tx --radio zmq:push=|pub=`` -> GNU Radio's ZMQ PULL/SUB source -> file sink: the same samples
    as ``tx --radio file:`` (same image, same nonce), bit for bit."""
    meta = tmp_path / "tx.sigmf-meta"
    code, sent, err = run_cli(capsys, "tx", "--radio", f"file:{meta}", "--image", photo_png, "--nonce", "4660",
                              "--json")
    assert code == 0, err
    reference = np.fromfile(tmp_path / "tx.sigmf-data", dtype="<c8")
    assert reference.size == sent["samples"] > 0
    port, out = free_port(), tmp_path / "gr.cf32"
    source = "sub" if pattern == "pub" else "pull"
    graph = subprocess.Popen([SYSTEM_PYTHON, "-c", SINK, source, f"tcp://127.0.0.1:{port}", str(reference.size),
                              str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        code, zsent, err = run_cli(capsys, "tx", "--radio", f"zmq:{pattern}=tcp://127.0.0.1:{port},rate=2e6,timeout=20",
                                   "--image", photo_png, "--nonce", "4660", "--json")
        graph.wait(timeout=30)
    finally:
        graph.kill()
    assert code == 0, err
    assert zsent["samples"] == sent["samples"] and zsent["nonce"] == 4660
    got = np.fromfile(out, dtype="<c8")
    assert got.size == reference.size
    assert np.array_equal(got, reference)


@needs_gnuradio
def test_tx_through_the_shipped_zmq_channel_flowgraph_to_rx(tmp_path, capsys, photo_png):
    """``tx --radio zmq:pub=`` -> scripts/gnuradio/zmq_channel.py (SUB source, channels.channel_model,
    PUB sink) -> ``rx --radio zmq:sub=``: every PUB/SUB hop of the no-hardware set-up carries the image."""
    import threading
    tx_port, rx_port = free_port(), free_port()
    graph = subprocess.Popen([SYSTEM_PYTHON, str(FLOWGRAPHS / "zmq_channel.py"), "--tx-address",
                              f"tcp://127.0.0.1:{tx_port}", "--rx-address", f"tcp://127.0.0.1:{rx_port}",
                              "--noise-voltage", "0.005", "--freq-offset-hz", "-2000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sent: dict = {}

    def transmit() -> None:  # once rx has subscribed to the flowgraph's PUB sink (it drops before)
        time.sleep(2.0)
        sent["code"] = main(["tx", "--radio", f"zmq:pub=tcp://127.0.0.1:{tx_port},timeout=20", "--image", photo_png,
                             "--json"])

    sender = threading.Thread(target=transmit)
    try:
        sender.start()
        code, rx, err = run_cli(capsys, "rx", "--radio", f"zmq:sub=tcp://127.0.0.1:{rx_port},rate=2e6,timeout=20",
                                "--timeout", "30", "--reference", photo_png, "--out", str(tmp_path / "rx.png"),
                                "--json")
        sender.join(timeout=60)
    finally:
        graph.kill()
        graph.wait()
    assert sent.get("code") == 0 and code == 0, err
    assert rx["frames_decoded"] == rx["frames_expected"] and rx["frames_lost"] == 0
    assert abs(rx["cfo_hz_est"] + 2000) < 100 and rx["psnr_db"] > 15

@needs_gnuradio
def test_pmt_reader_and_tag_header_match_gnuradio():
    """PMTs serialized by GNU Radio's own pmt library read back as the values they hold."""
    script = ("import pmt, sys\n"
              "vals = [pmt.intern('rx_time'), pmt.make_tuple(pmt.from_uint64(7), pmt.from_double(0.25)),\n"
              "        pmt.from_double(2e6), pmt.from_long(-3), pmt.PMT_T, pmt.PMT_NIL, pmt.from_complex(1-2j),\n"
              "        pmt.init_f32vector(3, [1, 2, 3]), pmt.cons(pmt.intern('k'), pmt.from_uint64(1 << 40)),\n"
              "        pmt.make_vector(2, pmt.from_long(5))]\n"
              "sys.stdout.write(''.join(pmt.serialize_str(v).hex() + '\\n' for v in vals))\n")
    out = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    values = [read_pmt(bytes.fromhex(h), 0) for h in out]
    assert all(end == len(h) // 2 for (_, end), h in zip(values, out))
    got = [v for v, _ in values]
    assert got[:7] == ["rx_time", (7, 0.25), 2e6, -3, True, None, 1 - 2j]
    assert got[7].tolist() == [1.0, 2.0, 3.0]
    assert got[8] == ("k", 1 << 40) and got[9] == (5, 5)


TAGGED = """
import sys, time
import pmt
from gnuradio import blocks, gr, zeromq
address, n = sys.argv[1], int(sys.argv[2])
tb = gr.top_block()
src = blocks.vector_source_c([complex(i % 100, -(i % 7)) for i in range(n)], False)
tagger = blocks.tags_strobe(gr.sizeof_gr_complex, pmt.from_double(3e6), 1000, pmt.intern("rx_rate"))
add = blocks.add_cc()
sink = zeromq.push_sink(gr.sizeof_gr_complex, 1, address, 100, True, -1)
tb.connect(src, (add, 0))
tb.connect(tagger, blocks.multiply_const_cc(0), (add, 1))
tb.connect(add, sink)
tb.run()
"""


@needs_gnuradio
def test_gnuradio_tag_header_is_read_with_tags_1_and_refused_without(capsys):
    """A PUSH sink with pass_tags on: ``tags=1`` gets the samples exactly and the rx_rate tag; without
    ``tags=1`` the header is recognised and refused in one line."""
    n = 20000
    for tags in ("1", "0"):
        port = free_port()
        graph = subprocess.Popen([SYSTEM_PYTHON, "-c", TAGGED, f"tcp://127.0.0.1:{port}", str(n)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            radio = open_radio(f"zmq:pull=tcp://127.0.0.1:{port},tags={tags},timeout=10")
            if tags == "1":
                x = radio.receive(n)
                i = np.arange(n)
                assert np.array_equal(x, (i % 100 - 1j * (i % 7)).astype(np.complex64))
                assert radio.settings().sample_rate_hz == 3e6 and radio.stats.overflows == 0
            else:
                with pytest.raises(RadioError, match="tag header.*add tags=1"):
                    radio.receive(n)
            radio.close()
        finally:
            graph.kill()  # its tag strobe never ends
            graph.wait()


# ---- plain pyzmq peers: formats, gaps and user errors --------------------------------------------

def test_tag_header_offsets_count_dropped_messages_as_overflows():
    """Messages whose tag-header offsets jump (a PUB that dropped some) count one overflow each, at
    the first sample after the gap; the samples around it arrive intact."""
    port = free_port()
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{port}")
    try:
        radio = open_radio(f"zmq:pull=tcp://127.0.0.1:{port},tags=1,timeout=2")
        a = np.arange(100, dtype=np.float32).astype(np.complex64)
        for offset, part in ((0, a), (100, a), (500, a)):  # 300 samples lost before offset 500
            push.send(tag_header(offset) + part.tobytes())
        x = radio.receive(300)
        assert np.array_equal(x, np.tile(a, 3))
        assert radio.stats.overflows == 1 and radio.stats.events[0].sample == 200
        assert radio.receive(10).size == 0  # the stream ended (silence of timeout=)
        radio.close()
    finally:
        push.close(linger=0)
    assert parse_tag_header(tag_header(7))[:2] == (7, [])


def _push_samples(port: int, data: bytes, chunk: int = 1 << 16):
    """A PUSH socket bound to ``port`` sending ``data`` from a thread (PUSH waits for a peer)."""
    import threading
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{port}")
    threading.Thread(target=lambda: [push.send(data[i:i + chunk]) for i in range(0, len(data), chunk)],
                     daemon=True).start()
    return push


def test_wrong_sample_format_finds_no_frame_and_says_what_the_stream_must_be(tmp_path, capsys):
    """A flowgraph sending complex int16 (GNU Radio 'short' pairs, the common mistake) instead of
    complex64: no frame, the hint names the format, and no image is written."""
    from sdr.sigmf_io import SigMFReader
    x = SigMFReader(ROOT / "captures" / "clean.sigmf-meta").read(1 << 20)
    x = np.concatenate([np.zeros(3000, np.complex64), x, np.zeros(3000, np.complex64)])
    sc16 = np.round(np.stack([x.real, x.imag], axis=1) * 2**14).astype("<i2").tobytes()
    port = free_port()
    push = _push_samples(port, sc16)
    try:
        code, _, err = run_cli(capsys, "rx", "--radio", f"zmq:pull=tcp://127.0.0.1:{port},timeout=1", "--timeout",
                               "5", "--out", str(tmp_path / "rx.png"))
    finally:
        push.close(linger=0)
        port = free_port()
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("diffradio: error: no frame found") and "complex64" in lines[-1], err
    assert not (tmp_path / "rx.png").exists()
    # the same samples as complex64 decode (the check above fails for the format, not the link)
    push = _push_samples(port, x.astype("<c8").tobytes())
    try:
        code, got, err = run_cli(capsys, "rx", "--radio", f"zmq:pull=tcp://127.0.0.1:{port},timeout=1", "--timeout",
                                 "5", "--out", str(tmp_path / "rx.png"), "--json")
    finally:
        push.close(linger=0)
    assert code == 0 and got["frames_decoded"] == got["frames_expected"] == 2, err


def test_nobody_publishing_times_out_in_one_line(tmp_path, capsys):
    port = free_port()
    t0 = time.monotonic()
    code, _, err = run_cli(capsys, "rx", "--radio", f"zmq:sub=tcp://127.0.0.1:{port},timeout=1", "--out",
                           str(tmp_path / "rx.png"))
    assert code == 2 and time.monotonic() - t0 < 30
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"diffradio: error: nothing arrived on zmq:sub=tcp://127.0.0.1:{port}")
    assert "Traceback" not in err


def test_port_in_use_is_one_line_naming_the_port(capsys, photo_png):
    port = free_port()
    busy = zmq.Context.instance().socket(zmq.PUSH)
    busy.bind(f"tcp://127.0.0.1:{port}")
    try:
        code, _, err = run_cli(capsys, "tx", "--radio", f"zmq:push=tcp://127.0.0.1:{port}", "--image", photo_png)
    finally:
        busy.close(linger=0)
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"diffradio: error: port {port} is in use")


def test_transmit_with_no_peer_and_wrong_direction_are_one_line_errors():
    port = free_port()
    radio = open_radio(f"zmq:pub=tcp://127.0.0.1:{port},timeout=0.5")
    with pytest.raises(RadioError, match="no ZMQ SUB source subscribed"):
        radio.transmit(np.full(64, 0.5, np.complex64))
    with pytest.raises(RadioError, match="transmits only; use zmq:sub= or pull= to receive"):
        radio.receive(10)
    radio.close()
    with pytest.raises(RadioError, match="rate=1e\\+06 but the link runs at 2e\\+06"):
        open_radio("zmq:sub=tcp://127.0.0.1:1,rate=1e6", RadioConfig(sample_rate_hz=2e6))


def test_non_finite_and_absurd_samples_are_zeroed_and_odd_sizes_refused():
    port = free_port()
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{port}")
    try:
        radio = open_radio(f"zmq:pull=tcp://127.0.0.1:{port},timeout=2")
        push.send(np.array([1, np.nan, np.inf * 1j, 2, 3e30, 5j], np.complex64).tobytes())
        assert radio.receive(6).tolist() == [1, 0, 0, 2, 0, 5j]
        push.send(b"\x00" * 12)
        with pytest.raises(RadioError, match="not a whole number of complex64 samples"):
            radio.receive(2)
        radio.close()
    finally:
        push.close(linger=0)


def test_flowgraphs_compile_to_the_python_in_the_repository(tmp_path):
    """Every shipped .grc compiles with grcc, to the generated Python committed beside it."""
    import shutil
    if shutil.which("grcc") is None:
        pytest.skip("grcc not found (apt-get install gnuradio)")
    grcs = sorted(FLOWGRAPHS.glob("*.grc"))
    assert len(grcs) >= 5
    for grc in grcs:
        proc = subprocess.run(["grcc", "-o", str(tmp_path), str(grc)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        def body(path: Path) -> list[str]:  # all but the header line naming GNU Radio's version
            return [line for line in path.read_text().splitlines() if not line.startswith("# GNU Radio version:")]

        assert body(tmp_path / f"{grc.stem}.py") == body(grc.with_suffix(".py")), grc.name




def test_pub_waits_at_the_high_water_mark_instead_of_dropping():
    """A subscriber that stops reading: ``pub=`` waits (XPUB_NODROP), gives up after ``timeout=`` in one
    line, and everything it counted as sent reaches the subscriber (ZeroMQ's PUB would drop silently)."""
    port = free_port()
    radio = open_radio(f"zmq:pub=tcp://127.0.0.1:{port},timeout=0.5")
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 2)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    x = np.full(1 << 20, 0.25, np.complex64)
    try:
        with pytest.raises(RadioError, match="no ZMQ SUB source took samples"):
            for _ in range(100):
                radio.transmit(x)
        received = 0
        while sub.poll(500):
            received += len(sub.recv()) // 8
        assert received == radio._sent > 0
    finally:
        sub.close(linger=0)
        radio._sock.close(linger=0)
