"""``diffradio sweep``: CSV rows per point, resume without redoing points, figures, Ray backend."""
import csv
import json

import pytest

from diffradio.cli import main

BASE = ["sweep", "--images", "coffee", "--size", "64", "--snr", "20", "--channel", "awgn",
        "--steps", "2", "--json"]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_sweep_writes_rows_and_resumes(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(BASE + ["--decoder", "direct", "digital", "--workers", "1", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = _rows(out / "sweep.csv")
    assert summary["run_now"] == 2 and len(rows) == 2
    assert {r["decoder"] for r in rows} == {"direct", "digital"}
    assert all(float(r["psnr_db"]) > 15 and int(r["frames_decoded"]) >= 1 for r in rows)
    assert (out / "sweep_metrics.png").exists() and (out / "sweep_grid.png").exists()
    # a second run with one more SNR point only measures the new point
    assert main(BASE[:6] + ["20", "25"] + BASE[7:] + ["--decoder", "direct", "digital", "--workers", "1",
                                                      "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_now"] == 2 and summary["resumed"] == 2
    assert len(_rows(out / "sweep.csv")) == 4


def test_unknown_image_is_one_line(tmp_path, capsys):
    assert main(["sweep", "--images", "lena", "--out", str(tmp_path)]) == 2
    assert "unknown held-out image" in capsys.readouterr().err


def test_sweep_on_a_local_ray_instance(tmp_path, capsys):
    pytest.importorskip("ray", reason="the optional diffradio[cluster] extra (ray) is not installed")
    out_ray, out_local = tmp_path / "ray", tmp_path / "local"
    args = BASE + ["--decoder", "direct"]
    assert main(args + ["--ray", "local", "--out", str(out_ray)]) == 0
    assert main(args + ["--workers", "1", "--out", str(out_local)]) == 0
    capsys.readouterr()
    ray_rows, local_rows = _rows(out_ray / "sweep.csv"), _rows(out_local / "sweep.csv")
    assert len(ray_rows) == len(local_rows) == 1
    assert ray_rows[0]["psnr_db"] == local_rows[0]["psnr_db"]
