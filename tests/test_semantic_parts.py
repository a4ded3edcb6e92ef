"""semantic parts: latent channel, the LMMSE estimate, metrics, data lists, training loop, bench."""
import json

import numpy as np
import pytest
import torch

from semantic import SemanticCodec
from semantic.data import HELDOUT_PHOTOS, load_photo
from semantic.latent_channel import noise_variance, transmit
from semantic.latent_codec import ProjectedLatentCodec
from semantic.metrics import colour_fidelity, ms_ssim, psnr, vif

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


def _random_codec(seed=0):
    """A ProjectedLatentCodec with random weights and a random latent covariance."""
    torch.manual_seed(seed)
    m = ProjectedLatentCodec().eval()
    m.init_projection(torch.randn(4000, 32) @ torch.randn(32, 32) * 0.3 + torch.randn(32))
    return m


def test_projection_has_unit_power_and_is_nested():
    m = _random_codec()
    z = torch.randn(20000, 32) @ torch.linalg.cholesky(m.latent_cov).T + m.latent_mean
    zmap = z.T.reshape(1, 32, 100, 200)
    for k in (32, 16, 8):
        with torch.no_grad():
            s = m.project(zmap, k)
        assert s.shape == (1, k, 100, 200)
        assert float(s.pow(2).mean()) == pytest.approx(1.0, rel=0.05)
    with torch.no_grad():
        p16, p8 = m.projection(16), m.projection(8)
    ratio = p8 / p16[:8]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])))


def test_lmmse_estimate_respects_received_values_and_falls_back_to_the_prior_where_lost():
    m = _random_codec(1)
    # a covariance conditioned like the trained models' (condition numbers 64 and 90): the random mixing
    # alone gives 1.3e5, where float32's two inversions reach this test's 1 % (seen on an AVX-512 CPU)
    m.init_projection(torch.randn(4000, 32) @ (torch.eye(32) + 0.1 * torch.randn(32, 32)) + torch.randn(32))
    assert float(torch.linalg.cond(m.latent_cov.double())) < 1e3
    with torch.no_grad():
        z = (torch.randn(1, 32, 4, 4).permute(0, 2, 3, 1) @ torch.linalg.cholesky(m.latent_cov).T
             + m.latent_mean).permute(0, 3, 1, 2)
        s = m.project(z, 32)
        var = torch.full_like(s, 1e-6)
        var[..., :2, :2] = float("inf")                  # four positions lost
        y = torch.where(torch.isinf(var), torch.full_like(s, float("nan")), s)
        z_hat, err = m.estimate(y, var)
    kept = (..., slice(2, None), slice(None))
    torch.testing.assert_close(z_hat[kept], z[kept], atol=1e-2, rtol=1e-2)   # 32 clean dims: z recovered
    assert float(err[kept].max()) < 1e-3
    lost = (..., slice(0, 2), slice(0, 2))
    torch.testing.assert_close(z_hat[lost], m.latent_mean[:, None, None].expand(32, 2, 2)[None])
    torch.testing.assert_close(err[lost], m.latent_cov.diagonal()[:, None, None].expand(32, 2, 2)[None], rtol=1e-2, atol=1e-4)
    # fewer dims: the estimate is between, and the error variance grows
    with torch.no_grad():
        _, err8 = m.estimate(m.project(z, 8), torch.full((1, 8, 4, 4), 0.01))
    assert float(err8.mean()) > float(err[kept].mean())
    assert torch.isfinite(m.decode(y, var)).all()


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


def test_heldout_photos_load():
    for n in HELDOUT_PHOTOS:
        img = load_photo(n)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with pytest.raises(ValueError, match="unknown photo"):
        load_photo("no_such_photo")


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


def _fake_pretrained(folder):
    """TAEF2-layout state dicts with random weights (float16, as published), for training tests."""
    from semantic.taef2 import taef2_decoder, taef2_encoder
    folder.mkdir()
    torch.manual_seed(0)
    for name, build in (("encoder", taef2_encoder), ("decoder", taef2_decoder)):
        torch.save({k: v.half() for k, v in build().state_dict().items()}, folder / f"taef2_{name}.pth")
    return folder


def test_train_checkpoints_resumes_and_loads(tmp_path):
    from PIL import Image

    from semantic.train import main
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("astronaut", "rocket", "camera", "coffee")):
        Image.fromarray(load_photo(name)[:160, :200]).save(photos / f"{i}.png")
    run = tmp_path / "run"
    small = ["--out-dir", str(run), "--pretrained", str(_fake_pretrained(tmp_path / "taef2")), "--photo-dir",
             str(photos), "--val-every", "4", "--scales", "1.0", "--crop", "64", "--batch", "2",
             "--ckpt-every", "2", "--val-steps", "2", "--threads", "1"]
    assert main(small + ["--steps", "3"]) == 0
    assert json.loads((run / "checkpoints" / "state.json").read_text())["step"] == 3
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 3] and "val_psnr_1/24_10dB" in log[0]
    # early stopping: best_model holds the weights of the record with the best mean validation PSNR
    best = max(log, key=lambda r: r["val_psnr_mean"])
    assert best.get("best") and [r["step"] for r in log if r.get("best")][-1] == best["step"]
    assert (run / "best_model").is_dir()
    assert json.loads((run / "train_config.jsonl").read_text().splitlines()[0])["config"]["steps"] == 3
    assert (run / "train_curve.png").stat().st_size > 10_000
    split = json.loads((run / "data_split.json").read_text())
    assert split["val_photos"] == ["photos/2.png"] and len(split["train_photos"]) == 3
    trained = ProjectedLatentCodec.from_pretrained(run / "model")
    initial = ProjectedLatentCodec.from_pretrained(run / "initial_model")
    assert not torch.equal(trained.restorer.net[-1].weight, initial.restorer.net[-1].weight)
    torch.testing.assert_close(trained.encoder.state_dict(), initial.encoder.state_dict())   # frozen
    # resume: the cache and the checkpoint carry over, the run goes on from step 3
    assert main(small + ["--steps", "5"]) == 0
    assert json.loads((run / "checkpoints" / "state.json").read_text())["step"] == 5
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 3, 4, 5] and np.isfinite(log[-1]["val_psnr_1/48_10dB"])
    assert [json.loads(line)["from_step"] for line in (run / "train_config.jsonl").read_text().splitlines()] == [0, 3]
    # --encoder-lr: the encoder is fine-tuned too, its latent statistics follow, the folder loads
    assert main(small[:1] + [str(tmp_path / "enc")] + small[2:] + ["--steps", "2", "--encoder-lr", "1e-3"]) == 0
    tuned = ProjectedLatentCodec.from_pretrained(tmp_path / "enc" / "model")
    start = ProjectedLatentCodec.from_pretrained(tmp_path / "enc" / "initial_model")
    assert not torch.equal(tuned.encoder[0].weight, start.encoder[0].weight)
    assert not torch.equal(tuned.latent_cov, start.latent_cov)
    # --init-from: a run starts from a codec model folder (here the tuned one) instead of TAEF2 + PCA
    assert main(small[:1] + [str(tmp_path / "init")] + small[2:] + ["--steps", "1", "--init-from",
                                                                      str(tmp_path / "enc" / "model")]) == 0
    torch.testing.assert_close(ProjectedLatentCodec.from_pretrained(tmp_path / "init" / "initial_model").state_dict(),
                               tuned.state_dict())
    with pytest.raises(FileNotFoundError, match="no codec model folder"):
        main(small[:1] + [str(tmp_path / "bad")] + small[2:] + ["--init-from", str(tmp_path / "none")])
    # --restorer-stages 2 from a one-stage folder: the added stage starts as a no-op, then trains;
    # --flip mirrors crops the encoder re-encodes, and is refused with a frozen encoder
    deeper = small[:1] + [str(tmp_path / "deep")] + small[2:] + [
        "--steps", "2", "--init-from", str(tmp_path / "enc" / "model"), "--restorer-stages", "2"]
    with pytest.raises(ValueError, match="--flip needs --encoder-lr"):
        main(deeper + ["--flip"])
    assert main(deeper + ["--flip", "--encoder-lr", "1e-3"]) == 0
    start2 = ProjectedLatentCodec.from_pretrained(tmp_path / "deep" / "initial_model")
    y, v = torch.randn(1, 16, 8, 8), torch.full((1, 16, 8, 8), 0.1)
    with torch.no_grad():
        torch.testing.assert_close(start2(y, v), tuned(y, v))
    deep = ProjectedLatentCodec.from_pretrained(tmp_path / "deep" / "model")
    assert deep.config.restorer_stages == 2 and deep.restorer.more[0][-1].weight.abs().sum() > 0
    with pytest.raises(ValueError, match="--restorer-stages 2 or more"):
        main(small[:1] + [str(tmp_path / "shallow")] + small[2:] + ["--init-from", str(tmp_path / "deep" / "model")])
    codec = SemanticCodec(ProjectedLatentCodec.from_pretrained(run / "model"))
    img = load_photo("chelsea")[:64, :128]
    z = codec.encode(img, "1/48")
    assert z.shape == (2, 8, 8, 8)
    assert codec.decode(z, np.full_like(z, 0.1), img.shape).shape == img.shape


def test_a_trained_encoder_buys_no_snr_by_scaling_its_output():
    """ChannelInTheLoop with the encoder trained: latents 10x larger get 100x the noise variance (the
    receiver's SNR is unchanged), lost values stay lost, and every gradient is finite."""
    from semantic.train import ChannelInTheLoop
    torch.manual_seed(0)
    codec = ProjectedLatentCodec()
    base = torch.randn(2, 32, 8, 8)
    var = torch.full_like(base, 0.1)
    var[0, 16:] = float("inf")           # ratio 1/24: dims past 16 not sent
    var[1, :, :4] = float("inf")         # lost rows
    seen = []
    codec.forward = lambda y, v: seen.append(v) or y.nan_to_num().mean() * torch.ones(2, 3, 64, 64)
    graph = ChannelInTheLoop(codec, train_encoder=True, momentum=1.0)   # statistics held still
    for scale in (1.0, 10.0):
        codec.encode_latents = lambda x, scale=scale: base * scale
        graph(torch.zeros(2, 3, 64, 64), base, var)
    ok = torch.isfinite(var)
    torch.testing.assert_close(seen[1][ok] / seen[0][ok], torch.full_like(seen[0][ok], 100.0))
    assert torch.equal(torch.isfinite(seen[1]), ok)
    codec = ProjectedLatentCodec()                                        # the real graph, gradients
    graph = ChannelInTheLoop(codec, train_encoder=True)
    codec.encoder.requires_grad_(True)
    x = torch.rand(2, 3, 64, 64)
    before = codec.latent_mean.clone()
    graph(x, base, var).pow(2).mean().backward()
    grads = [p.grad for p in codec.parameters() if p.requires_grad]
    assert all(torch.isfinite(g).all() for g in grads if g is not None)
    assert any(g is not None and g.abs().sum() > 0 for g in (p.grad for p in codec.encoder.parameters()))
    assert not torch.equal(codec.latent_mean, before)                    # the statistics follow the encoder


def test_training_channel_has_the_links_snr_at_every_ratio():
    """A ratio-k crop trains on the first k of the 32-dimension projection; its noise is scaled by their
    power relative to what the link sends (project(z, k)), so that the SNR per value is the link's:
    the shipped basis puts more power in its first dimensions, and a lost tile does not change k."""
    from semantic.train import ChannelInTheLoop
    m = SemanticCodec.from_pretrained(None).model
    img = torch.from_numpy(load_photo("chelsea")[:128, :128].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        z = m.encode_latents(img).repeat(3, 1, 1, 1)
    var = torch.full(z.shape, 0.1)
    for b, k in enumerate((32, 16, 8)):
        var[b, k:] = float("inf")
    var[1, :, :8, :8] = float("inf")                                       # a lost tile
    gain = m.sent_power(var)
    assert gain[0] == pytest.approx(1.0) and gain[2] > gain[1] > 1.2      # the first dimensions carry more
    with torch.no_grad():
        for b, k in enumerate((32, 16, 8)):
            ratio = m.project(z[b:b + 1], 32)[:, :k].square().mean() / m.project(z[b:b + 1], k).square().mean()
            assert float(ratio) == pytest.approx(float(gain[b]), rel=1e-4)
    seen = []
    m.forward = lambda y, v: seen.append(v) or y.nan_to_num().mean() * torch.ones(3, 3, 128, 128)
    ChannelInTheLoop(m)(img.repeat(3, 1, 1, 1), z, var)
    ok = torch.isfinite(var)
    torch.testing.assert_close(seen[0][ok], (var * gain[:, None, None, None])[ok])
    assert torch.equal(torch.isfinite(seen[0]), ok)


def test_decoder_stages_fine_tune_only_the_early_stages(tmp_path):
    from semantic.taef2 import taef2_decoder
    from semantic.train import decoder_stage_params
    decoder = taef2_decoder()
    sizes = [sum(p.numel() for p in decoder_stage_params(decoder, k)) for k in (1, 2, 3, 4)]
    assert sizes == sorted(sizes) and sizes[-1] == sum(p.numel() for p in decoder.parameters())
    first_up = next(i for i, layer in enumerate(decoder) if isinstance(layer, torch.nn.Upsample))
    assert sizes[0] == sum(p.numel() for p in decoder[:first_up].parameters())   # latent-resolution layers
    with pytest.raises(ValueError, match="1..4"):
        decoder_stage_params(decoder, 0)


def test_train_refuses_a_missing_pretrained_folder_in_one_line(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "diffradio.cli", "train", "--out-dir", str(tmp_path / "r"),
                           "--pretrained", str(tmp_path / "none"), "--photo-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"diffradio: error: no taef2_encoder.pth in "
                                                f"{str(tmp_path / 'none')!r}; point --pretrained at the folder "
                                                "holding the TAEF2 state dicts (taef2_encoder.pth, taef2_decoder.pth)"]
    assert not (tmp_path / "r").exists()


def test_training_curve_plots_a_run_and_refuses_what_is_not_one(tmp_path):
    from semantic.training_curve import main, read_log

    recs = [{"step": 200, "train_mse": 0.01, "val_psnr_1/24_0dB": 18.0, "val_psnr_1/24_10dB": 19.0},
            {"step": 400, "train_mse": 0.008, "val_psnr_1/24_0dB": 19.0, "val_psnr_1/24_10dB": 20.0},
            {"step": 200, "train_mse": 0.01, "val_psnr_1/24_0dB": 18.5, "val_psnr_1/24_10dB": 19.5}]
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    records = read_log(tmp_path)   # a resumed run logs step 200 again: the last record counts, in step order
    assert [r["step"] for r in records] == [200, 400] and records[0]["val_psnr_1/24_0dB"] == 18.5
    assert main([str(tmp_path)]) == 0 and (tmp_path / "train_curve.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*tmp*"))
    assert main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / "train_log.jsonl").write_text("not json\n")
    assert main([str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2 and not (tmp_path / "x.png").exists()


def test_decoder_bench_on_a_folder(tmp_path):
    from PIL import Image

    from semantic.bench import REFERENCE, BenchGrid, capacity_bytes, diffusion_row, run_decoder_bench
    for i, name in enumerate(("coffee", "chelsea")):
        Image.fromarray(load_photo(name)[:64, :128]).save(tmp_path / f"{i}.png")
    from semantic.data import photos_in_dirs
    res = run_decoder_bench(tmp_path / "out", photos_in_dirs([tmp_path]), BenchGrid(ratios=("1/24", "1/48")),
                            seeds=2, quick=True)
    cell = res["quality"]["1/24 awgn 10 dB"]
    # the shipped codec holds a diffusion prior: its default realism's row and the sharpened direct
    default_row = diffusion_row(SemanticCodec.from_pretrained(None).default_realism)
    assert set(cell) == {"direct", default_row, "direct+unsharp", REFERENCE}
    assert set(res["s_per_tile_diffusion"]) == {"realism", "steps", "single_tile", "768x512"}
    direct = cell["direct"]["psnr_db"]
    assert len(direct["per_seed"]) == 2
    assert direct["per_seed"][0] != direct["per_seed"][1]  # each seed is its own noise draw
    assert direct["mean"] == pytest.approx(np.mean(direct["per_seed"]))
    assert direct["std"] == pytest.approx(np.std(direct["per_seed"], ddof=1))  # the spread over seeds
    assert res["quality"]["1/24 awgn 0 dB"]["direct"]["psnr_db"]["mean"] < cell["direct"]["psnr_db"]["mean"]
    assert res["quality"]["1/48 awgn 10 dB"]["direct"]["psnr_db"]["mean"] < cell["direct"]["psnr_db"]["mean"]
    assert res["quality"]["1/24 awgn 0 dB"][REFERENCE]["psnr_db"]["mean"] < cell[REFERENCE]["psnr_db"]["mean"]
    assert any("lost" in c for c in res["quality"]) and res["channel_uses_per_tile"] == {"1/24": 512, "1/48": 256}
    assert (tmp_path / "out" / "results.json").exists() and (tmp_path / "out" / "metrics.png").exists()
    assert capacity_bytes(np.full(16, 1.0)) == 1                     # 8 uses x 1 bit
    assert capacity_bytes(np.array([1.0, 1.0, np.inf, np.inf])) == 0  # lost uses carry nothing


def test_decoder_bench_refines_at_the_transmitter_for_each_cells_snr(tmp_path, monkeypatch):
    """--refine-steps: each photo's sent values are refined once per SNR a cell plans for (each cell's
    own, the lost cell's 5 dB included) or once for a fixed range; the encode time is kept apart."""
    from PIL import Image

    from dataclasses import replace

    from semantic.bench import BenchGrid, refine_plan, run_decoder_bench
    from semantic.data import photos_in_dirs
    Image.fromarray(load_photo("coffee")[:64, :128]).save(tmp_path / "0.png")
    plans, encode = [], SemanticCodec.encode

    def spy(self, image, ratio=None, refine_steps=0, **kw):
        plans.append((refine_steps, kw.get("refine_snr_db")))
        return encode(self, image, ratio, refine_steps=refine_steps, **kw)

    monkeypatch.setattr(SemanticCodec, "encode", spy)
    grid = BenchGrid(ratios=("1/24",), snrs=(0.0, 10.0), channels=("awgn",), refine_steps=2)
    photos = photos_in_dirs([tmp_path])
    res = run_decoder_bench(tmp_path / "a", photos, grid, seeds=1, reference=False)
    assert sorted(p for p in plans if p[0]) == [(2, 0.0), (2, 5.0), (2, 10.0)]   # the timing encodes unrefined
    assert res["refine"] == {"steps": 2, "lr": 0.03, "snr_db": "each cell's"} and res["encode_cpu_s"] > 0
    plans.clear()
    run_decoder_bench(tmp_path / "b", photos, replace(grid, refine_snr_db=refine_plan([0.0, 15.0])), seeds=1,
                      reference=False, quick=True)
    assert [p for p in plans if p[0]] == [(2, (0.0, 15.0))]
    assert json.loads((tmp_path / "b" / "results.json").read_text())["refine"]["snr_db"] == [0.0, 15.0]
    with pytest.raises(ValueError, match="one SNR or a LOW HIGH range"):
        refine_plan([0.0, 5.0, 10.0])


def _noisy(img, snr_db=0.0):
    """(y, noise_var) of ``img`` at 1/24 through latent AWGN at ``snr_db``, seed 0."""
    codec = SemanticCodec.from_pretrained(None)
    z = torch.as_tensor(codec.encode(img))
    var = noise_variance(tuple(z.shape), snr_db, "awgn", torch.Generator().manual_seed(0))
    return transmit(z, var, torch.Generator().manual_seed(1)).numpy(), var.numpy()


def test_decoder_bench_rows_for_a_codec_with_a_prior(tmp_path):
    """With a diffusion prior: one row per realism, a
    direct+unsharp row sharpened no lower than the first diffusion row's PSNR, and the
    perception-distortion figure."""
    from PIL import Image

    from semantic.bench import UNSHARP, BenchGrid, diffusion_row, run_decoder_bench, sharpened_to
    from semantic.metrics import hf_energy_ratio
    from semantic.data import photos_in_dirs
    from semantic.prior_train import make_prior, make_scheduler
    torch.manual_seed(0)
    base = SemanticCodec.from_pretrained(None)
    SemanticCodec(base.model, prior=make_prior(widths=(32, 32)), scheduler=make_scheduler()).save_pretrained(
        tmp_path / "codec")
    (tmp_path / "photos").mkdir()
    Image.fromarray(load_photo("chelsea")[:64, :128]).save(tmp_path / "photos" / "0.png")
    res = run_decoder_bench(tmp_path / "out", photos_in_dirs([tmp_path / "photos"]),
                            BenchGrid(ratios=("1/24",), snrs=(5.0,), channels=("awgn",), realisms=(1.0, 0.0)),
                            weights=tmp_path / "codec", steps=3, seeds=2, quick=True, reference=False)
    assert res["decoders"] == ["direct", diffusion_row(1.0), diffusion_row(0.0), UNSHARP]
    cell = res["quality"]["1/24 awgn 5 dB"]
    # an untrained prior's posterior mean is the restored estimate: near direct's
    assert cell[diffusion_row(0.0)]["psnr_db"]["per_seed"] == pytest.approx(cell["direct"]["psnr_db"]["per_seed"],
                                                                            abs=1.0)
    # one photo: the sharpened row holds the first diffusion row's PSNR (or is direct's own, when that
    # is already below it)
    assert all(u >= min(f, d) - 1e-9 for u, f, d in zip(cell[UNSHARP]["psnr_db"]["per_seed"],
                                                        cell[diffusion_row(1.0)]["psnr_db"]["per_seed"],
                                                        cell["direct"]["psnr_db"]["per_seed"]))
    assert (tmp_path / "out" / "perception_distortion.png").stat().st_size > 10_000
    ref = load_photo("coffee")[:64, :64]
    blurred = SemanticCodec.from_pretrained(None).decode(*_noisy(ref), ref.shape)
    sharp = sharpened_to(ref, blurred, psnr(ref, blurred) - 1.0)     # 1 dB to spend on sharpening
    assert psnr(ref, blurred) - 1.0 <= psnr(ref, sharp) < psnr(ref, blurred)
    assert hf_energy_ratio(ref, sharp) > 1.2 * hf_energy_ratio(ref, blurred)
    assert sharpened_to(ref, blurred, 99.0) is blurred              # no amount keeps an impossible floor
    with pytest.raises(ValueError, match="realism"):
        run_decoder_bench(tmp_path / "o2", {"a": ref}, BenchGrid(realisms=(1.5,)), weights=tmp_path / "codec")


def test_prior_learns_a_codecs_own_latents_validates_and_resumes(tmp_path):
    """The prior encodes the photos with the given codec's encoder (cached, keyed by its fingerprint),
    standardises them with the codec's statistics, logs a validation loss, checkpoints, resumes, and
    writes float16 weights diffusers loads; a wrong codec path or photo folder is one error line."""
    from PIL import Image
    from diffusers import UNet2DModel

    from semantic.prior_train import main, standardised_pairs
    codec = SemanticCodec(_random_codec(2))
    codec.save_pretrained(tmp_path / "codec")
    photos = tmp_path / "photos"
    photos.mkdir()
    src = load_photo("coffee")
    for i in range(3):
        Image.fromarray(src[i * 20: i * 20 + 72, :96]).save(photos / f"{i}.png")
    args = ["--codec", str(tmp_path / "codec"), "--out", str(tmp_path / "prior"), "--photo-dir", str(photos),
            "--val-every", "3", "--scales", "1.0", "--crop", "8", "--batch", "2", "--ckpt-every", "2"]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3"]) == 0
    log = [json.loads(line) for line in (tmp_path / "prior" / "prior_log.jsonl").read_text().splitlines()]
    # step 0 logs the untrained prior's validation loss (the Gaussian combination it starts from)
    assert [r["step"] for r in log] == [0, 2, 3] and log[0]["loss"] is None and log[0]["best"]
    assert all(np.isfinite(r["loss"]) for r in log[1:]) and all(np.isfinite(r["val_loss"]) for r in log)
    # the cache holds the codec's own latents, mirrored photos included (2 training photos -> 4 maps)
    cached = torch.load(tmp_path / "prior" / "latent_cache.pt", weights_only=True)
    assert json.loads(cached["key"])["encoder"] == f"{codec.fingerprint():08x}" and len(cached["latents"]) == 4
    img = torch.from_numpy(src[:72, :96].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        z = codec.model.encoder(img)[0]
    pairs = standardised_pairs(codec, {"a": src[:72, :96]}, [1.0], tmp_path / "c.pt", mirror=False)
    want = (z - codec.model.latent_mean[:, None, None]) / codec.model.latent_cov.diagonal().sqrt()[:, None, None]
    assert torch.allclose(pairs[0][1], want, atol=2e-2 * want.abs().max())    # float16 cache
    from safetensors.torch import load_file
    stored = load_file(tmp_path / "prior" / "prior" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float16}
    assert UNet2DModel.from_pretrained(tmp_path / "prior" / "best_prior").config.in_channels == 3 * 32
    # shipping: the prior joins the codec it learnt (with its default realism), never another one
    import runpy
    ship = runpy.run_path("scripts/ship_model.py")["main"]
    assert ship(["--prior", str(tmp_path / "prior"), "--to", str(tmp_path / "codec"), "--realism", "0.5"]) == 0
    shipped = SemanticCodec.from_pretrained(tmp_path / "codec")
    assert shipped.methods == ("direct", "diffusion") and shipped.default_realism == 0.5
    # --latest ships the last weights (prior/) instead of the lowest validation objective's (best_prior/)
    assert ship(["--prior", str(tmp_path / "prior"), "--to", str(tmp_path / "codec"), "--latest"]) == 0
    last = load_file(tmp_path / "prior" / "prior" / "diffusion_pytorch_model.safetensors")
    now = load_file(tmp_path / "codec" / "prior" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(last[k], now[k]) for k in last)
    # --init starts another run from these weights: its step 0 is where the first run stopped
    # (here with the pixel term: its figure and direct's on the same crops are logged, and best_prior
    # follows the objective val_loss + 0.2 * val_pixel_db)
    assert main(args[:3] + [str(tmp_path / "tuned")] + args[4:] + ["--steps", "2", "--ckpt-every", "1", "--init",
                str(tmp_path / "prior" / "prior"), "--low-noise-weight", "5", "--pixel-weight", "0.2", "--pixel-times", "0.6",
                "--pixel-msssim", "50"]) == 0
    tuned = [json.loads(line) for line in (tmp_path / "tuned" / "prior_log.jsonl").read_text().splitlines()]
    assert tuned[0]["val_loss"] == pytest.approx(log[-1]["val_loss"], rel=1e-2) and np.isfinite(tuned[1]["loss"])
    assert len({r["val_pixel_db_direct"] for r in tuned}) == 1 and all(r["val_pixel_db"] < 0 for r in tuned)
    for i, r in enumerate(tuned):
        assert r["objective"] == pytest.approx(r["val_loss"] + 0.2 * r["val_pixel_db"])
        assert r["best"] == (r["objective"] <= min(q["objective"] for q in tuned[:i + 1]))
    assert "val_pixel_db" not in log[-1] and log[-1]["objective"] == log[-1]["val_loss"]
    with pytest.raises(SystemExit, match="cannot load --init"):
        main(args[:3] + [str(tmp_path / "p4")] + args[4:] + ["--init", str(tmp_path / "nowhere")])
    SemanticCodec(_random_codec(3)).save_pretrained(tmp_path / "other")
    assert ship(["--prior", str(tmp_path / "prior"), "--to", str(tmp_path / "other")]) == 2
    assert SemanticCodec.from_pretrained(tmp_path / "other").methods == ("direct",)
    with pytest.raises(SystemExit, match="cannot load|no semantic codec"):
        main(["--codec", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p2"), "--photo-dir", str(photos)])
    with pytest.raises(SystemExit, match="no PNG"):
        main(["--codec", str(tmp_path / "codec"), "--out", str(tmp_path / "p2"), "--photo-dir", str(tmp_path / "x")])


def test_low_noise_loss_weights_are_min_snr_gamma_kept_at_one_or_more():
    from semantic.prior_train import loss_weights
    abar = torch.tensor([1e-4, 0.5, 0.75, 0.999])                  # SNR 1e-4, 1, 3, 999
    assert torch.equal(loss_weights(abar, 1.0), torch.ones(4))
    assert torch.allclose(loss_weights(abar, 5.0), torch.tensor([1.0001, 2.0, 4.0, 5.0]), atol=1e-4)


def test_gmsd_and_high_frequency_energy_ratio_tell_blur_from_noise():
    from scipy.ndimage import gaussian_filter

    from semantic.metrics import gmsd, hf_energy_ratio
    a = load_photo("coffee")[:128, :128]
    blur = np.stack([gaussian_filter(a[..., c].astype(float), 1.5) for c in range(3)], -1).round().astype(np.uint8)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert gmsd(a, a) == 0.0 and hf_energy_ratio(a, a) == pytest.approx(1.0)
    assert 0.02 < gmsd(a, blur) < gmsd(a, noisy)             # both move the edges; noise more
    assert hf_energy_ratio(a, blur) < 0.2 < 2.0 < hf_energy_ratio(a, noisy)   # blur loses detail, noise adds
    with pytest.raises(ValueError, match="equal shape"):
        gmsd(a, a[:64])


def test_keep_freed_memory_serves_big_blocks_from_the_heap():
    """glibc maps a 64 MB block with mmap by default (unmapped again when freed, every reuse
    page-faulting); after ``keep_freed_memory`` it comes from the heap and stays there when freed."""
    import subprocess
    import sys
    code = r"""
import ctypes, sys
import numpy as np
from semantic.allocator import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks "
                                               "uordblks fordblks keepcost").split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    assert keep_freed_memory()
a = np.ones(64 << 20, np.uint8)
mapped = libc.mallinfo2().hblkhd
del a
print(mapped, libc.mallinfo2().fordblks)
"""
    out = {mode: [int(v) for v in subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                                 check=True, timeout=120).stdout.split()]
           for mode in ("default", "keep")}
    assert out["default"][0] >= 64 << 20 and out["default"][1] < 64 << 20     # mapped, then returned
    assert out["keep"][0] < 64 << 20 and out["keep"][1] >= 64 << 20           # heap, then kept free for reuse
