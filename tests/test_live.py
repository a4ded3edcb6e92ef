"""``rx --live``: the page, driven by headless Chromium against a ZMQ stream of two images."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = os.environ.get("DIFFRADIO_LIVE_SCREENSHOT")
"""If set, the mid-reception screenshot is also copied there (docs/figures/live.png was made so)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(url: str, *args: str) -> str:
    """Headless Chromium on ``url`` with ``args`` (``--dump-dom`` or ``--screenshot=…``); its stdout.
    The page's script runs for 3 s of virtual time first (it polls the state)."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
                               "--window-size=1280,860", *args, url],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def state(url: str) -> dict:
    with urllib.request.urlopen(url + "state", timeout=10) as r:
        return json.loads(r.read())


def wait_for(what, timeout_s: float = 60.0, period_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(period_s)
    raise AssertionError(f"timed out waiting for {what.__doc__ or what}")


# a sample of captures/two-streams just before the end of the second stream's first payload frame
# (samples 70651..74571; `diffradio replay` prints where each frame starts): its second frame's tiles
# are missing
SECOND_STREAM_CUT = 74456


class Lines:
    """The lines a process writes to a pipe, collected by a thread."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        threading.Thread(target=lambda: [self.lines.append(line) for line in pipe], daemon=True).start()

    def find(self, pattern: str) -> re.Match | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (apt-get install chromium)")
def test_live_page_shows_arriving_tiles_both_images_counters_and_constellation(tmp_path):
    zmq = pytest.importorskip("zmq")
    from sdr.sigmf_io import SigMFReader

    samples = SigMFReader(ROOT / "captures" / "two-streams.sigmf-meta").read(1 << 20)
    cut = SECOND_STREAM_CUT
    zport, hport = free_port(), free_port()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{zport}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "diffradio.cli", "rx", "--radio",
                             f"zmq:pull=tcp://127.0.0.1:{zport},rate=2e6,timeout=8", "--live", "--port", str(hport),
                             "--out", str(tmp_path / "img-{n}.png"), "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err, out = Lines(proc.stderr), Lines(proc.stdout)
    try:
        def page_up():
            """the live page's address on stderr (or the command's end, with its error)"""
            if proc.poll() is not None:
                raise AssertionError(f"rx --live ended with {proc.returncode}: {''.join(err.lines)[-2000:]}")
            return err.find(r"live page at (http://\S+)")

        m = wait_for(page_up, 120)
        url = m.group(1)
        assert url == f"http://127.0.0.1:{hport}/"
        # the first image and a part of the second, then idle noise (as a radio delivers while nothing is
        # sent: the receiver reads 65536-sample chunks) and a pause
        rng = np.random.default_rng(0)
        idle = np.sqrt(np.mean(np.abs(samples[:2000]) ** 2) / 2) * (rng.standard_normal((1 << 17, 2)) @ [1, 1j])
        part = np.concatenate([samples[:cut], idle]).astype("<c8")
        for i in range(0, part.size, 4096):
            push.send(part[i:i + 4096].tobytes())

        def arriving():
            """the second stream's preview, with tiles marked missing"""
            s = state(url)
            return [st for st in s["streams"] if not st["finished"] and st["preview_version"] and st["missing_tiles"]]

        (second,) = wait_for(arriving, 30)
        rows, cols = second["grid"]
        assert 0 < len(second["missing_tiles"]) < rows * cols  # frame 1 of 2 arrived: some tiles, not all
        shot = tmp_path / "live-arriving.png"
        dom = chromium(url, f"--screenshot={shot}")
        assert shot.stat().st_size > 20000
        if SCREENSHOT:
            shutil.copy(shot, SCREENSHOT)
        dom = chromium(url, "--dump-dom")
        assert f'data-id="{second["id"]}"' in dom and "tile(s) estimated" in dom
        assert re.search(r'class="finished-image" data-n="1"', dom)

        for i in range(cut, samples.size, 4096):  # the rest; then the stream falls silent and ends
            push.send(samples[i:i + 4096].astype("<c8").tobytes())
        wait_for(lambda: state(url)["status"] == "ended", 60)
        s = state(url)
        assert s["frames"] == {"detected": 8, "decoded": 8, "lost": 0}
        assert [f["n"] for f in s["finished"]] == [1, 2]

        dom = chromium(url, "--dump-dom")
        assert re.search(r'id="detected">8<', dom) and re.search(r'id="decoded">8<', dom)
        assert re.search(r'id="lost">0<', dom) and re.search(r'id="nfinished">2<', dom)
        assert int(re.search(r'id="constellation"[^>]*data-points="(\d+)"', dom).group(1)) > 100
        for n in (1, 2):
            assert re.search(rf'class="finished-image" data-n="{n}"><img src="/image/{n}.png"', dom)
            with urllib.request.urlopen(f"{url}image/{n}.png", timeout=10) as r:
                assert r.read() == (tmp_path / f"img-{n}.png").read_bytes()
        assert 'data-id="' not in dom.split('id="arriving"')[1].split("Finished")[0]  # nothing left arriving

        proc.send_signal(signal.SIGINT)  # the page stays until Ctrl-C, which ends the command cleanly
        assert proc.wait(timeout=30) == 0
    finally:
        push.close(linger=0)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = json.loads(next(line for line in out.lines if line.startswith("{")))
    assert [img["out"] for img in result["images"]] == [str(tmp_path / f"img-{n}.png") for n in (1, 2)]
    assert all(img["frames_lost"] == 0 for img in result["images"])
    assert not any("Traceback" in line for line in err.lines)


def test_live_port_in_use_is_one_line_naming_the_port(tmp_path, capsys):
    from diffradio.cli import main
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["rx", "--radio", "sim:", "--live", "--port", str(port), "--out", str(tmp_path / "i-{n}.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("diffradio: error: cannot serve the live page on 127.0.0.1:")
    assert f"port {port} is in use" in err[-1] and "Traceback" not in "".join(err)


def test_live_needs_numbered_out(tmp_path, capsys):
    from diffradio.cli import main
    assert main(["rx", "--radio", "sim:", "--live", "--out", str(tmp_path / "x.png")]) == 2
    assert "--live shows every image as it arrives: give --out with {n}" in capsys.readouterr().err


def test_monitor_counts_lost_frames_and_marks_missing_tiles(codec, photo):
    """Frames 1 and 3 of a 3-frame semantic stream: frame 2 is counted lost below the highest index
    seen, and the preview marks exactly the tiles whose latents were (wholly or partly) in frame 2."""
    from diffradio import link
    from diffradio.live import LiveMonitor
    from diffradio.stream import DESCRIPTOR_BYTES, StreamAssembler
    from phy import OfdmParams, Receiver, Transmitter

    p = OfdmParams()
    tx = Transmitter(p, nonce=9, max_payload_symbols=4)  # small frames: the photo's latents take several
    t = link.semantic_transmission(photo, codec, tx, stream_id=2)
    assert t.frames_sent >= 5  # head (the descriptor), 3 or more payload frames, descriptor
    keep = [0, 1, 3]  # head, payload frames 1 and 3
    rx = Receiver(p, control_lengths=(DESCRIPTOR_BYTES,))
    rx_frames = rx.receive(np.concatenate([np.zeros(300, np.complex64)] + [t.bursts[i] for i in keep]
                                          + [np.zeros(300, np.complex64)]))
    assembler, monitor = StreamAssembler(), LiveMonitor(codec, preview_hz=50)
    try:
        for f in rx_frames:
            assembler.add(f)
            monitor.on_frame(assembler.streams[(2, 9, t.frames_sent)], f)
        s = wait_for(lambda: (lambda st: st if st["preview_version"] else None)(monitor.snapshot()["streams"][0]), 30)
        assert monitor.snapshot()["frames"] == {"detected": 3, "decoded": 3, "lost": 1}
        values, var, _ = link.gather_latents(assembler.streams[(2, 9, t.frames_sent)])
        per_tile = np.isinf(var.reshape(t.descriptor.latent_shape[0], -1))
        missing = np.flatnonzero(per_tile.all(axis=1)).tolist()
        partial = np.flatnonzero(per_tile.any(axis=1) & ~per_tile.all(axis=1)).tolist()
        assert missing + partial and s["missing_tiles"] == missing and s["partial_tiles"] == partial
        assert tuple(s["grid"]) == tuple(codec.tile_grid(photo.shape))
    finally:
        monitor.close()


def test_page_server_survives_browsers_that_leave_and_serves_late_ones():
    """Clients that send a request and leave without reading, or leave half-way through a request,
    cost nothing: the next browser gets the page and the state; unknown paths are 404."""
    import urllib.error

    from diffradio.live import LiveMonitor, LiveServer
    monitor = LiveMonitor()
    server = LiveServer(monitor, port=0)
    try:
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.sendall(b"GET /state HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET /sta")
        monitor.set_status("ended")
        s = state(server.url)
        assert s["status"] == "ended" and s["frames"] == {"detected": 0, "decoded": 0, "lost": 0}
        with urllib.request.urlopen(server.url, timeout=10) as r:
            assert b'<canvas id="constellation"' in r.read()
        for path in ("image/1.png", "preview/x.png", "nothing"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(server.url + path, timeout=10)
    finally:
        server.close()
        monitor.close()


def test_ctrl_c_during_live_reception_stops_with_the_finished_images_on_disk(tmp_path):
    """Ctrl-C while the second image is half received: the command ends at once (exit 0, JSON with
    ``interrupted``), image 1 is on disk, the page is gone."""
    zmq = pytest.importorskip("zmq")
    from sdr.sigmf_io import SigMFReader

    samples = SigMFReader(ROOT / "captures" / "two-streams.sigmf-meta").read(1 << 20)
    part = np.concatenate([samples[:SECOND_STREAM_CUT], np.zeros(1 << 17, np.complex64)]).astype("<c8")
    zport, hport = free_port(), free_port()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{zport}")
    proc = subprocess.Popen([sys.executable, "-m", "diffradio.cli", "rx", "--radio",
                             f"zmq:pull=tcp://127.0.0.1:{zport},rate=2e6,timeout=30", "--live", "--port", str(hport),
                             "--out", str(tmp_path / "img-{n}.png"), "--json"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"},
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err, out = Lines(proc.stderr), Lines(proc.stdout)
    try:
        def page_up():
            """the live page's address on stderr"""
            if proc.poll() is not None:
                raise AssertionError(f"rx --live ended with {proc.returncode}: {''.join(err.lines)[-2000:]}")
            return err.find(r"live page at (http://\S+)")

        url = wait_for(page_up, 120).group(1)
        for i in range(0, part.size, 4096):
            push.send(part[i:i + 4096].tobytes())
        wait_for(lambda: [f["n"] for f in state(url)["finished"]] == [1], 60)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # SIGABRT: faulthandler prints where every thread is
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            time.sleep(1)
            raise AssertionError("rx --live still ran 60 s after Ctrl-C; its threads:\n" + "".join(err.lines)[-8000:])
        assert proc.returncode == 0, "".join(err.lines)[-2000:]
        assert time.monotonic() - t0 < 30
    finally:
        push.close(linger=0)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = json.loads(next(line for line in out.lines if line.startswith("{")))
    assert result["interrupted"] and (tmp_path / "img-1.png").is_file()
    assert result["images"][0]["out"] == str(tmp_path / "img-1.png") and result["images"][0]["frames_lost"] == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "state", timeout=5)
