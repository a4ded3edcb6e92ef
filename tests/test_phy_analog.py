"""Analog payload scrambler: correlated latents keep the burst's mean power, and the receiver returns
values and noise variances in the sender's order."""
import numpy as np
import pytest

from phy import Receiver, Transmitter
from phy.analog import ANALOG_SCALE, scrambler, symbols_to_values, values_to_symbols
from phy.channel import Channel, ChannelConfig

TX = Transmitter()
N = TX.max_analog_values()


def _burst_power_db(burst):
    return 10 * np.log10(np.mean(np.abs(burst[: burst.size - TX.params.idle_gap]) ** 2))


def _correlated_payloads(n):
    ramp = np.linspace(-1.0, 1.0, n) + 0.8                       # smooth, with a mean
    smooth = np.repeat(np.random.default_rng(0).normal(size=n // 64 + 1), 64)[:n] + 1.5
    return {"ones": np.ones(n), "ramp": ramp / np.sqrt(np.mean(ramp ** 2)),
            "blocks": smooth / np.sqrt(np.mean(smooth ** 2))}


@pytest.mark.parametrize("n", [N, 1000])
def test_correlated_analog_payload_keeps_digital_burst_power(n):
    rng = np.random.default_rng(1)
    digital = [_burst_power_db(TX.digital_burst(rng.integers(0, 256, TX.max_digital_bytes("qpsk", 0.5))
                                                .astype(np.uint8).tobytes())) for _ in range(3)]
    ref = np.mean(digital)
    for name, v in _correlated_payloads(n).items():
        assert _burst_power_db(TX.analog_burst(v)) == pytest.approx(ref, abs=1.0), name


@pytest.mark.parametrize("name", ["ones", "ramp", "blocks"])
def test_correlated_payload_round_trip_exact_in_sender_order(name):
    v = _correlated_payloads(N - 5)[name]
    x = np.concatenate([np.zeros(200, np.complex64), TX.analog_burst(v)])
    frames = Receiver().receive(x)
    assert len(frames) == 1
    np.testing.assert_allclose(frames[0].values, v, atol=2e-5)
    assert np.all(frames[0].noise_var < 1e-9)


def test_frames_descrambled_together_are_those_descrambled_one_at_a_time():
    """The receiver descrambles the analog frames of equal length in one call: each frame's values
    and variances must be bit for bit those of the frame alone."""
    rng = np.random.default_rng(4)
    sym = rng.normal(size=(3, 9, 48)) + 1j * rng.normal(size=(3, 9, 48))
    var = rng.uniform(0.1, 2.0, size=(3, 9, 48))
    values, noise_var = symbols_to_values(sym, var, 777)
    assert values.shape == noise_var.shape == (3, 777)
    for b in range(3):
        alone = symbols_to_values(sym[b], var[b], 777)
        np.testing.assert_array_equal(values[b], alone[0])
        np.testing.assert_array_equal(noise_var[b], alone[1])
    assert not np.array_equal(values[0], values[1])


def test_noise_variance_follows_each_value_back():
    """Each value's reported variance is the variance of the symbol that carried it."""
    n, n_sym, n_data = 777, 9, 48
    v = np.arange(1.0, n + 1)                                    # distinct magnitudes: traceable
    sym = values_to_symbols(v, n_sym, n_data)
    var = np.arange(sym.size, dtype=np.float64).reshape(sym.shape) + 0.5
    values, noise_var = symbols_to_values(sym, var, n)
    np.testing.assert_allclose(values, v, rtol=1e-6)
    axes = np.stack([sym.real, sym.imag], axis=-1).reshape(-1) / ANALOG_SCALE
    carrier = np.argmin(np.abs(np.abs(axes)[None, :] - v[:, None]), axis=1) // 2   # symbol of each value
    np.testing.assert_array_equal(noise_var, var.reshape(-1)[carrier].astype(np.float32))


def test_scrambler_is_a_signed_permutation_fixed_by_length():
    perm, signs = scrambler(4608)
    assert np.array_equal(np.sort(perm), np.arange(4608)) and set(np.unique(signs)) == {-1.0, 1.0}
    again, _ = scrambler(4608)
    assert again is perm
    assert not np.array_equal(scrambler(4607)[0], perm[:4607])


def test_frequency_selective_noise_variance_tracks_errors():
    """TDL channel: values the receiver calls noisier are noisier (variance returned in sender order)."""
    v = np.ones(N)
    err, var = [], []
    for seed in range(4):
        x = np.concatenate([np.zeros(300, np.complex64), TX.analog_burst(v)])
        power = float(np.mean(np.abs(x[x != 0]) ** 2))
        y = Channel(ChannelConfig(snr_db=10.0, channel="tdl-c", seed=seed), 2e6).apply(x, signal_power=power)
        f = Receiver().receive(y)
        assert len(f) == 1
        err.append((f[0].values - v) ** 2)
        var.append(f[0].noise_var)
    err, var = np.concatenate(err), np.concatenate(var)
    hi = var > np.quantile(var, 0.8)
    lo = var < np.quantile(var, 0.2)
    assert np.mean(err[hi]) / np.mean(var[hi]) == pytest.approx(1.0, abs=0.2)
    assert np.mean(err[lo]) / np.mean(var[lo]) == pytest.approx(1.0, abs=0.2)
    assert np.mean(var[hi]) > 2 * np.mean(var[lo])
