"""``diffradio sweep``: CSV rows per point, resume without redoing points, summary with intervals,
digital references, figures, Ray backend."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from diffradio.cli import main
from diffradio.sweep import mean_interval

BASE = ["sweep", "--images", "coffee", "--size", "64", "--snr", "20", "--channel", "awgn", "--seeds", "1",
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
    assert (out / "sweep_metrics.png").exists() and (out / "sweep_grid.jpg").exists()
    # a second run with one more SNR point only measures the new point
    assert main(BASE[:6] + ["20", "25"] + BASE[7:] + ["--decoder", "direct", "digital", "--workers", "1",
                                                      "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_now"] == 2 and summary["resumed"] == 2
    assert len(_rows(out / "sweep.csv")) == 4
    # other diffusion steps are another setting: nothing is reused, and the summary holds only them
    assert main(BASE[:-2] + ["3", "--json", "--decoder", "direct", "--workers", "1", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_now"] == 1 and summary["resumed"] == 0
    assert [r["n"] for r in _rows(out / "sweep_summary.csv")] == ["1"]


def test_digital_references_bound_the_calibrated_digital_row(tmp_path, capsys):
    """Oracle MCS ≥ calibrated MCS (same realisation), and the codec at capacity above both."""
    out = tmp_path / "ref"
    assert main(["sweep", "--images", "coffee", "--size", "64", "--snr", "6", "--channel", "awgn", "--seeds", "2",
                 "--decoder", "digital", "digital-oracle", "capacity", "--workers", "1", "--out", str(out),
                 "--json"]) == 0
    capsys.readouterr()
    rows = {(r["decoder"], r["seed"]): r for r in _rows(out / "sweep.csv")}
    for seed in ("0", "1"):
        digital, oracle, capacity = (float(rows[(d, seed)]["psnr_db"]) for d in ("digital", "digital-oracle",
                                                                                  "capacity"))
        assert oracle >= digital - 1e-9 and capacity > oracle
        assert rows[("digital-oracle", seed)]["frames_lost"] == "0"
        assert float(rows[("capacity", seed)]["capacity_bits_per_use"]) == pytest.approx(np.log2(1 + 10 ** 0.6),
                                                                                         abs=1e-3)
    summary = {r["decoder"]: r for r in _rows(out / "sweep_summary.csv")}
    assert summary["digital"]["n"] == "2" and summary["digital"]["mcs"]
    assert float(summary["capacity"]["psnr_db_ci_lo"]) <= float(summary["capacity"]["psnr_db_mean"])


def test_refined_row_refines_for_the_nominal_snr_and_pairs_with_direct(tmp_path, capsys):
    """``direct-refined`` sends latents refined for the point's SNR (its rows say how many passes, the
    others 0) on the same realisations as ``direct``, and beats it there; without passes it is refused."""
    out = tmp_path / "refined"
    assert main(["sweep", "--images", "coffee", "--size", "64", "--snr", "8", "--channel", "awgn", "--seeds", "2",
                 "--decoder", "direct", "direct-refined", "--refine-steps", "10", "--workers", "1",
                 "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    rows = _rows(out / "sweep.csv")
    assert sorted((r["decoder"], r["refine_steps"]) for r in rows) == [
        ("direct", "0"), ("direct", "0"), ("direct-refined", "10"), ("direct-refined", "10")]
    pair = {(r["a"], r["b"]): r for r in _rows(out / "sweep_paired.csv")}[("direct-refined", "direct")]
    assert pair["n"] == "2" and float(pair["psnr_db_diff_mean"]) > 0
    assert main(["sweep", "--images", "coffee", "--decoder", "direct-refined", "--refine-steps", "0",
                 "--out", str(tmp_path / "none")]) == 2
    assert "direct-refined needs at least 1" in capsys.readouterr().err


def test_mean_interval_is_the_student_t_interval():
    mean, lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
    assert mean_interval([5.0]) == (5.0, 5.0, 5.0)


def test_the_sweep_does_not_import_the_commands():
    """Layering: cli → commands → sweep → link, never back."""
    code = "import sys, diffradio.sweep as s; s.run_point; print('diffradio.commands' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


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
