"""The ``diffradio`` command line: the JSON contract, tx → file → replay, and one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffradio.cli import main

CONTRACT = {"psnr_db", "ms_ssim", "snr_db_est", "cfo_hz_est", "frames_sent", "frames_detected", "frames_decoded",
            "channel_uses", "decode_s", "out"}


def _json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_loopback_json_contract_and_files(tmp_path, photo_png, capsys):
    out, plot = tmp_path / "rx.png", tmp_path / "diag.png"
    assert main(["loopback", "--image", photo_png, "--snr", "12", "--channel", "awgn", "--cfo", "3000", "--sro", "30",
                 "--steps", "4", "--out", str(out), "--plot", str(plot), "--json"]) == 0
    result = _json(capsys)
    assert CONTRACT <= result.keys()
    assert result["frames_decoded"] == result["frames_expected"] and result["frames_sent"] == result["frames_expected"] + 2
    assert abs(result["cfo_hz_est"] - 3000) < 500
    assert abs(result["snr_db_est"] - 12) < 1.5
    # the simulated radio is reported by its typed channel fields, never as a URI built here
    assert result["radio"] is None and result["sim_channel"] == dict(snr_db=12.0, channel="awgn", cfo_hz=3000.0,
                                                                     sro_ppm=30.0, seed=0)
    assert Image.open(out).size == Image.open(photo_png).size
    assert Image.open(plot).size[0] > 1000


def test_tx_file_replay_equals_noiseless_loopback(tmp_path, photo_png, capsys):
    cap = tmp_path / "cap.sigmf-meta"
    assert main(["tx", "--radio", f"file:{cap}", "--image", photo_png, "--json"]) == 0
    sent = _json(capsys)
    assert cap.exists() and sent["frames_sent"] >= 3
    assert main(["replay", str(cap), "--reference", photo_png, "--steps", "4", "--out",
                 str(tmp_path / "replay.png"), "--json"]) == 0
    replayed = _json(capsys)
    assert main(["loopback", "--image", photo_png, "--radio", "sim:", "--steps", "4", "--out",
                 str(tmp_path / "loop.png"), "--json"]) == 0
    looped = _json(capsys)
    assert looped["radio"] == "sim:" and looped["sim_channel"] is None  # the user's URI, as given
    assert replayed["frames_decoded"] == looped["frames_decoded"] == sent["frames_sent"] - 2
    a = np.asarray(Image.open(tmp_path / "replay.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "loop.png"), dtype=int)
    assert np.abs(a - b).mean() < 1.0
    assert abs(replayed["psnr_db"] - looped["psnr_db"]) < 0.2


def test_digital_scheme_over_file(tmp_path, photo_png, capsys):
    cap = tmp_path / "dig.sigmf-meta"
    assert main(["tx", "--radio", f"file:{cap}", "--image", photo_png, "--scheme", "digital",
                 "--snr-hint", "20", "--json"]) == 0
    assert main(["replay", str(cap), "--reference", photo_png, "--out", str(tmp_path / "d.png"), "--json"]) == 0
    result = _json(capsys)
    assert result["scheme"] == "digital" and result["frames_lost"] == 0 and result["psnr_db"] > 20


@pytest.fixture(scope="module")
def codec_without_prior(tmp_path_factory):
    """The shipped codec saved without its diffusion prior."""
    import torch

    from semantic import SemanticCodec
    path = tmp_path_factory.mktemp("noprior")
    SemanticCodec(SemanticCodec.from_pretrained(None).model).save_pretrained(path, dtype=torch.float16)
    return str(path)


@pytest.mark.parametrize("args, needle", [
    (["loopback", "--image", "/nonexistent.png"], "does not exist"),
    (["replay", "/nonexistent.sigmf-meta"], "nonexistent"),
    (["replay", "capture.wav"], "not a .sigmf-meta"),
    (["loopback", "--image", "IMG", "--model", "/no/such/model"], "no semantic codec"),
    (["rx", "--radio", "bogus:thing"], "radio"),
    (["loopback", "--image", "IMG", "--refine-steps", "-1"], "--refine-steps -1 is negative"),
    (["loopback", "--image", "IMG", "--decoder", "digital", "--refine-steps", "5"], "digital scheme sends none"),
    (["loopback", "--image", "IMG", "--decoder", "diffusion", "--model", "NOPRIOR"], "no diffusion prior"),
])
def test_user_mistakes_are_one_line(tmp_path, photo_png, codec_without_prior, capsys, args, needle):
    args = [{"IMG": photo_png, "NOPRIOR": codec_without_prior}.get(a, a) for a in args]
    out = tmp_path / "never.png"
    code = main(args + ["--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not out.exists()


def test_capture_without_a_frame_writes_no_image(tmp_path, capsys):
    from sdr import SigMFRecorder
    rng = np.random.default_rng(0)
    with SigMFRecorder(tmp_path / "noise.sigmf-meta", 2e6) as rec:
        rec.write((0.05 * (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000))).astype(np.complex64))
    out = tmp_path / "x.png"
    assert main(["replay", str(tmp_path / "noise.sigmf-meta"), "--out", str(out)]) == 2
    assert "no frame found" in capsys.readouterr().err
    assert not out.exists()


def test_random_bytes_capture_is_one_line(tmp_path):
    meta = tmp_path / "junk.sigmf-meta"
    meta.write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    (tmp_path / "junk.sigmf-data").write_bytes(b"\0" * 800)
    proc = subprocess.run([sys.executable, "-m", "diffradio.cli", "replay", str(meta), "--out",
                           str(tmp_path / "y.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "y.png").exists()


def test_replay_with_another_model_is_refused(tmp_path, capsys):
    """A stream carries its encoder's fingerprint: another model must not draw a wrong image."""
    import torch

    from semantic.codec import SemanticCodec
    from semantic.latent_codec import ProjectedLatentCodec

    torch.manual_seed(1)
    SemanticCodec(ProjectedLatentCodec()).save_pretrained(tmp_path / "other")
    out = tmp_path / "wrong.png"
    capture = str(Path(__file__).resolve().parent.parent / "captures" / "clean.sigmf-meta")
    assert main(["replay", capture, "--model", str(tmp_path / "other"), "--out", str(out)]) == 2
    assert "encoded by model" in capsys.readouterr().err
    assert not out.exists()


def test_rx_record_keeps_what_was_heard_even_without_a_frame(tmp_path, capsys):
    rec = tmp_path / "heard.sigmf-meta"
    assert main(["rx", "--radio", "sim:snr=10,seed=3", "--timeout", "0.05", "--record", str(rec),
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "no frame found" in capsys.readouterr().err
    handle = __import__("sigmf").sigmffile.fromfile(str(rec))
    handle.validate()
    assert handle.read_samples().size == 100_000  # 0.05 s at 2 MS/s
    assert not (tmp_path / "x.png").exists()


def test_rx_record_survives_ctrl_c(tmp_path, capsys, monkeypatch):
    """Ctrl-C while receiving: exit 130, and the capture holds every sample received so far."""
    from diffradio import commands
    from sdr.base import Radio, RadioConfig

    class Interrupted(Radio):
        config = RadioConfig()

        def configure(self, config):
            pass

        def transmit(self, burst, repeat=False, *, label=None):
            pass

        def receive(self, n):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls > 2:
                raise KeyboardInterrupt
            return np.full(n, 0.01 + 0.01j, np.complex64)

    monkeypatch.setattr(commands, "open_radio", lambda uri, config: Interrupted())
    rec = tmp_path / "partial.sigmf-meta"
    assert main(["rx", "--radio", "pluto:", "--record", str(rec), "--out", str(tmp_path / "x.png")]) == 130
    assert "interrupted" in capsys.readouterr().err
    samples = __import__("sigmf").sigmffile.fromfile(str(rec)).read_samples()
    assert samples.size == 2 * (1 << 16)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_images_honour_the_umask(tmp_path, photo, umask):
    """A PNG is created as a plain open() would create it (0o666 less the umask), never 0o600 regardless."""
    import os

    from diffradio.diagnostics import plot_diagnostics
    from diffradio.images import write_image
    from diffradio.link import RxRun
    from diffradio.stream import StreamAssembler

    old = os.umask(umask)
    try:
        image = write_image(tmp_path / "out.png", photo)
        plot = plot_diagnostics(tmp_path / "plot.png", RxRun(StreamAssembler(), [], 0, np.zeros(0, np.complex64)), 2e6)
    finally:
        os.umask(old)
    for path in (image, plot):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    image.chmod(0o640)  # replacing a file keeps its mode, as writing into it would
    write_image(image, photo)
    assert image.stat().st_mode & 0o777 == 0o640


def test_loopback_json_of_an_image_too_small_for_vif_reports_null(tmp_path, photo, capsys):
    from diffradio.images import write_image

    small = write_image(tmp_path / "small.png", photo[:40, :40])
    out = tmp_path / "rx.png"
    assert main(["loopback", "--image", str(small), "--steps", "2", "--decoder", "direct", "--out", str(out),
                 "--json"]) == 0
    result = _json(capsys)
    assert result["vif"] is None and result["psnr_db"] > 10 and out.exists()


@pytest.mark.parametrize("command", [["rx", "--radio", "sim:"], ["replay", "captures/clean.sigmf-meta"]])
def test_receivers_refuse_decoder_digital_in_one_line(tmp_path, capsys, command):
    out = tmp_path / "never.png"
    assert main(command + ["--decoder", "digital", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "frame headers" in err[0] and "--decoder" in err[0]
    assert not out.exists()


def test_realism_is_checked(tmp_path, capsys):
    out = tmp_path / "rx.png"
    assert main(["replay", "captures/clean.sigmf-meta", "--realism", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--realism" in err[-1]


def test_gain_options_say_which_direction_and_reach_the_radio(tmp_path, photo_png, monkeypatch, capsys):
    from diffradio import commands
    from sdr import open_radio

    configs = {}

    def recording_open(uri, config):
        configs[uri] = config
        return open_radio(uri, config)

    monkeypatch.setattr(commands, "open_radio", recording_open)
    cap = tmp_path / "c.sigmf-meta"
    assert main(["tx", "--radio", f"file:{cap}", "--image", photo_png]) == 0
    assert configs[f"file:{cap}"].tx_gain_db == -10.0  # the documented default
    assert main(["tx", "--radio", f"file:{cap}", "--image", photo_png, "--gain", "-25"]) == 0
    assert configs[f"file:{cap}"].tx_gain_db == -25.0  # --gain is --tx-gain on tx
    main(["rx", "--radio", "sim:seed=1", "--timeout", "0.01", "--rx-gain", "30", "--out", str(tmp_path / "x.png")])
    assert configs["sim:seed=1"].rx_gain_db == 30.0
    main(["rx", "--radio", "sim:seed=2", "--timeout", "0.01", "--out", str(tmp_path / "x.png")])
    assert configs["sim:seed=2"].rx_gain_db is None  # AGC
    help_text = commands_help("tx") + commands_help("rx")
    assert "--tx-gain DB, --gain DB" in help_text and "--rx-gain DB, --gain DB" in help_text
    assert "default -10" in help_text and "AGC" in help_text


def commands_help(command: str) -> str:
    from diffradio.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


def test_replay_rate_help_says_it_is_the_transmitter_rate():
    text = commands_help("replay")
    assert "sent at (tx --rate)" in text and "resampled from its own rate" in text


def test_a_bug_keeps_its_traceback_and_debug_shows_any(monkeypatch, capsys, photo_png):
    from diffradio import commands

    def broken(args, emit):
        return np.zeros(3) + np.zeros(4)  # a NumPy ValueError: a bug, not the user's mistake

    monkeypatch.setattr(commands, "run", broken)
    with pytest.raises(ValueError, match="broadcast"):
        main(["loopback", "--image", photo_png])
    monkeypatch.undo()
    assert main(["--debug", "loopback", "--image", "/nonexistent.png"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("diffradio: error: image /nonexistent.png")


def test_bug_exits_1_with_a_traceback_from_the_console(tmp_path):
    """Run as a program: an internal error prints its traceback and exits 1 (not the one-line 2)."""
    script = ("import numpy as np, sys\nfrom diffradio import cli, commands\n"
              "commands.run = lambda args, emit: np.zeros(3) + np.zeros(4)\n"
              "sys.exit(cli.main(['replay', 'captures/clean.sigmf-meta', '--out', 'x.png']))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "broadcast" in proc.stderr


def test_ctrl_c_while_rx_finalises_its_capture_keeps_it(tmp_path, capsys, monkeypatch):
    """Ctrl-C while `rx --record` hashes and renames its capture: exit 130 and a complete capture."""
    import signal

    import sigmf

    from sdr import sigmf_io

    real_hash = sigmf_io.hashing.calculate_sha512

    def interrupted_hash(**kwargs):
        monkeypatch.setattr(sigmf_io.hashing, "calculate_sha512", real_hash)
        signal.raise_signal(signal.SIGINT)
        return real_hash(**kwargs)

    monkeypatch.setattr(sigmf_io.hashing, "calculate_sha512", interrupted_hash)
    rec = tmp_path / "kept.sigmf-meta"
    assert main(["rx", "--radio", "sim:snr=10,seed=3", "--timeout", "0.05", "--record", str(rec),
                 "--out", str(tmp_path / "x.png")]) == 130
    handle = sigmf.sigmffile.fromfile(str(rec))
    handle.validate()
    assert handle.read_samples().size == 100_000 and not list(tmp_path.glob(".*partial*"))


def test_refine_steps_reach_the_encoder_with_the_planned_snr(tmp_path, photo_png, monkeypatch, capsys):
    from semantic import SemanticCodec
    calls = []
    encode = SemanticCodec.encode

    def spy(self, image, *args, **kw):
        calls.append((kw.get("refine_steps"), kw.get("refine_snr_db")))
        return encode(self, image, *args, **kw)
    monkeypatch.setattr(SemanticCodec, "encode", spy)
    assert main(["loopback", "--image", photo_png, "--snr", "7", "--refine-steps", "2", "--steps", "2",
                 "--out", str(tmp_path / "rx.png")]) == 0
    assert main(["tx", "--radio", f"file:{tmp_path / 'tx.sigmf-meta'}", "--image", photo_png, "--snr-hint", "4",
                 "--refine-steps", "2"]) == 0
    assert calls == [(2, 7.0), (2, 4.0)]


@pytest.mark.parametrize("ratio, dims", [("1/12", 32), ("1/48", 8)])
def test_bandwidth_ratio_travels_in_the_stream_descriptor(tmp_path, photo_png, capsys, ratio, dims):
    """tx at a ratio, replay with no ratio given: the receiver reads it from the stream, and the
    channel uses follow (64x96 photo: 2 tiles of 8x8 positions, dims values each, 2 per use)."""
    cap = tmp_path / "r.sigmf-meta"
    assert main(["tx", "--radio", f"file:{cap}", "--image", photo_png, "--bandwidth-ratio", ratio, "--json"]) == 0
    sent = _json(capsys)
    assert sent["bandwidth_ratio"] == ratio and sent["channel_uses"] == 2 * 64 * dims // 2
    assert main(["replay", str(cap), "--reference", photo_png, "--out", str(tmp_path / "r.png"), "--json"]) == 0
    got = _json(capsys)
    assert got["channel_uses"] == sent["channel_uses"] and got["frames_lost"] == 0
    assert got["psnr_db"] > {"1/12": 21.0, "1/48": 15.0}[ratio]
