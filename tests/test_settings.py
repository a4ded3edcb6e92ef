"""The link's typed settings (``diffradio.settings``) and how the commands fill them."""
import dataclasses

import numpy as np
import pytest

from diffradio import link
from diffradio.settings import LinkSettings, ReceiveOptions


def test_decoder_choice_maps_to_scheme_and_method():
    assert LinkSettings.for_decoder("digital", seed=3) == LinkSettings(scheme="digital", seed=3)
    assert LinkSettings.for_decoder("direct") == LinkSettings(scheme="semantic", method="direct")
    assert LinkSettings.for_decoder(None).method is None


@pytest.mark.parametrize("fields, needle", [
    (dict(scheme="analog"), "unknown scheme"),
    (dict(method="digital"), "scheme='digital'"),
    (dict(stream_id=256), "0..255"),
])
def test_bad_settings_are_refused_where_they_are_made(fields, needle):
    with pytest.raises(ValueError, match=needle):
        LinkSettings(**fields)


def test_settings_are_frozen_values():
    s = LinkSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 1
    assert dataclasses.replace(s, seed=1) == LinkSettings(seed=1) != s
    with pytest.raises(dataclasses.FrozenInstanceError):
        ReceiveOptions().count = 2


def test_broadcast_sends_both_streams_at_the_chosen_ratio(tmp_path, monkeypatch):
    """The digital stream is sized to the semantic stream's channel uses at the same bandwidth ratio,
    its MCS chosen for the target SNR."""
    from diffradio.broadcast import run_broadcast

    built = []

    class Stop(Exception):
        pass

    def build(image, codec, tx, settings):
        built.append(settings)
        if len(built) == 2:
            raise Stop

    monkeypatch.setattr(link, "build_transmission", build)
    settings = LinkSettings(bandwidth_ratio="1/12", channel="tdl-c", source_codec="jpeg", seed=4)
    with pytest.raises(Stop):
        run_broadcast(np.zeros((64, 64, 3), np.uint8), None, tmp_path, settings, snrs=[0.0, 20.0],
                      digital_target_snr=12.0)
    semantic, digital = built
    assert (semantic.scheme, semantic.stream_id, digital.scheme, digital.stream_id) == ("semantic", 1, "digital", 2)
    assert semantic.bandwidth_ratio == digital.bandwidth_ratio == "1/12"
    assert digital.snr_hint_db == 12.0 and digital.channel == "tdl-c" and digital.source_codec == "jpeg"
