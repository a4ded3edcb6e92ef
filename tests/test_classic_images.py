"""experiments/classic_images.py: classic photos through the whole link, with colour, per photo."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import classic_images  # noqa: E402


def test_classic_images_measures_each_photo_and_flags_training_photos(tmp_path):
    from semantic import SemanticCodec
    model = tmp_path / "model"
    SemanticCodec.from_pretrained(None).save_pretrained(model)
    (model / "data_split.json").write_text(json.dumps({"train_photos": ["astronaut"], "val_photos": []}))
    out, fig = tmp_path / "classic.json", tmp_path / "classic.jpg"   # photos: a JPEG
    assert classic_images.main(["--model", str(model), "--photo", "coffee", "astronaut", "--size", "64",
                                "--seeds", "2", "--snr", "15", "--out", str(out), "--figure", str(fig)]) == 0
    doc = json.loads(out.read_text())
    by_name = {p["photo"]: p for p in doc["photos"]}
    assert by_name["coffee"]["in_training"] is False and by_name["astronaut"]["in_training"] is True
    for p in doc["photos"]:
        assert len(p["runs"]) == 2 and p["runs"][0]["frames_lost"] == 0
        assert 15 < p["psnr_db"]["mean"] < 40 and 0.5 < p["chroma_ratio"]["mean"] < 1.5
        assert p["psnr_db"]["min"] <= p["psnr_db"]["mean"]
    assert doc["outside_training_min_psnr_db"] == by_name["coffee"]["psnr_db"]["mean"]
    assert fig.stat().st_size > 1000 and fig.read_bytes()[:2] == b"\xff\xd8"


def test_the_shipped_model_names_its_training_photos():
    """The shipped default carries its training list: package photos are outside it."""
    names = classic_images.training_list("default")
    assert names and not names & set(classic_images.CLASSIC)
