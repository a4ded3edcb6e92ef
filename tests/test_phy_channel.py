"""Channel model: SNR definition, impairments, TDL tables (vs Sionna) and GNU Radio's channel model."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from phy.channel import CHANNEL_KINDS, Channel, ChannelConfig
from phy.params import OfdmParams
from phy.tdl import TDL_PROFILES

FS = 2e6
ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
GNURADIO_REFERENCE = ROOT / "phy" / "gnuradio_reference.py"


def _burst(n: int = 20_000, gap: int = 2_000, seed: int = 0) -> np.ndarray:
    """Complex Gaussian samples of unit power followed by ``gap`` zeros."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    return np.concatenate([x, np.zeros(gap)]).astype(np.complex64)


def _tones(n: int, freqs: np.ndarray, amps: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
    """Sum of complex tones (freqs in cycles/sample) evaluated at sample ``times`` (default 0..n-1)."""
    t = np.arange(n) if times is None else times
    return (amps[None, :] * np.exp(2j * np.pi * t[:, None] * freqs[None, :])).sum(axis=1)


def test_awgn_variance_matches_snr_definition():
    x = _burst()
    p = float(np.mean(np.abs(x[:20_000]) ** 2))
    params = OfdmParams()
    expected = p * params.n_fft / ((params.n_data + params.n_pilot) * 10 ** (5 / 10))
    ch = Channel(ChannelConfig(snr_db=5, seed=1), FS)
    noise = ch.apply(x) - x
    assert ch.noise_variance(p) == pytest.approx(expected)
    assert np.var(noise) == pytest.approx(expected, rel=0.03)
    assert np.var(noise[20_000:]) == pytest.approx(expected, rel=0.1)  # idle gap is noisy too
    assert abs(np.mean(noise.real * noise.imag)) < 0.02 * expected  # circular
    # an explicit reference power overrides the measured one
    noise4 = Channel(ChannelConfig(snr_db=5, seed=1), FS).apply(x, signal_power=4 * p) - x
    assert np.var(noise4) == pytest.approx(4 * expected, rel=0.03)
    assert np.array_equal(Channel(ChannelConfig(), FS).apply(x), x)  # snr None: noiseless


def test_cfo_rotates_by_expected_phase_per_sample():
    cfo = 12_345.0
    y = Channel(ChannelConfig(cfo_hz=cfo), FS).apply(np.ones(1000, np.complex64))
    step = np.angle(y[1:] * np.conj(y[:-1]))
    assert np.allclose(step, 2 * np.pi * cfo / FS, atol=1e-5)
    assert y.dtype == np.complex64


@pytest.mark.parametrize("sro_ppm,timing", [(0.0, 0.37), (200.0, 0.0), (-50.0, 0.25)])
def test_sro_and_timing_offset_resample_band_limited_signal(sro_ppm, timing):
    rng = np.random.default_rng(3)
    n = 20_000
    freqs = rng.uniform(-0.4, 0.4, 12)
    amps = rng.standard_normal(12) + 1j * rng.standard_normal(12)
    x = _tones(n, freqs, amps)
    y = Channel(ChannelConfig(sro_ppm=sro_ppm, timing_offset=timing), FS).apply(x)
    ratio = 1 + sro_ppm * 1e-6
    assert y.size == round(n * ratio)
    expected = _tones(y.size, freqs, amps, np.arange(y.size) / ratio - timing)
    inner = slice(200, y.size - 200)  # away from the zero-padded ends
    err = np.mean(np.abs(y[inner] - expected[inner]) ** 2) / np.mean(np.abs(expected[inner]) ** 2)
    assert 10 * np.log10(err) < -60


@pytest.mark.parametrize("kind", ["rayleigh", "tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e"])
def test_fading_average_power_gain_is_one(kind):
    x = _burst(4000, 0)
    ch = Channel(ChannelConfig(channel=kind, seed=7), FS)
    gains = np.array([np.mean(np.abs(ch.apply(x)[100:-100]) ** 2) for _ in range(600)]) / np.mean(np.abs(x) ** 2)
    assert np.mean(gains) == pytest.approx(1.0, abs=0.1)
    assert np.std(gains) > 0.05  # it does fade


def test_rayleigh_is_flat_block_fading_with_exponential_power():
    x = _burst(500, 0)
    ch = Channel(ChannelConfig(channel="rayleigh", seed=11), FS)
    h = []
    for _ in range(4000):
        ratio = ch.apply(x) / x
        assert np.allclose(ratio, ratio[0], rtol=1e-4)  # one gain per call
        h.append(ratio[0])
    power = np.abs(np.array(h)) ** 2
    assert np.mean(power < 0.1) == pytest.approx(1 - np.exp(-0.1), abs=0.015)
    assert np.mean(power) == pytest.approx(1.0, abs=0.06)


def test_doppler_fading_has_jakes_autocorrelation_and_unit_power():
    from scipy.special import j0

    f_d, n = 200.0, 100_000  # 50 ms at 2 MS/s: 10 Doppler periods
    ch = Channel(ChannelConfig(channel="rayleigh", doppler_hz=f_d, seed=5), FS)
    draws = np.array([ch.apply(np.ones(n, np.complex64)) for _ in range(30)])
    assert np.mean(np.abs(draws) ** 2) == pytest.approx(1.0, abs=0.15)
    assert np.max(np.abs(np.diff(draws, axis=1))) < 0.01  # smooth at the sample scale
    for lag in (100, 1000, 3827, 6000):  # 3827 samples: first zero of J0
        r = np.mean(draws[:, lag:] * np.conj(draws[:, :-lag])).real / np.mean(np.abs(draws) ** 2)
        assert r == pytest.approx(j0(2 * np.pi * f_d * lag / FS), abs=0.12)


@pytest.mark.parametrize("name", sorted(TDL_PROFILES))
def test_tdl_tables_normalised_and_match_sionna(name):
    profile = TDL_PROFILES[name]
    powers = profile.normalised_powers()
    assert powers.sum() == pytest.approx(1.0)
    delays = np.asarray(profile.delays)
    mean = np.sum(powers * delays)
    assert np.sqrt(np.sum(powers * delays**2) - mean**2) == pytest.approx(1.0, abs=0.01)  # unit RMS spread

    tr38901 = pytest.importorskip("sionna.phy.channel.tr38901")
    ref = tr38901.TDL(name[-1].upper(), delay_spread=300e-9, carrier_frequency=2.4e9)
    if profile.los:  # Sionna merges the LOS row into the first tap
        assert ref.los and float(ref.k_factor) == pytest.approx(10 ** (profile.k_factor_db / 10), rel=1e-4)
        delays, powers = delays[1:], np.concatenate([[powers[0] + powers[1]], powers[2:]])
    assert np.allclose(ref.delays.numpy(), delays * 300e-9, rtol=1e-5)
    assert np.allclose(ref.mean_powers.numpy(), powers, rtol=1e-4, atol=1e-7)


def test_tdl_impulse_response_mean_delay_matches_profile():
    ds = 1e-6  # 2 samples per unit of normalised delay, so the taps spread over many samples
    impulse = np.zeros(200, np.complex64)
    impulse[50] = 1
    ch = Channel(ChannelConfig(channel="tdl-c", delay_spread_s=ds, seed=2), FS)
    pdp = np.mean([np.abs(ch.apply(impulse)) ** 2 for _ in range(3000)], axis=0)
    profile = TDL_PROFILES["tdl-c"]
    expected = np.sum(profile.normalised_powers() * np.asarray(profile.delays)) * ds * FS
    assert np.sum(pdp) == pytest.approx(1.0, abs=0.05)
    assert np.sum(pdp * (np.arange(200) - 50)) / np.sum(pdp) == pytest.approx(expected, abs=0.1)


def test_tdl_d_is_rician_with_the_profile_k_factor():
    impulse = np.zeros(64, np.complex64)
    impulse[20] = 1
    ch = Channel(ChannelConfig(channel="tdl-d", delay_spread_s=1e-9, seed=4), FS)  # all taps within 0.02 sample
    power = np.array([np.abs(ch.apply(impulse)[20]) ** 2 for _ in range(4000)])
    # Rician moments: E|h|^2 = A^2 + s^2, E|h|^4 = A^4 + 4 A^2 s^2 + 2 s^4, so A^2 = sqrt(2 m2^2 - m4)
    m2, m4 = np.mean(power), np.mean(power**2)
    los = np.sqrt(2 * m2**2 - m4)
    p = TDL_PROFILES["tdl-d"].normalised_powers()  # narrowband: every diffuse tap folds into one
    assert 10 * np.log10(los / (m2 - los)) == pytest.approx(10 * np.log10(p[0] / (1 - p[0])), abs=1.0)
    assert m2 == pytest.approx(1.0, abs=0.05)


def test_phase_noise_is_a_wiener_process_with_the_linewidth():
    linewidth = 500.0
    y = Channel(ChannelConfig(phase_noise_hz=linewidth, seed=9), FS).apply(np.ones(400_000, np.complex64))
    lag = 1000
    dphi = np.angle(y[lag:] * np.conj(y[:-lag]))[::lag]
    assert np.var(dphi) == pytest.approx(2 * np.pi * linewidth * lag / FS, rel=0.15)
    assert np.allclose(np.abs(y), 1, atol=1e-5)


def test_iq_imbalance_image_matches_formula():
    amp_db, phase_deg = 1.0, 5.0
    n = 4096
    x = np.exp(2j * np.pi * 300 / n * np.arange(n))
    y = Channel(ChannelConfig(iq_amp_db=amp_db, iq_phase_deg=phase_deg), FS).apply(x)
    spec = np.fft.fft(y) / n
    g, phi = 10 ** (amp_db / 20), np.deg2rad(phase_deg)
    mu, nu = (1 + g * np.exp(-1j * phi)) / 2, (1 - g * np.exp(1j * phi)) / 2
    assert spec[300] == pytest.approx(mu, abs=1e-5)
    assert spec[n - 300] == pytest.approx(nu, abs=1e-5)


def test_dc_offset_clipping_and_quantisation():
    x = _burst(50_000, 0, seed=5)
    p = float(np.mean(np.abs(x) ** 2))
    y = Channel(ChannelConfig(dc_offset=0.1 - 0.05j), FS).apply(x)
    assert np.mean(y - x) == pytest.approx((0.1 - 0.05j) * np.sqrt(p), abs=1e-6)

    level = np.sqrt(p) * 10 ** (3 / 20)
    y = Channel(ChannelConfig(clip_db=3), FS).apply(x)
    assert np.max(np.abs(y.real)) == pytest.approx(level, rel=1e-6)
    inside = (np.abs(x.real) < level) & (np.abs(x.imag) < level)
    assert np.array_equal(y[inside], x[inside]) and not inside.all()

    y = Channel(ChannelConfig(clip_db=12, adc_bits=12), FS).apply(x)
    step = np.sqrt(p) * 10 ** (12 / 20) / 2048
    codes = np.concatenate([y.real, y.imag]) / step
    assert np.allclose(codes, np.round(codes), atol=1e-3)
    assert codes.min() >= -2048 and codes.max() <= 2047
    assert np.var((y - x).real) == pytest.approx(step**2 / 12, rel=0.1)

    y16 = Channel(ChannelConfig(adc_bits=16), FS).apply(x)  # full scale follows the peak: no clipping
    full = max(np.abs(x.real).max(), np.abs(x.imag).max())
    assert len(np.unique(np.round(y16.real / (full / 32768)))) > 1000
    assert np.max(np.abs(y16 - x)) < full / 32768


def test_seeded_channel_is_deterministic():
    x = _burst(3000, 300)
    cfg = ChannelConfig.from_uri_params({"snr": "3", "cfo": "1e3", "sro": "20", "channel": "tdl-c",
                                         "phase_noise": "100", "doppler": "50", "seed": "3"})
    a, b = Channel(cfg, FS), Channel(cfg, FS)
    first = a.apply(x)
    assert np.array_equal(first, b.apply(x))
    assert np.array_equal(a.apply(x), b.apply(x))  # the sequence of calls is reproducible
    assert not np.array_equal(first, a.apply(x))  # each call is a new draw
    other = Channel(ChannelConfig.from_uri_params({"snr": "3", "channel": "tdl-c", "seed": "4"}), FS)
    assert not np.allclose(other.apply(x), Channel(ChannelConfig(snr_db=3, channel="tdl-c", seed=3), FS).apply(x))


def test_uri_params_parse_every_key():
    cfg = ChannelConfig.from_uri_params({
        "snr": "5", "cfo": "2e3", "sro": "-20", "timing": "0.5", "channel": "TDL-E", "delay_spread": "1e-7",
        "doppler": "10", "phase_noise": "50", "iq_amp": "0.5", "iq_phase": "-2", "dc": "0.01+0.02j",
        "clip": "9", "adc_bits": "12", "seed": "3"})
    assert cfg == ChannelConfig(snr_db=5, cfo_hz=2e3, sro_ppm=-20, timing_offset=0.5, channel="tdl-e",
                                delay_spread_s=1e-7, doppler_hz=10, phase_noise_hz=50, iq_amp_db=0.5,
                                iq_phase_deg=-2, dc_offset=0.01 + 0.02j, clip_db=9, adc_bits=12, seed=3)
    assert ChannelConfig.from_uri_params({"snr_db": "none"}).snr_db is None
    assert set(CHANNEL_KINDS) == {"awgn", "rayleigh", "tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e"}


@pytest.mark.parametrize("params,match", [
    ({"snrr": "5"}, "unknown channel parameter 'snrr'"),
    ({"snr": "five"}, "bad value 'five' for channel parameter 'snr'"),
    ({"channel": "tdl-f"}, "unknown channel 'tdl-f'"),
    ({"timing": "1.5"}, "timing_offset"),
    ({"sro": "nan"}, "sro_ppm must be a finite number"),
    ({"adc_bits": "1"}, "adc_bits"),
    ({"adc_bits": "12.5"}, "expected an integer"),
    ({"seed": "-1"}, "seed"),
    ({"delay_spread": "300"}, "delay_spread_s is in seconds"),
    ({"iq_phase": "90"}, "iq_phase_deg"),
])
def test_bad_parameters_raise_one_line_errors(params, match):
    with pytest.raises(ValueError, match=match) as err:
        ChannelConfig.from_uri_params(params)
    assert "\n" not in str(err.value)


def test_bad_inputs_raise_one_line_errors():
    ch = Channel(ChannelConfig(snr_db=10), FS)
    cases = [(np.full(10, np.nan, np.complex64), "NaN"), (np.ones((2, 5), np.complex64), "1-D"),
             (np.array(["a", "b"]), "numbers"), (np.zeros(10, np.complex64), "signal_power")]
    for x, match in cases:
        with pytest.raises(ValueError, match=match) as err:
            ch.apply(x)
        assert "\n" not in str(err.value)
    assert ch.apply(np.zeros(0, np.complex64)).shape == (0,)
    with pytest.raises(ValueError, match="half the sample rate"):
        Channel(ChannelConfig(cfo_hz=1.5e6), FS)
    with pytest.raises(ValueError, match="signal_power"):
        ch.apply(np.ones(4), signal_power=-1)


def _gnuradio_available() -> bool:
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "from gnuradio import channels"],
                              capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _gnuradio_available(), reason=f"{SYSTEM_PYTHON} cannot import gnuradio (apt-get install gnuradio)")
def test_awgn_and_cfo_agree_with_gnuradio_channel_model():
    """GNU Radio's channels.channel_model (independent implementation) vs ours, same settings, same measurement."""
    noise_voltage, cfo_hz, n = 0.3, 25_000.0, 400_000
    out = subprocess.run([SYSTEM_PYTHON, str(GNURADIO_REFERENCE), "--channel-check", "--noise-voltage", str(noise_voltage),
                          "--cfo-hz", str(cfo_hz), "--samples", str(n), "--sample-rate", str(FS)],
                         capture_output=True, text=True, timeout=120, check=True)
    gr = json.loads(out.stdout)
    # Our SNR definition: sigma^2 = P / (occupied * 10^(snr/10)); choose snr so that sigma = noise_voltage at P = 1.
    snr_db = 10 * np.log10(1.0 / (OfdmParams().occupied_fraction * noise_voltage**2))
    tone = np.exp(2j * np.pi * 0.01 * np.arange(n))
    y = Channel(ChannelConfig(snr_db=snr_db, cfo_hz=cfo_hz, seed=0), FS).apply(tone, signal_power=1.0)
    from phy.gnuradio_reference import measure_tone  # imports gnuradio only inside its functions
    ours = measure_tone(y.astype(np.complex128), 0.01, FS)
    for result in (gr, ours):
        assert result["noise_variance"] == pytest.approx(noise_voltage**2, rel=0.02)
        assert result["cfo_hz"] == pytest.approx(cfo_hz, abs=1.0)
        assert result["signal_power"] == pytest.approx(1.0, rel=0.01)
    assert ours["noise_variance"] == pytest.approx(gr["noise_variance"], rel=0.03)


@pytest.mark.skipif(not _gnuradio_available(), reason=f"{SYSTEM_PYTHON} cannot import gnuradio (apt-get install gnuradio)")
def test_bench_runs_the_gnuradio_reference_receiver():
    """``phy.bench`` finds phy/gnuradio_reference.py and gets a speed from it (GNU Radio decodes its frames)."""
    from phy.bench import gnuradio
    msps, details = gnuradio(100_000, OfdmParams())
    assert msps is not None and msps > 0, details
    assert details["frames_decoded"] > 0
