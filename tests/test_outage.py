"""``diffradio bench outage``: the genie receiver against the sent latents, and the JSON contract."""
import json

import numpy as np

from diffradio.cli import main
from diffradio.outage import genie_latents, summarise
from diffradio.link import Transmission
from diffradio.stream import StreamDescriptor, frame_slices
from phy.channel import ChannelConfig
from phy.params import OfdmParams
from phy.tx import Transmitter


def _stream(n_values=6000, n_frames=2):
    p = OfdmParams()
    tx = Transmitter(p, nonce=1)
    v = np.random.default_rng(0).normal(size=n_values).astype(np.float32)
    desc = StreamDescriptor("semantic", (64, 64 * n_values // 1024), n_frames, n_values, (n_values // 1024, 64, 4, 4))
    fc = desc.frame_count
    bursts = [tx.control_burst(desc.pack(), frame_index=0, frame_count=fc)]
    bursts += [tx.analog_burst(v[sl], frame_index=i, frame_count=fc)
               for i, sl in enumerate(frame_slices(n_values, n_frames), start=1)]
    bursts += [tx.control_burst(desc.pack(), frame_index=fc - 1, frame_count=fc)]
    return p, v, Transmission(bursts, desc, n_values // 2)


def test_genie_recovers_the_sent_values_with_their_noise_variance():
    from diffradio.outage import TRAIL, _radio

    p, v, tr = _stream()
    for channel, snr in (("rayleigh", 20.0), ("tdl-c", 5.0)):
        cfg = ChannelConfig(snr_db=snr, channel=channel, seed=3)
        radio = _radio(cfg, 1234, p)
        for b in tr.bursts:
            radio.transmit(b)
        x = np.concatenate(list(radio.stream(1 << 16, None)))
        assert x.size == 1234 + sum(b.size for b in tr.bursts) + TRAIL
        values, var, snr_db = genie_latents(tr, x, cfg, 1234, p)
        assert np.all(np.isfinite(var))
        ratio = np.mean((values - v) ** 2 / var)
        assert 0.85 < ratio < 1.15, (channel, ratio)     # errors as large as the reported variance
        assert -15 < snr_db < snr + 10


def test_summary_counts_outage_causes():
    rows = [dict(channel="tdl-c", snr_db=0.0, image=False, cause="no_frame", psnr_db=None, frames_lost=2,
                 genie_psnr_db=16.0),
            dict(channel="tdl-c", snr_db=0.0, image=True, psnr_db=20.0, frames_lost=0, genie_psnr_db=21.0),
            dict(channel="tdl-c", snr_db=0.0, image=False, cause="no_descriptor", psnr_db=None, frames_lost=2,
                 genie_psnr_db=12.0)]
    (cell,) = summarise(rows)
    assert cell["runs"] == 3 and abs(cell["no_image"] - 2 / 3) < 1e-12
    assert cell["no_frame"] == cell["no_descriptor"] == 1 / 3
    assert cell["psnr_db_mean"] == 20.0 and cell["genie_useful_runs"] == 2
    assert cell["image_where_genie_useful"] == 0.5


def test_bench_outage_quick_json(tmp_path, capsys):
    assert main(["bench", "outage", "--runs", "1", "--snr", "15", "--channel", "rayleigh", "--quick",
                 "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (cell,) = result["cells"]
    assert cell["runs"] == 1 and cell["image"] == 1.0
    assert abs(cell["psnr_db_mean"] - cell["genie_psnr_db_mean"]) < 1.5
    for key in ("false_alarms", "foreign_80211a", "speed"):
        assert key in result
    assert result["foreign_80211a"]["frames_out"] == 0
    assert (tmp_path / "outage.png").exists() and "runs" in json.loads((tmp_path / "outage.json").read_text())


def test_receiver_only_outage_of_the_bench_runs(tmp_path, monkeypatch):
    """``experiments/outage_receiver_ab.py``: the bench's runs received without decoding images, one
    JSON row per run with the same keys the bench uses for the receiver's side."""
    import sys
    from pathlib import Path

    import diffradio.outage as outage

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
    import outage_receiver_ab

    monkeypatch.setattr(outage, "CHANNELS", ("rayleigh",))
    monkeypatch.setattr(outage, "SNRS_DB", (15.0,))
    out = tmp_path / "rx.json"
    assert outage_receiver_ab.main(["--runs", "2", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    (cell,) = res["cells"]
    assert cell["runs"] == 2 and cell["no_image"] == 0.0
    assert [r["seed"] for r in res["runs"]] == [1, 2] and all(r["image"] and r["cause"] is None for r in res["runs"])
    assert all(r["frames_detected"] == res["frames_sent"] for r in res["runs"])
