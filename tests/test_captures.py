"""The shipped captures: valid SigMF, and every one decodes to the photo it carries."""
import json
from pathlib import Path

import pytest
import sigmf

from diffradio.cli import main
from phy.mcs import CANDIDATES

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# (capture, minimum PSNR of the decoded photo in dB, expected scheme)
EXPECTED = [("clean", 20.0, "semantic"), ("impaired", 17.0, "semantic"), ("tdl-c", 17.0, "semantic"),
            ("rate-2m4", 19.0, "semantic"), ("digital", 20.0, "digital"), ("two-streams", 20.0, "semantic")]


def _make_captures():
    import sys
    sys.path.insert(0, str(CAPTURES.parent / "scripts"))
    import make_captures
    return make_captures


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from diffradio.images import write_image
    from diffradio.sweep import sweep_photo
    mc = _make_captures()
    return str(write_image(tmp_path_factory.mktemp("ref") / "ref.png", sweep_photo(mc.PHOTO, mc.PHOTO_SIZE)))


def test_every_capture_is_made_by_the_script():
    assert sorted(_make_captures().CAPTURES) == sorted(n for n, _, _ in EXPECTED)


@pytest.mark.parametrize("name", [n for n, _, _ in EXPECTED])
def test_capture_is_valid_sigmf(name):
    handle = sigmf.sigmffile.fromfile(str(CAPTURES / f"{name}.sigmf-meta"))
    handle.validate()
    assert handle.get_global_field(sigmf.SigMFFile.SAMPLE_RATE_KEY) > 0


@pytest.mark.parametrize("name, min_psnr, scheme", EXPECTED)
def test_capture_replays_to_the_photo(tmp_path, capsys, reference, name, min_psnr, scheme):
    out = tmp_path / f"{name}.png"
    assert main(["replay", str(CAPTURES / f"{name}.sigmf-meta"), "--reference", reference, "--steps", "4",
                 "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["scheme"] == scheme
    assert result["frames_lost"] == 0 and result["frames_decoded"] == result["frames_expected"]
    assert result["psnr_db"] > min_psnr, result["psnr_db"]
    assert out.exists()
    if scheme == "digital":  # what was sent, read from the stream itself
        assert result["source_codec"] == "avif" and result["source_bytes"] > 0
        assert result["mcs"] in {m.name for m in CANDIDATES}


def test_two_tx_runs_in_one_capture_replay_as_two_images(tmp_path, capsys):
    """Two transmissions with the same stream id (two nonces) back to back: with {n}, two images in
    arrival order, each closer to its own source than to the other; without {n}, the first."""
    from diffradio.images import read_image
    from diffradio.sweep import sweep_photo
    from semantic.metrics import psnr

    mc = _make_captures()
    sources = [sweep_photo(name, mc.PHOTO_SIZE) for name in mc.PHOTOS["two-streams"]]
    capture = str(CAPTURES / "two-streams.sigmf-meta")
    assert main(["replay", capture, "--steps", "4", "--decoder", "direct", "--out", str(tmp_path / "img-{n}.png"),
                 "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert [im["out"] for im in result["images"]] == [str(tmp_path / "img-1.png"), str(tmp_path / "img-2.png")]
    assert [im["nonce"] for im in result["images"]] == [mc.nonce("two-streams", 0), mc.nonce("two-streams", 1)]
    assert all(im["frames_lost"] == 0 and im["frames_detected"] == 4 for im in result["images"])
    assert result["frames_detected"] == 8
    assert err.count("\nframe ") + err.startswith("frame ") == 8 and err.count("image ") == 2
    images = [read_image(im["out"]) for im in result["images"]]
    assert sources[0].shape == sources[1].shape
    for i, image in enumerate(images):
        assert psnr(sources[i], image) > 20.0 and psnr(sources[i], image) > psnr(sources[1 - i], image) + 5.0
    assert main(["replay", capture, "--steps", "4", "--decoder", "direct", "--out", str(tmp_path / "one.png"),
                 "--json"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "images" not in first and first["nonce"] == mc.nonce("two-streams", 0)
    assert (read_image(str(tmp_path / "one.png")) == images[0]).all()


def test_rx_with_count_stops_after_that_many_images(tmp_path, capsys):
    capture = CAPTURES / "two-streams.sigmf-meta"
    assert main(["rx", "--radio", f"file:{capture}", "--count", "1", "--steps", "2", "--decoder", "direct",
                 "--out", str(tmp_path / "rx-{n:02d}.png"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(result["images"]) == 1 and (tmp_path / "rx-01.png").exists() and not (tmp_path / "rx-02.png").exists()


@pytest.mark.parametrize("args, message", [(["--count", "2", "--out", "x.png"], "--count needs {n}"),
                                           (["--count", "0", "--out", "x-{n}.png"], "--count must be"),
                                           (["--out", "x-{n}-{}.png"], "not a valid name pattern")])
def test_rx_rejects_bad_count_and_patterns_before_listening(tmp_path, capsys, args, message):
    assert main(["rx", "--radio", f"file:{CAPTURES / 'clean.sigmf-meta'}", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_rx_writes_each_image_as_it_completes_and_keeps_them_when_the_radio_fails(tmp_path, capsys, monkeypatch):
    """``rx`` with ``{n}``: image 1 is on disk while the radio still streams the second stream, and
    a radio error after that keeps it (one error line, exit 2)."""
    import time

    import numpy as np

    from diffradio import commands
    from sdr import RadioError, open_radio

    samples = open_radio(f"file:{CAPTURES / 'two-streams.sigmf-meta'}").receive(1 << 20)
    first_end = samples.size // 2 + 4096  # past the first stream's frames (half of the capture)
    seen = {}

    class Failing(type(open_radio("sim:"))):
        def receive(self, n):
            pos = self.__dict__.setdefault("pos", 0)
            if pos >= first_end and "first" not in seen:  # wait (up to 60 s) for image 1 to be written
                deadline = time.monotonic() + 60
                while not (tmp_path / "rx-1.png").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                seen["first"] = (tmp_path / "rx-1.png").exists()
            if pos >= samples.size:
                raise RadioError("device disconnected (test)")
            self.pos = pos + min(n, 4096)
            return samples[pos: self.pos].astype(np.complex64)

    monkeypatch.setattr(commands, "open_radio", lambda uri, config: Failing())
    code = main(["rx", "--radio", "sim:", "--steps", "2", "--decoder", "direct", "--out", str(tmp_path / "rx-{n}.png")])
    err = capsys.readouterr().err
    assert seen["first"]
    assert code == 2 and "device disconnected" in err.strip().splitlines()[-1]
    assert (tmp_path / "rx-1.png").exists() and (tmp_path / "rx-2.png").exists()


def test_replay_only_needs_a_results_file_and_the_captures(tmp_path, capsys):
    """``make_captures.py --replay-only`` replays what is there and makes nothing: without --results,
    or with a folder that lacks the captures, one error line naming the fix, and no file written."""
    mc = _make_captures()
    with pytest.raises(SystemExit):
        mc.main(["--replay-only", "--out", str(CAPTURES)])
    assert "--replay-only needs --results FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mc.main(["--replay-only", "--out", str(tmp_path), "--results", str(tmp_path / "r.json")])
    assert "make them first" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
