"""semantic parts: latent channel, power normalisation, metrics, data lists, training loop."""
import json

import numpy as np
import pytest
import torch

from semantic import SemanticCodec
from semantic.data import HELDOUT_PHOTOS, TRAIN_PHOTOS, CropSampler, load_photo
from semantic.jscc import JSCC, GdnJSCC, reliability, tilewise_normalize
from semantic.latent_channel import noise_variance, transmit
from semantic.metrics import colour_fidelity, ms_ssim, psnr, vif
from semantic.samplers import matched_timestep, noise_to_signal, posterior
from semantic.prior import make_scheduler

torch.set_num_threads(1)


def test_noise_variance_awgn_and_rayleigh():
    g = torch.Generator().manual_seed(0)
    v = noise_variance((8, 4, 16, 16), 10.0, "awgn", g)
    assert torch.allclose(v, torch.full_like(v, 0.1))
    r = noise_variance((64, 4, 16, 16), torch.full((64,), 10.0), "rayleigh", g).flatten(1)
    assert torch.equal(r[:, 0::2], r[:, 1::2])          # two reals share one complex symbol's fade
    assert 0.05 < float(r.median()) < 0.25               # median of 0.1/Exp(1) = 0.144
    with pytest.raises(ValueError, match="unknown latent channel"):
        noise_variance((1, 4, 2, 2), 0.0, "tdl-z")


def test_transmit_marks_missing_as_nan():
    z = torch.zeros(1, 4, 2, 2)
    var = torch.ones_like(z)
    var[0, 0] = float("inf")
    y = transmit(z, var, torch.Generator().manual_seed(0))
    assert torch.isnan(y[0, 0]).all() and torch.isfinite(y[0, 1:]).all()


def test_tilewise_normalize_and_reliability():
    z = tilewise_normalize(torch.randn(3, 4, 8, 12) * torch.arange(1, 4.0).repeat_interleave(4)[None, None, None] + 2,
                           (4, 4))
    tiles = z.reshape(3, 4, 2, 4, 3, 4)
    assert torch.allclose(tiles.pow(2).mean((1, 3, 5)), torch.ones(3, 2, 3), atol=1e-5)   # every 4x4 tile
    with pytest.raises(ValueError, match="whole number"):
        tilewise_normalize(torch.randn(1, 4, 6, 8), (4, 4))
    y = torch.tensor([1.0, float("nan"), 5.0])
    est, w = reliability(y, torch.tensor([1.0, 1.0, float("inf")]))
    assert torch.equal(w, torch.tensor([0.5, 0.0, 0.0])) and torch.equal(est, torch.tensor([0.5, 0.0, 0.0]))


def test_jscc_shapes_configurable():
    m = JSCC(tile=32, latent_channels=6, downsample=8, hidden=32)
    z = m.encode(torch.rand(2, 3, 32, 64))          # two tiles side by side
    assert z.shape == (2, 6, 4, 8) and m.latent_shape == (6, 4, 4)
    assert m.decode(z, torch.zeros_like(z)).shape == (2, 3, 32, 64)
    with pytest.raises(ValueError, match="power of two"):
        JSCC(downsample=3)


def test_matched_timestep_is_monotone():
    s = make_scheduler()
    s2 = noise_to_signal(s)
    assert bool((s2[1:] >= s2[:-1]).all())
    ts = [matched_timestep(s, v) for v in (1e-3, 0.1, 1.0, 10.0)]
    assert ts == sorted(ts) and ts[0] < ts[-1]


def test_metrics():
    rng = np.random.default_rng(0)
    a = load_photo("coffee")[:96, :96]
    noisy = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    assert psnr(a, a) == float("inf") and ms_ssim(a, a) == pytest.approx(1.0, abs=1e-5)
    assert vif(a, a) == pytest.approx(1.0, abs=1e-4)
    assert 15 < psnr(a, noisy) < 25 and ms_ssim(a, noisy) < 0.95 and vif(a, noisy) < 0.6
    assert 0 < ms_ssim(a[:8, :8], noisy[:8, :8]) < 1       # tiny images still work
    with pytest.raises(ValueError, match="equal shape"):
        psnr(a, a[:10])


def test_colour_fidelity_sees_a_green_turned_grey():
    green = np.zeros((16, 16, 3), np.uint8)
    green[..., 1] = 180
    grey = np.full_like(green, 105)                      # about the same lightness, no colour
    assert colour_fidelity(green, green) == {"delta_e": 0.0, "chroma_ratio": 1.0}
    lost = colour_fidelity(green, grey)
    assert lost["chroma_ratio"] < 0.01 and lost["delta_e"] > 20
    a = load_photo("coffee")[:64, :64]
    assert colour_fidelity(a, (a * 0.97).astype(np.uint8))["chroma_ratio"] == pytest.approx(0.97, abs=0.03)


def test_data_lists_are_disjoint_and_load():
    assert not set(TRAIN_PHOTOS) & set(HELDOUT_PHOTOS)
    assert "cat" not in TRAIN_PHOTOS  # same file as the held-out 'chelsea'
    for n in HELDOUT_PHOTOS:
        img = load_photo(n)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    batch = CropSampler([load_photo("camera")], tile=32).sample(5, torch.Generator().manual_seed(0))
    assert batch.shape == (5, 3, 32, 32) and 0 <= float(batch.min()) and float(batch.max()) <= 1


def test_train_checkpoints_resumes_and_loads(tmp_path, monkeypatch, caplog):
    import semantic.train
    from semantic.train import main
    small = ["--out-dir", str(tmp_path), "--batch", "2", "--prior-batch", "2", "--hidden", "24",
             "--latent-channels", "16", "--crop", "64", "--prior-crop", "128", "--prior-channels", "32,32",
             "--ckpt-every", "2", "--val-steps", "2", "--threads", "1"]
    assert main(small + ["--jscc-steps", "3", "--prior-steps", "2"]) == 0
    assert json.loads((tmp_path / "checkpoints" / "jscc" / "progress.json").read_text())["step"] == 3
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in log} == {"jscc", "prior"} and "val_psnr_10db" in log[0]
    assert (tmp_path / "train_curve.png").stat().st_size > 10_000
    split = json.loads((tmp_path / "data_split.json").read_text())
    assert split["val_photos"] and not set(split["val_photos"]) & set(split["train_photos"])
    # resumes at step 3, now under bfloat16 autocast (the float32 weights and optimizer state carry over);
    # accelerate keeps one precision per process, as `diffradio train` runs one per process
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(reset_partial_state=True)
    # as on a CPU without native bf16 kernels (AVX2 only): the run goes on, with one warning that names the fix
    monkeypatch.setattr(semantic.train, "native_cpu_precisions", lambda: set())
    try:
        assert main(small + ["--jscc-steps", "5", "--stages", "jscc", "--mixed-precision", "bf16"]) == 0
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "--mixed-precision bf16" in warned[0] and "use --mixed-precision no" in warned[0]
    assert "native mixed precision" in json.loads((tmp_path / "train_log_jscc.json").read_text())["hardware"]
    assert json.loads((tmp_path / "checkpoints" / "jscc" / "progress.json").read_text())["step"] == 5
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and np.isfinite(log[-1]["val_psnr_10db"])
    with pytest.raises(ValueError, match="mixed_precision"):
        main(small + ["--mixed-precision", "fp8"])
    codec = SemanticCodec.from_pretrained(tmp_path)
    img = load_photo("astronaut")[:64, :128]
    z = codec.encode(img)
    assert z.shape == (2, 16, 4, 4)
    assert codec.decode(z, np.full_like(z, 0.1), img.shape, steps=2).shape == img.shape


def test_photo_dirs_and_split(tmp_path):
    from PIL import Image

    from semantic.data import photos_in_dirs, split_train_val
    with pytest.raises(ValueError, match="photo-dir"):
        photos_in_dirs([tmp_path / "missing"])
    for i in range(12):
        Image.fromarray(load_photo("camera")[:70, i:90 + i]).save(tmp_path / f"{i:02d}.png")
    photos = photos_in_dirs([tmp_path])
    assert len(photos) == 12 and photos[f"{tmp_path.name}/00.png"].shape == (70, 90, 3)
    train, val = split_train_val(photos, 5)
    assert sorted(val) == [f"{tmp_path.name}/02.png", f"{tmp_path.name}/07.png"] and len(train) == 10
    assert split_train_val(photos, 0)[1] == {}


def test_decoder_bench_on_a_folder(tmp_path):
    from PIL import Image

    from semantic.bench import REFERENCE, capacity_bytes, run_decoder_bench
    for i, name in enumerate(("coffee", "chelsea")):
        Image.fromarray(load_photo(name)[:64, :128]).save(tmp_path / f"{i}.png")
    from semantic.data import photos_in_dirs
    res = run_decoder_bench(tmp_path / "out", photos_in_dirs([tmp_path]), steps=2, seeds=2, quick=True)
    cell = res["quality"]["awgn 10 dB"]
    assert set(cell) == {"direct", "diffusion", REFERENCE}
    assert len(cell["direct"]["psnr_db"]["per_seed"]) == 2 and cell["direct"]["psnr_db"]["std"] >= 0
    assert res["quality"]["awgn 0 dB"][REFERENCE]["psnr_db"]["mean"] < cell[REFERENCE]["psnr_db"]["mean"]
    assert any(c.startswith("lost") for c in res["quality"])
    assert (tmp_path / "out" / "results.json").exists() and (tmp_path / "out" / "metrics.png").exists()
    assert capacity_bytes(np.full(16, 1.0)) == 1                     # 8 uses x 1 bit
    assert capacity_bytes(np.array([1.0, 1.0, np.inf, np.inf])) == 0  # lost uses carry nothing


def _tiny_prior():
    from semantic.prior import make_prior
    return make_prior(64, (32, 32)), make_scheduler()


def test_committed_training_checkpoint_resumes(tmp_path):
    """The one committed checkpoint of the second-generation codec loads and trains on with this code."""
    import shutil
    from pathlib import Path

    from PIL import Image

    from semantic.train import main
    src = Path(__file__).resolve().parent.parent / "checkpoints" / "codec-v2"
    run = tmp_path / "run"
    shutil.copytree(src, run)
    step = json.loads((run / "checkpoints" / "jscc" / "progress.json").read_text())["step"]
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "rocket"):
        Image.fromarray(load_photo(name)).save(photos / f"{name}.png")
    assert main(["--out-dir", str(run), "--stages", "jscc", "--photo-dir", str(photos), "--val-every", "0",
                 "--batch", "1", "--jscc-steps", str(step + 1), "--threads", "1"]) == 0
    assert json.loads((run / "checkpoints" / "jscc" / "progress.json").read_text())["step"] == step + 1
    z = SemanticCodec(GdnJSCC.from_pretrained(run / "jscc"), *_tiny_prior()).encode(load_photo("coffee")[:64, :128])
    assert z.shape == (2, 64, 4, 4)
    prior_step = json.loads((run / "checkpoints" / "prior" / "progress.json").read_text())["step"]
    assert main(["--out-dir", str(run), "--stages", "prior", "--photo-dir", str(photos), "--val-every", "0",
                 "--prior-batch", "1", "--prior-crop", "64", "--prior-steps", str(prior_step + 1),
                 "--threads", "1"]) == 0
    assert json.loads((run / "checkpoints" / "prior" / "progress.json").read_text())["step"] == prior_step + 1
    assert SemanticCodec.from_pretrained(run).decode(z, np.full_like(z, 0.1), (64, 128), steps=2).shape == (64, 128, 3)


def test_posterior_mean_hands_lost_values_to_the_decoder_and_the_sampler_generates_them():
    """realism 0 (one step from the matched start) returns a lost value as lost (inf residual
    variance: the JSCC decoder fills it from its neighbours); realism 1 starts from pure noise and
    the prior generates it (finite residual variance)."""
    unet, sched = _tiny_prior()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 64, 8, 8, generator=g)
    var = torch.full_like(z, 0.3)
    var[..., :4, :4] = float("inf")                          # one 4x4 tile of the map lost
    y = z + var.clamp(max=1).sqrt() * torch.randn(z.shape, generator=g)
    mean, res0 = posterior(unet, sched, y, var, steps=3, realism=0.0, generator=torch.Generator().manual_seed(1))
    assert torch.isinf(res0[..., :4, :4]).all() and torch.isfinite(res0[..., 4:, :]).all()
    assert torch.isfinite(mean).all()
    sample, res1 = posterior(unet, sched, y, var, steps=3, realism=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(res1).all() and torch.isfinite(sample).all()


def test_training_curve_plots_a_run_and_refuses_what_is_not_one(tmp_path):
    from semantic.training_curve import main, read_log

    recs = [{"stage": "jscc", "step": 500, "loss": 0.01, "val_psnr_0db": 18.0, "val_psnr_10db": 19.0},
            {"stage": "jscc", "step": 1000, "loss": 0.01, "val_psnr_0db": 19.0, "val_psnr_10db": 20.0},
            {"stage": "jscc", "step": 500, "loss": 0.01, "val_psnr_0db": 18.5, "val_psnr_10db": 19.5},
            {"stage": "prior", "step": 500, "loss": 0.6, "val_diffusion_loss": 0.59}]
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    stages = read_log(tmp_path)   # a resumed run logs step 500 again: the last record counts, in step order
    assert [r["step"] for r in stages["jscc"]] == [500, 1000] and stages["jscc"][0]["val_psnr_0db"] == 18.5
    assert main([str(tmp_path)]) == 0 and (tmp_path / "train_curve.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*tmp*"))
    assert main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / "train_log.jsonl").write_text("not json\n")
    assert main([str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2 and not (tmp_path / "x.png").exists()


def test_train_speed_times_both_stages_per_precision(tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import train_speed

    out = tmp_path / "speed.json"
    assert train_speed.main(["--steps", "2", "--threads", "1", "--precision", "no", "bf16", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["s_per_step"]) == {"no", "bf16"} and res["speedup"]["no"] == {"jscc": 1.0, "prior": 1.0}
    assert all(v > 0 for sp in res["s_per_step"].values() for v in sp.values())
    assert "native mixed precision" in res["cpu"]


def test_validation_psnr_measures_the_training_and_the_held_out_split(tmp_path):
    import sys
    from pathlib import Path

    from PIL import Image
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import validation_psnr

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "rocket", "chelsea", "coffee"):
        Image.fromarray(load_photo(name)).save(photos / f"{name}.png")
    out = tmp_path / "gap.json"
    assert validation_psnr.main(["--photo-dir", str(photos), "--val-every", "2", "--split", "train", "val",
                                 "--n-crops", "2", "--crop", "64", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    train, val = res["splits"]["train"], res["splits"]["val"]
    assert len(train["photos"]) == len(val["photos"]) == 2 and not set(train["photos"]) & set(val["photos"])
    for split in (train, val):
        fig = split["models"]["default"]
        assert fig["class"] == "GdnJSCC" and 10 < fig["psnr_0db"] < fig["psnr_10db"] < 50
    with pytest.raises(SystemExit, match="no val photos"):
        validation_psnr.main(["--photo-dir", str(photos), "--val-every", "0", "--n-crops", "2"])


def test_tx_refinement_script_compares_settings_against_the_plain_encoder(tmp_path):
    import sys
    from pathlib import Path

    from PIL import Image
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import tx_refinement

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(load_photo("coffee")[:64, :128]).save(photos / "coffee.png")
    out = tmp_path / "refine.json"
    assert tx_refinement.main(["--photo-dir", str(photos), "--snr", "0", "10", "--steps", "2", "--seeds", "2",
                               "--threads", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    rows = {"encoder", "refined 2 steps, lr 0.03, matched", "refined 2 steps, lr 0.03, range"}
    assert set(res["quality"]) == rows and set(res["encode_cpu_s_per_tile"]) == rows
    assert res["photos"] == ["photos/coffee.png"] and res["how"].startswith("python scripts/tx_refinement.py")
    for row, cells in res["quality"].items():
        assert set(cells) == {"awgn 0 dB", "awgn 10 dB"}
        for cell in cells.values():
            assert len(cell["psnr_db"]["per_seed"]) == 2 and 10 < cell["psnr_db"]["mean"] < 50
            assert cell["psnr_gain_db"]["mean"] == 0.0 if row == "encoder" else np.isfinite(cell["psnr_gain_db"]["mean"])
    assert res["encode_cpu_s_per_tile"]["refined 2 steps, lr 0.03, matched"] > res["encode_cpu_s_per_tile"]["encoder"]
    with pytest.raises(SystemExit, match="--val-crops needs --photo-dir"):
        tx_refinement.main(["--val-crops", "2", "--out", str(out)])
