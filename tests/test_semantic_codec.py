"""SemanticCodec on the TAEF2 latent space: the pretrained layout, ratios, nesting, decoding, loading."""
import numpy as np
import pytest
import torch

from semantic import CodecLoadError, SemanticCodec
from semantic.data import load_photo
from semantic.latent_channel import noise_variance, transmit
from semantic.latent_codec import RATIO_DIMS, ProjectedLatentCodec
from semantic.metrics import psnr
from semantic.taef2 import load_taef2, taef2_decoder, taef2_encoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def crop():
    img = load_photo("chelsea")  # held out: never seen in training
    return img[60:60 + 128, 150:150 + 192]


def _channel(z, snr_db, channel="awgn", seed=0):
    g = torch.Generator().manual_seed(seed)
    var = noise_variance(z.shape, snr_db, channel, g)
    return transmit(torch.from_numpy(z), var, g).numpy(), var.numpy()


def test_pretrained_layout_loads_by_key_names(tmp_path):
    """The published state dicts are plain nn.Sequential indices: a file in that layout loads, one that
    is not fails, and a missing file names itself and the fix."""
    torch.manual_seed(0)
    enc, dec = taef2_encoder(), taef2_decoder()
    assert sum(p.numel() for p in enc.parameters()) == 1_338_528      # the README's parameter counts
    assert sum(p.numel() for p in dec.parameters()) == 1_338_499
    assert "11.pool.0.weight" in enc.state_dict() and "3.pool.3.weight" in dec.state_dict()
    torch.save({k: v.half() for k, v in enc.state_dict().items()}, tmp_path / "taef2_encoder.pth")
    with pytest.raises(FileNotFoundError, match="taef2_decoder.pth"):
        load_taef2(tmp_path)
    torch.save({k: v.half() for k, v in dec.state_dict().items()}, tmp_path / "taef2_decoder.pth")
    enc2, dec2 = load_taef2(tmp_path)
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert enc2(x).shape == (1, 32, 4, 6)
        torch.testing.assert_close(enc2(x), enc.half().float()(x), atol=1e-4, rtol=1e-3)
    bad = {k.replace("pool", "pooling"): v for k, v in dec.state_dict().items()}
    torch.save(bad, tmp_path / "taef2_decoder.pth")
    with pytest.raises(RuntimeError, match="pool"):
        load_taef2(tmp_path)


@pytest.mark.parametrize("ratio", ["1/12", "1/24", "1/48"])
def test_each_ratio_round_trips(codec, crop, ratio):
    z = codec.encode(crop, ratio)
    dims = RATIO_DIMS[ratio]
    assert z.shape == (2 * 3, dims, 8, 8) and z.dtype == np.float32
    assert codec.values_per_image(crop.shape, ratio) == z.size
    assert codec.ratio_of(z.shape) == ratio
    # 2 reals per complex use, 3 values per pixel: the ratio is what its name says
    assert z.size / 2 / crop.size == pytest.approx(eval(ratio), rel=1e-9)
    out = codec.decode(*_channel(z, 10.0), crop.shape)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert psnr(crop, out) > {"1/12": 24.0, "1/24": 22.0, "1/48": 20.0}[ratio]


def test_nested_ratios_share_their_first_dimensions_and_rank(codec, crop):
    """1/48 sends the first 8 of 1/24's 16 projected dimensions, 1/24 the first 16 of 1/12's 32 (up to
    one power gain each), and more dimensions decode better."""
    zs = {r: codec.encode(crop, r) for r in RATIO_DIMS}
    for small, big in (("1/48", "1/24"), ("1/24", "1/12")):
        k = RATIO_DIMS[small]
        first = zs[big][:, :k].astype(np.float64)
        gain = float((zs[small] * first).sum() / (first * first).sum())   # one gain, least squares
        # (a ratio per value would blow float32 rounding up where a sent value is near zero)
        np.testing.assert_allclose(zs[small], gain * first, atol=2e-3 * float(np.abs(zs[small]).max()))
    scores = {r: np.mean([psnr(crop, codec.decode(*_channel(z, 15.0, seed=s), crop.shape)) for s in range(2)])
              for r, z in zs.items()}
    assert scores["1/12"] > scores["1/24"] > scores["1/48"]


def test_sent_values_have_unit_mean_power_on_photos(codec):
    """Unit mean power per value over the training latents: a held-out photo lands near 1."""
    z = codec.encode(load_photo("coffee")[:256, :384])
    assert 0.5 < float((z.astype(np.float64) ** 2).mean()) < 2.0


def test_bad_ratio_shape_and_method_are_one_line_errors(codec, crop):
    with pytest.raises(ValueError, match="1/12, 1/24, 1/48"):
        codec.encode(crop, "1/6")
    z = codec.encode(crop)
    with pytest.raises(ValueError, match="do not match"):
        codec.decode(z[:1], np.zeros_like(z[:1]), crop.shape)
    with pytest.raises(ValueError, match="unknown decoder"):
        codec.decode(z, np.zeros_like(z), crop.shape, method="magic")
    with pytest.raises(ValueError, match="no diffusion prior.*direct"):
        SemanticCodec(codec.model).decode(z, np.zeros_like(z), crop.shape, method="diffusion")
    with pytest.raises(ValueError, match="uint8"):
        codec.encode(crop.astype(np.float32))
    assert SemanticCodec.ratio_of((3, 8, 8, 8)) == "1/48"
    with pytest.raises(ValueError, match="no bandwidth ratio"):
        SemanticCodec.ratio_of((3, 12, 8, 8))


def test_any_image_size_decodes_cropped_back(codec):
    img = np.random.default_rng(1).integers(0, 256, (37, 70, 3), dtype=np.uint8)
    z = codec.encode(img)
    assert z.shape[0] == 2
    out = codec.decode(z, np.zeros_like(z), img.shape)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_lost_values_are_ignored_and_a_lost_tile_is_filled_from_its_neighbours(codec):
    img = load_photo("coffee")[:192, :192]   # held out; 3x3 tiles
    z = codec.encode(img)
    y, var = _channel(z, 10.0)
    lost = 4                                  # the centre tile
    y[lost], var[lost] = 1e6, np.inf          # whatever y holds where the variance is inf is ignored
    out = codec.decode(y, var, img.shape)
    y2 = y.copy()
    y2[lost] = -1e6
    np.testing.assert_array_equal(out, codec.decode(y2, var, img.shape))
    centre = (slice(64, 128), slice(64, 128))
    # the filled tile follows the picture around it: far closer to the truth than the same tile
    # decoded with nothing received anywhere (the prior mean alone), and not flat
    nothing = codec.decode(np.zeros_like(y), np.full_like(var, np.inf), img.shape)
    assert psnr(img[centre], out[centre]) > psnr(img[centre], nothing[centre]) + 3.0
    assert out[centre].std() > 20.0 and psnr(img[centre], out[centre]) > 16.0
    # and the tiles that arrived, away from the lost one, decode nearly as well as with nothing lost
    full = codec.decode(*_channel(z, 10.0), img.shape)
    away = np.r_[0:56, 136:192]
    assert psnr(img[away], out[away]) > psnr(img[away], full[away]) - 1.0


def test_decode_is_deterministic_and_needs_no_seed(codec, crop):
    y, var = _channel(codec.encode(crop), 5.0, "rayleigh")
    np.testing.assert_array_equal(codec.decode(y, var, crop.shape, seed=1), codec.decode(y, var, crop.shape, seed=2))


def test_save_load_round_trip_and_fingerprint(codec, crop, tmp_path):
    codec.save_pretrained(tmp_path / "c", dtype=torch.float16)
    again = SemanticCodec.from_pretrained(tmp_path / "c")
    assert again.fingerprint() == codec.fingerprint()
    np.testing.assert_array_equal(codec.encode(crop), again.encode(crop))
    other = SemanticCodec(ProjectedLatentCodec())
    assert other.fingerprint() != codec.fingerprint()


def test_fine_tuned_codec_beats_the_pretrained_autoencoder(codec):
    """The shipped codec against its starting point, rebuilt from it: the shipped encoder (the
    published one's weights are not shipped), the published decoder (shipped as a test fixture), the
    projection reset to the PCA basis of the training latents and every restorer stage at identity;
    on a held-out photo at 1/24 and 5 dB."""
    import copy

    from safetensors.torch import load_file

    from semantic.codec import DEFAULT_WEIGHTS
    start = copy.deepcopy(codec.model)
    start.reset_projection()
    for stage in (start.restorer.net, *start.restorer.more):
        torch.nn.init.zeros_(stage[-1].weight)
        torch.nn.init.zeros_(stage[-1].bias)
    published = load_file(DEFAULT_WEIGHTS.parent / "taef2-published" / "taef2_decoder.safetensors")
    start.decoder.load_state_dict({k: v.float() for k, v in published.items()})
    assert not torch.equal(start.decoder[1].weight, codec.model.decoder[1].weight)   # the shipped one is tuned
    start = SemanticCodec(start)
    img = load_photo("coffee")[:256, :384]

    def score(c):
        return np.mean([psnr(img, c.decode(*_channel(c.encode(img), 5.0, seed=s), img.shape)) for s in range(2)])
    assert score(codec) > score(start) + 1.0


def test_transmitter_refinement_keeps_tile_power_and_decodes_better(codec):
    img = load_photo("coffee")[:128, :192]   # held out; 2x3 tiles
    plain = codec.encode(img)
    assert np.array_equal(codec.encode(img, refine_steps=0), plain)
    grads = [p.requires_grad for p in codec.model.parameters()]
    refined = codec.encode(img, refine_steps=8, refine_snr_db=10.0)
    assert [p.requires_grad for p in codec.model.parameters()] == grads   # the model is left as it was
    assert refined.shape == plain.shape and not np.allclose(refined, plain)
    np.testing.assert_allclose((refined.astype(np.float64) ** 2).mean(axis=(1, 2, 3)),
                               (plain.astype(np.float64) ** 2).mean(axis=(1, 2, 3)), rtol=1e-4)

    def psnr_at_10db(z):
        return np.mean([psnr(img, codec.decode(*_channel(z, 10.0, seed=seed), img.shape)) for seed in range(4)])
    assert psnr_at_10db(refined) > psnr_at_10db(plain) + 0.05
    with pytest.raises(ValueError, match="high end below its low end"):
        codec.encode(img, refine_steps=1, refine_snr_db=(10.0, 0.0))


def test_bad_path_gives_one_line_error(tmp_path):
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained(tmp_path / "nope")
    msg = str(e.value)
    assert "\n" not in msg and "nope" in msg and "save_pretrained" in msg
    assert isinstance(e.value, OSError)


def test_hub_id_loads_from_the_hub_cache_and_fails_in_one_line_offline(codec, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)        # no request leaves the machine
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    # a model the hub cached earlier, laid out as huggingface_hub writes its cache
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someuser--radio-codec"
    codec.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = SemanticCodec.from_pretrained("someuser/radio-codec")
    assert loaded.fingerprint() == codec.fingerprint() and loaded.default_method == "direct"
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained("someuser/not-cached")
    msg = str(e.value)
    assert "\n" not in msg and "someuser/not-cached" in msg and "cannot be reached" in msg and "hf download" in msg


def test_corrupt_weights_give_one_line_error(codec, tmp_path):
    codec.save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "latent_codec" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CodecLoadError) as e:
        SemanticCodec.from_pretrained(tmp_path / "c")
    assert "\n" not in str(e.value) and str(tmp_path / "c") in str(e.value)


def test_no_visible_seams_at_tile_borders(codec):
    """The image is encoded and decoded whole: the error at tile borders is no larger than inside."""
    img = load_photo("coffee")[:192, :320]   # held out; 3x5 tiles
    out = codec.decode(*_channel(codec.encode(img), 15.0), img.shape).astype(float)
    err = np.abs(out - img).mean(axis=2)
    border = np.zeros(img.shape[:2], bool)
    for b in (64, 128):
        border[b - 1:b + 1, :] = True
    for b in (64, 128, 192, 256):
        border[:, b - 1:b + 1] = True
    assert err[border].mean() < 1.25 * err[~border].mean()
