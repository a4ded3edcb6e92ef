"""SemanticCodec: shapes, power normalisation, save/load, trained weights, determinism, decoders."""
import numpy as np
import pytest
import torch

from semantic import CodecLoadError, SemanticCodec
from semantic.data import load_photo
from semantic.jscc import JSCC
from semantic.latent_channel import noise_variance, transmit
from semantic.metrics import psnr

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def codec():
    return SemanticCodec.from_pretrained()


@pytest.fixture(scope="module")
def photo():
    img = load_photo("chelsea")  # held out: never seen in training
    return img[60:60 + 128, 150:150 + 160]


def _channel(z, snr_db, channel="awgn", seed=0):
    g = torch.Generator().manual_seed(seed)
    var = noise_variance(z.shape, snr_db, channel, g)
    return transmit(torch.from_numpy(z), var, g).numpy(), var.numpy()


def test_encode_shapes_and_unit_power(codec):
    img = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    z = codec.encode(img)
    assert z.shape == (2 * 3, *codec.latent_shape)
    assert z.dtype == np.float32
    np.testing.assert_allclose((z.astype(np.float64) ** 2).mean(axis=(1, 2, 3)), 1.0, atol=1e-4)
    assert codec.values_per_image(img.shape) == z.size


def test_decode_any_size_and_bad_input(codec):
    img = np.random.default_rng(1).integers(0, 256, (37, 70, 3), dtype=np.uint8)
    z = codec.encode(img)
    out = codec.decode(z, np.zeros_like(z), img.shape, method="direct")
    assert out.shape == img.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match="do not match"):
        codec.decode(z[:1], np.zeros_like(z[:1]), img.shape)
    with pytest.raises(ValueError, match="unknown decoder"):
        codec.decode(z, np.zeros_like(z), img.shape, method="magic")
    with pytest.raises(ValueError, match="uint8"):
        codec.encode(img.astype(np.float32))


def test_save_load_round_trip(codec, photo, tmp_path):
    codec.save_pretrained(tmp_path / "c")
    again = SemanticCodec.from_pretrained(tmp_path / "c")
    z = codec.encode(photo)
    np.testing.assert_array_equal(z, again.encode(photo))
    y, var = _channel(z, 5.0)
    a, b = (c.decode(y, var, photo.shape, steps=3, seed=4).astype(int) for c in (codec, again))
    # the same weights, but two loaded copies of the map prior can differ in the last bit of their
    # output (5e-7 measured: the CPU kernels' summation order), so a pixel on a rounding edge can
    # move by one grey level
    assert np.abs(a - b).max() <= 1 and np.mean(a != b) < 1e-3
    assert again.diffusion_method == codec.diffusion_method


def test_shipped_model_beats_untrained(codec, photo):
    torch.manual_seed(0)
    untrained = SemanticCodec(type(codec.jscc)(**dict(codec.jscc.config)), codec.prior, codec.scheduler)
    scores = {}
    for name, c in (("trained", codec), ("untrained", untrained)):
        z = c.encode(photo)
        y, var = _channel(z, 10.0)
        scores[name] = psnr(photo, c.decode(y, var, photo.shape, method="direct"))
    assert scores["trained"] > 20.0
    assert scores["trained"] > scores["untrained"] + 6.0


@pytest.mark.parametrize("method", ["posterior", "snr-matched"])
def test_seeded_determinism(codec, photo, method):
    z = codec.encode(photo)
    y, var = _channel(z, 0.0, "rayleigh")
    var[0, :2] = np.inf  # some missing values make the seed matter
    a = codec.decode(y, var, photo.shape, method=method, steps=4, seed=7)
    b = codec.decode(y, var, photo.shape, method=method, steps=4, seed=7)
    c = codec.decode(y, var, photo.shape, method=method, steps=4, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("method", ["posterior", "direct", "snr-matched"])
def test_infinite_variance_values_are_ignored(codec, photo, method):
    z = codec.encode(photo)
    y, var = _channel(z, 5.0, "rayleigh")
    lost = np.random.default_rng(3).random(z.shape) < 0.4
    var[lost] = np.inf
    outs = []
    for fill in (0.0, 1e6, np.nan):
        yy = y.copy()
        yy[lost] = fill
        outs.append(codec.decode(yy, var, photo.shape, method=method, steps=4, seed=1))
    yy = y.copy()
    yy[lost] = np.random.default_rng(9).normal(size=lost.sum()) * 50
    outs.append(codec.decode(yy, var, photo.shape, method=method, steps=4, seed=1))
    for o in outs[1:]:
        np.testing.assert_array_equal(outs[0], o)


def test_missing_latents_decode_to_valid_image(codec, photo):
    z = codec.encode(photo)
    y, var = _channel(z, 10.0)
    var[1] = np.inf          # one whole tile lost
    out = codec.decode(y, var, photo.shape, method="diffusion", steps=4)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert out.std() > 5.0   # the prior generated content, not a flat fill
    everything_lost = codec.decode(y, np.full_like(var, np.inf), photo.shape, steps=4)
    assert everything_lost.shape == photo.shape and everything_lost.dtype == np.uint8


@pytest.mark.parametrize("scope, realism", [("tile", 1.0), ("map", 0.0)])
def test_a_lost_tile_decodes_as_direct_does_unless_sampled_from_a_map(codec, scope, realism):
    """A per-tile prior knows nothing of a tile of which nothing arrived: it gets the direct
    decoder's estimate (a random draw from a per-tile prior is content unrelated to the image:
    2.5 dB worse than direct with a quarter of the tiles lost). The one-step estimate of a map
    prior (realism 0) hands it to the JSCC decoder as lost, which fills it from its neighbours as
    the direct decoder does. Either way it does not depend on the seed."""
    codec = SemanticCodec(codec.jscc, codec.prior, codec.scheduler, fusion_scale=codec.fusion_scale,
                          realism=realism, prior_scope=scope)
    img = load_photo("chelsea")[60:60 + 128, 150:150 + 192]
    z = codec.encode(img)
    y, var = _channel(z, 5.0)
    var[[1, 4]] = np.inf                                    # tiles (0, 1) and (1, 1) lost
    t = codec.tile
    lost = (slice(0, 2 * t), slice(t, 2 * t))

    def mse(out):
        return float(np.mean((out[lost].astype(float) - img[lost]) ** 2))

    direct = codec.decode(y, var, img.shape, method="direct")
    a, b = (codec.decode(y, var, img.shape, method="diffusion", steps=4, seed=s) for s in (0, 1))
    assert mse(a) < 1.1 * mse(direct)
    assert np.abs(a[lost].astype(int) - b[lost]).max() <= 8  # neighbours' draws reach its edges only


def test_bad_path_gives_one_line_error(tmp_path):
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained(tmp_path / "nope")
    msg = str(e.value)
    assert "\n" not in msg and "nope" in msg and "save_pretrained" in msg
    assert isinstance(e.value, OSError)


def test_transmitter_refinement_sends_latents_that_decode_better_at_the_planned_snr(codec):
    img = load_photo("coffee")[:128, :192]   # held out; 2x3 tiles
    plain = codec.encode(img)
    assert np.array_equal(codec.encode(img, refine_steps=0), plain)
    grads = [p.requires_grad for p in codec.jscc.parameters()]
    refined = codec.encode(img, refine_steps=8, refine_snr_db=10.0)
    assert [p.requires_grad for p in codec.jscc.parameters()] == grads   # the model is left as it was
    assert refined.shape == plain.shape and not np.allclose(refined, plain)
    np.testing.assert_allclose((refined.astype(np.float64) ** 2).mean(axis=(1, 2, 3)), 1.0, rtol=1e-4)

    def psnr_at_10db(z):
        return np.mean([psnr(img, codec.decode(*_channel(z, 10.0, seed=seed), img.shape, method="direct"))
                        for seed in range(4)])
    assert psnr_at_10db(refined) > psnr_at_10db(plain) + 0.1
    with pytest.raises(ValueError, match="high end below its low end"):
        codec.encode(img, refine_steps=1, refine_snr_db=(10.0, 0.0))


def test_hub_id_loads_from_the_hub_cache_and_fails_in_one_line_offline(codec, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)        # no request leaves the machine
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    # a model the hub cached earlier, laid out as huggingface_hub writes its cache
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someuser--radio-codec"
    codec.save_pretrained(repo / "snapshots" / commit)
    (repo / "snapshots" / commit / "codec_config.json").write_text('{"fusion_scale": 7.5, "realism": 0.25}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = SemanticCodec.from_pretrained("someuser/radio-codec")
    assert (loaded.fusion_scale, loaded.realism) == (7.5, 0.25)   # the hub copy's decoder setting, too
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained("someuser/not-cached")
    msg = str(e.value)
    assert "\n" not in msg and "someuser/not-cached" in msg and "cannot be reached" in msg and "hf download" in msg


def test_corrupt_weights_give_one_line_error(codec, tmp_path):
    codec.save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "jscc" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained(tmp_path / "c")
    assert "\n" not in str(e.value) and str(tmp_path / "c") in str(e.value)


def test_no_visible_seams_at_tile_borders(codec):
    img = load_photo("coffee")[:192, :320]   # held out; 3x5 tiles
    z = codec.encode(img)
    out = codec.decode(z, np.full_like(z, 0.01), img.shape, method="direct").astype(float)
    for axis, mean_over in ((1, (0, 2)), (0, (1, 2))):
        jump = np.abs(np.diff(out, axis=axis)).mean(axis=mean_over)   # mean step between neighbour columns/rows
        border, inside = jump[63::64], np.delete(jump, np.s_[63::64])
        # independently decoded tiles give border jumps ~4x the image's own; the stitched decoder ~1.2x
        assert border.mean() < 1.6 * inside.mean()


def test_realism_knob(codec, photo):
    z = codec.encode(photo)
    y, var = _channel(z, 0.0)
    smooth = codec.decode(y, var, photo.shape, method="posterior", steps=4, realism=0.0)
    detail = codec.decode(y, var, photo.shape, method="posterior", steps=4, realism=1.0)
    assert not np.array_equal(smooth, detail)
    with pytest.raises(ValueError, match="realism"):
        codec.decode(y, var, photo.shape, method="posterior", realism=1.5)


def test_ship_model_writes_float16_weights_with_the_tuned_setting(codec, photo, tmp_path):
    import json
    import sys
    from pathlib import Path

    from safetensors import safe_open
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import ship_model

    codec.save_pretrained(tmp_path / "trained")
    (tmp_path / "trained" / "data_split.json").write_text('{"train_photos": ["a.jpg"], "val_photos": []}')
    tuning = tmp_path / "tuning.json"
    tuning.write_text(json.dumps({"model": str(tmp_path / "trained"), "chosen": "fusion 30, realism 0.5"}))
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "MODEL_CARD.md").write_text("card")
    assert ship_model.main([str(tmp_path / "trained"), "--tuning", str(tuning), "--to", str(tmp_path / "shipped")]) == 0
    with safe_open(tmp_path / "shipped" / "jscc" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    shipped = SemanticCodec.from_pretrained(tmp_path / "shipped")
    assert (shipped.fusion_scale, shipped.realism) == (30.0, 0.5)
    assert (tmp_path / "shipped" / "MODEL_CARD.md").read_text() == "card"
    assert json.loads((tmp_path / "shipped" / "data_split.json").read_text())["train_photos"] == ["a.jpg"]
    z = codec.encode(photo)
    assert np.abs(shipped.encode(photo) - z).max() < 0.02 * np.abs(z).max()    # float16 rounding only
    (tmp_path / "trained" / "data_split.json").unlink()      # trained on the packaged photos: no list
    assert ship_model.main([str(tmp_path / "trained"), "--tuning", str(tuning), "--to", str(tmp_path / "shipped")]) == 0
    assert not (tmp_path / "shipped" / "data_split.json").exists()
    tuning.write_text(json.dumps({"model": "elsewhere", "chosen": "fusion 3, realism 0"}))
    with pytest.raises(SystemExit, match="tune this model first"):
        ship_model.main([str(tmp_path / "trained"), "--tuning", str(tuning), "--to", str(tmp_path / "shipped")])
