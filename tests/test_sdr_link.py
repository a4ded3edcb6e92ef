"""Radios with the real PHY: tx -> file -> replay and sim -> record -> replay decode the same frames."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from phy import Receiver, Transmitter
from sdr import RadioConfig, SigMFRecorder, open_radio


@pytest.fixture(scope="module")
def frames():
    tx = Transmitter()
    values = np.random.default_rng(0).standard_normal(tx.max_analog_values()).astype(np.float32)
    return values, tx.analog_burst(values), tx.digital_burst(b"over the air", modulation="qpsk", frame_index=1,
                                                             frame_count=2)


def check(decoded, values):
    analog = [f for f in decoded if f.header.mode == "analog"]
    digital = [f for f in decoded if f.header.mode == "digital"]
    assert len(analog) == 1 and len(digital) == 1
    assert np.mean((analog[0].values - values) ** 2) < 0.02
    assert digital[0].crc_ok and digital[0].payload == b"over the air"


def test_tx_to_file_then_replay_at_the_capture_rate_decodes(tmp_path, frames):
    values, analog, digital = frames
    path = tmp_path / "tx.sigmf-meta"
    with open_radio(f"file:{path}") as radio:
        radio.transmit(analog, label="analog 0")
        radio.transmit(digital, label="digital 1")
    replay = open_radio(f"file:{path}")
    rx = Receiver()
    decoded = [f for chunk in replay.stream(3000) for f in rx.process(chunk)] + rx.flush()
    check(decoded, values)
    starts = [a["core:sample_start"] for a in replay.annotations()]
    assert [f.start_sample for f in decoded] == pytest.approx(starts, abs=2)


def test_capture_at_another_rate_is_resampled_and_decodes(tmp_path, frames):
    values, analog, digital = frames
    sent = np.concatenate([np.zeros(1000, np.complex64), analog, digital, np.zeros(1000, np.complex64)])
    path = tmp_path / "wide.sigmf-meta"
    with SigMFRecorder(path, 2.4e6, 2.45e9, datatype="ci16_le") as rec:
        rec.write(resample_poly(sent, 6, 5))  # as an SDR running at 2.4 MS/s would have captured it
    replay = open_radio(f"file:{path}", RadioConfig(sample_rate_hz=2e6))
    check(Receiver().receive(np.concatenate(list(replay.stream(4096)))), values)


def test_sim_receiver_recorded_then_replayed_decodes(tmp_path, frames):
    values, analog, digital = frames
    sim = open_radio("sim:snr=25,cfo=3000,channel=awgn,seed=4")
    sim.transmit(analog)
    sim.transmit(digital)
    path = tmp_path / "rx.sigmf-meta"
    with SigMFRecorder(path, 2e6, 2.45e9, hw="sim") as rec:  # what `rx --record` does
        for chunk in sim.stream(5000):
            rec.write(chunk)
    decoded = Receiver().receive(np.concatenate(list(open_radio(f"file:{path}").stream(5000))))
    check(decoded, values)
    assert all(abs(f.cfo_hz - 3000) < 100 for f in decoded)
