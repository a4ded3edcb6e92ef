"""semantic parts: latent channel, power normalisation, metrics, data lists, training loop."""
import json

import numpy as np
import pytest
import torch

from semantic import SemanticCodec
from semantic.data import HELDOUT_PHOTOS, TRAIN_PHOTOS, CropSampler, load_photo
from semantic.jscc import JSCC, power_normalize, reliability
from semantic.latent_channel import noise_variance, transmit
from semantic.metrics import ms_ssim, psnr, vif
from semantic.samplers import matched_timestep, noise_to_signal
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


def test_power_normalize_and_reliability():
    z = power_normalize(torch.randn(3, 4, 16, 16) * 7 + 2)
    assert torch.allclose(z.pow(2).mean((1, 2, 3)), torch.ones(3), atol=1e-5)
    y = torch.tensor([1.0, float("nan"), 5.0])
    est, w = reliability(y, torch.tensor([1.0, 1.0, float("inf")]))
    assert torch.equal(w, torch.tensor([0.5, 0.0, 0.0])) and torch.equal(est, torch.tensor([0.5, 0.0, 0.0]))


def test_jscc_shapes_configurable():
    m = JSCC(tile=32, latent_channels=6, downsample=8, hidden=32)
    z = m.encode(torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 6, 4, 4) == (2, *m.latent_shape)
    assert m.decode(z, torch.zeros_like(z)).shape == (2, 3, 32, 32)
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


def test_data_lists_are_disjoint_and_load():
    assert not set(TRAIN_PHOTOS) & set(HELDOUT_PHOTOS)
    assert "cat" not in TRAIN_PHOTOS  # same file as the held-out 'chelsea'
    for n in HELDOUT_PHOTOS:
        img = load_photo(n)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    batch = CropSampler([load_photo("camera")], tile=32).sample(5, torch.Generator().manual_seed(0))
    assert batch.shape == (5, 3, 32, 32) and 0 <= float(batch.min()) and float(batch.max()) <= 1


def test_train_checkpoints_resumes_and_loads(tmp_path):
    from semantic.train import main
    args = ["--out-dir", str(tmp_path), "--batch", "2", "--hidden", "32", "--prior-channels", "32,32",
            "--jscc-steps", "3", "--prior-steps", "2", "--ckpt-every", "2", "--threads", "1"]
    assert main(args) == 0
    prog = json.loads((tmp_path / "checkpoints" / "jscc" / "progress.json").read_text())
    assert prog["step"] == 3
    assert main(args[:-8] + ["--jscc-steps", "5", "--prior-steps", "2", "--ckpt-every", "2",
                             "--threads", "1", "--stages", "jscc"]) == 0
    assert json.loads((tmp_path / "checkpoints" / "jscc" / "progress.json").read_text())["step"] == 5
    codec = SemanticCodec.from_pretrained(tmp_path)
    img = load_photo("astronaut")[:64, :64]
    z = codec.encode(img)
    assert codec.decode(z, np.full_like(z, 0.1), img.shape, steps=2).shape == img.shape


def test_photo_dir(tmp_path):
    from PIL import Image

    from semantic.data import photos_in_dir
    with pytest.raises(ValueError, match="photo-dir"):
        photos_in_dir(tmp_path / "missing")
    Image.fromarray(load_photo("camera")[:70, :90]).save(tmp_path / "a.png")
    (imgs,) = photos_in_dir(tmp_path)
    assert imgs.shape == (70, 90, 3) and imgs.dtype == np.uint8
