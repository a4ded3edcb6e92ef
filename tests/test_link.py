"""The whole chain through the link: encoder → frames → radio → receiver → decoder."""
import numpy as np
import pytest

from diffradio import link
from diffradio.settings import LinkSettings
from phy import ChannelConfig
from semantic.source_codec import decode as decode_source


def test_high_snr_loopback_reproduces_the_direct_decoder(codec, photo):
    ideal = codec.decode(codec.encode(photo), np.zeros_like(codec.encode(photo)), photo.shape, method="direct")
    radio = ChannelConfig(snr_db=40, cfo_hz=1500, sro_ppm=20, seed=3)
    tx, _, rec = link.loopback(photo, codec, radio, LinkSettings(method="direct"))
    assert rec.image.shape == photo.shape
    assert rec.frames_decoded == rec.frames_expected == tx.descriptor.n_data_frames
    diff = np.abs(rec.image.astype(int) - ideal.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 6


def test_a_channel_config_is_the_simulated_radio_its_uri_names(codec, photo):
    """Typed channel settings and the user's ``sim:`` URI give the same radio: same samples, same image."""
    direct = LinkSettings(method="direct")
    typed = link.loopback(photo, codec, ChannelConfig(snr_db=8, channel="tdl-c", cfo_hz=500, seed=5), direct)
    uri = link.loopback(photo, codec, "sim:snr=8,channel=tdl-c,cfo=500,seed=5", direct)
    assert typed[1].samples == uri[1].samples and [f.start_sample for f in typed[1].frames] == [
        f.start_sample for f in uri[1].frames]
    np.testing.assert_array_equal(typed[2].image, uri[2].image)


def test_latents_arrive_with_the_noise_variance_the_receiver_reports(codec, photo):
    sent = codec.encode(photo).reshape(-1)
    _, run, _ = link.loopback(photo, codec, ChannelConfig(snr_db=8, channel="tdl-c", seed=5),
                              LinkSettings(method="direct"))
    from diffradio.stream import gather_latents
    _, state = run.assembler.best()
    values, var, _ = gather_latents(state)
    ratio = np.mean((values - sent) ** 2) / np.mean(var)
    assert 0.75 < ratio < 1.33, ratio


def test_digital_baseline_is_bit_exact_at_high_snr(codec, photo):
    tx, _, rec = link.loopback(photo, codec, ChannelConfig(snr_db=30, seed=1),
                               LinkSettings(scheme="digital", snr_hint_db=30))
    assert rec.scheme == "digital" and rec.frames_decoded == rec.frames_expected
    assert len(tx.source.data) == tx.descriptor.payload_len
    np.testing.assert_array_equal(rec.image, decode_source(tx.source.data, photo.shape[:2]))


@pytest.mark.parametrize("source_codec", ["avif", "webp", "jpeg"])
def test_digital_baseline_fits_the_semantic_channel_uses(codec, photo, source_codec):
    """Every source codec is sized to the semantic stream's channel uses at the chosen MCS."""
    from phy import OfdmParams, Transmitter
    from phy.mcs import CANDIDATES
    tx = Transmitter(OfdmParams())
    semantic = link.build_transmission(photo, codec, tx, LinkSettings(scheme="semantic"))
    mcs = CANDIDATES[4]
    digital = link.build_transmission(photo, codec, tx,
                                      LinkSettings(scheme="digital", source_codec=source_codec, mcs=mcs))
    report = link.digital_report(digital)
    assert report["source_codec"] == source_codec and report["mcs"] == mcs.name
    assert report["source_bytes"] <= link.source_budget(semantic.channel_uses, mcs)
    assert digital.channel_uses <= semantic.channel_uses


def test_low_snr_still_gives_an_image_and_accounts_for_frames(codec, photo):
    radio = ChannelConfig(snr_db=0, channel="rayleigh", seed=11)
    _, run, rec = link.loopback(photo, codec, radio)
    assert rec.image.shape == photo.shape and rec.image.dtype == np.uint8
    received = run.assembler.best()[1].frames
    assert rec.frames_expected - rec.frames_decoded == sum(
        1 for i in range(1, rec.frames_expected + 1) if i not in received)


def test_a_lost_frame_is_filled_from_its_neighbours_and_reported(codec):
    """A frame lost in a deep fade: its latents are missing, the image is still whole."""
    from diffradio.sweep import sweep_photo
    from phy import OfdmParams, Transmitter
    from sdr import open_radio

    photo = sweep_photo("coffee", 128)  # 6 tiles: two analog frames

    tx = link.semantic_transmission(photo, codec, Transmitter(OfdmParams()), stream_id=3)
    assert tx.descriptor.n_data_frames >= 2
    with open_radio("sim:snr=25,seed=4") as radio:
        for index, burst in enumerate(tx.bursts):
            radio.transmit(burst * (1e-4 if index == 2 else 1.0))  # frame 2 arrives 80 dB down
        run = link.receive(radio, OfdmParams())
    rec = link.decode(run, codec=codec)
    assert rec.frames_expected - rec.frames_decoded == 1
    assert rec.extra["values_missing"] > 0
    assert rec.image.shape == photo.shape
    from semantic.metrics import psnr
    assert psnr(photo, rec.image) > 12


def test_noise_only_signal_is_a_clear_error(codec):
    from phy import OfdmParams
    from sdr import open_radio
    with open_radio("sim:snr=10,seed=2") as radio:
        radio_samples = radio.receive(200_000)
    assert radio_samples.size == 200_000

    class Noise:
        def stream(self, chunk, limit):
            yield from (radio_samples[i:i + chunk] for i in range(0, radio_samples.size, chunk))

        def no_signal_hint(self):
            return ""

    run = link.receive(Noise(), OfdmParams())
    with pytest.raises(link.LinkError, match="no frame found"):
        link.decode(run, codec=codec)
