"""The shipped captures: valid SigMF, and every one decodes to the photo it carries."""
import json
from pathlib import Path

import pytest
import sigmf

from diffradio.cli import main

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# (capture, minimum PSNR of the decoded photo in dB, expected scheme)
EXPECTED = [("clean", 20.0, "semantic"), ("impaired", 17.0, "semantic"), ("tdl-c", 17.0, "semantic"),
            ("rate-2m4", 19.0, "semantic"), ("digital", 20.0, "digital")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    import sys
    sys.path.insert(0, str(CAPTURES.parent / "scripts"))
    from make_captures import PHOTO, PHOTO_SIZE

    from diffradio.images import write_image
    from diffradio.sweep import sweep_photo
    return str(write_image(tmp_path_factory.mktemp("ref") / "ref.png", sweep_photo(PHOTO, PHOTO_SIZE)))


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
