"""Seeded baseband channel model for the simulated radio and the benchmarks (NumPy/SciPy only).

SNR definition (shared with the receiver's estimate): the SNR is the **in-band** SNR, i.e. the
per-subcarrier Es/N0 on the used subcarriers. With P the mean power of the burst's samples (idle gaps
excluded; the average channel power gain is normalised to 1) and N = n_data + n_pilot used subcarriers
of an n_fft-point OFDM symbol, the complex AWGN variance per sample is

    sigma^2 = P * n_fft / (N * 10^(snr_db / 10)) = P / (occupied_fraction * 10^(snr_db / 10)).

Processing order of :meth:`Channel.apply` (transmitter -> receiver):

1. multipath: flat Rayleigh or a 3GPP TR 38.901 TDL profile (block-static over one call, or
   time-varying with ``doppler_hz``), average power gain 1;
2. sampling: fractional timing offset and sampling-rate offset (windowed-sinc interpolation);
3. carrier: CFO, then Wiener phase noise;
4. AWGN at ``snr_db`` (added everywhere, idle gaps included);
5. receiver front end: IQ imbalance, DC offset, a CW spur, clipping, ADC quantisation.

All level parameters (DC offset, spur, clipping) are relative to the reference RMS amplitude sqrt(P), so
one configuration behaves the same whatever the transmitter's scaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import i0

from .params import OfdmParams
from .tdl import TDL_PROFILES

CHANNEL_KINDS = ("awgn", "rayleigh", *TDL_PROFILES)

_KAISER_BETA = 8.0
_HALF_LEN = 16  # taps on each side of the windowed-sinc kernels (-87 dB error over 0.41 fs at beta 8)
_RESAMPLE_CHUNK = 1 << 15  # output samples interpolated per block (bounds memory)
_SOS_SINUSOIDS = 16  # sinusoids per faded tap in the sum-of-sinusoids Doppler model
_SOS_POINTS_PER_CYCLE = 64  # fading evaluated this often per Doppler period, linearly interpolated between
_LOS_COS_AOA = 0.7  # cos(angle of arrival) of the LOS path, as in Sionna's TDL model


@dataclass(frozen=True)
class ChannelConfig:
    """Impairments applied by :class:`Channel`; the defaults give an ideal channel.

    Attributes:
        snr_db: in-band SNR in dB, per-subcarrier Es/N0 on the used subcarriers (module docstring);
            None adds no noise.
        cfo_hz: carrier frequency offset in Hz (|cfo_hz| < sample_rate / 2).
        sro_ppm: sampling-rate offset in ppm; > 0 means the receiver's ADC clock is fast, so the
            output has (1 + sro_ppm * 1e-6) times as many samples as the input.
        timing_offset: fractional delay in samples, 0 <= timing_offset < 1.
        channel: 'awgn' (no fading), 'rayleigh' (flat) or 'tdl-a'..'tdl-e' (3GPP TR 38.901).
        delay_spread_s: RMS delay spread in seconds that scales the TDL's normalised delays
            (default 300 ns, TR 38.901's "nominal" value; at 2 MS/s TDL-A then spans 5.8 samples).
        doppler_hz: maximum Doppler shift in Hz of the fading (0: block-static, one draw per call).
        phase_noise_hz: 3-dB linewidth in Hz of the Wiener (random-walk) phase noise; 0 disables it.
        iq_amp_db: receiver IQ gain imbalance in dB (Q branch gain over I branch gain).
        iq_phase_deg: receiver IQ phase imbalance in degrees (|value| < 45).
        dc_offset: complex DC offset added at the receiver, relative to sqrt(P).
        spur_level: complex amplitude of a CW spur (a tone) added at the receiver, relative to
            sqrt(P); 0 adds none.
        spur_hz: the spur's frequency in Hz (|spur_hz| < sample_rate / 2); its phase is
            that of spur_level at the call's first sample.
        clip_db: ADC full scale per I/Q rail in dB above sqrt(P); samples beyond it are clipped.
            None: no clipping.
        adc_bits: ADC resolution in bits (e.g. 12, or 16 for int16 samples); None: no quantisation.
            Full scale is the clip level when ``clip_db`` is set, else the largest |I| or |Q|.
        seed: seed of the numpy Generator behind noise, fading and phase noise (None: fresh entropy).
    """

    snr_db: float | None = None
    cfo_hz: float = 0.0
    sro_ppm: float = 0.0
    timing_offset: float = 0.0
    channel: str = "awgn"
    delay_spread_s: float = 300e-9
    doppler_hz: float = 0.0
    phase_noise_hz: float = 0.0
    iq_amp_db: float = 0.0
    iq_phase_deg: float = 0.0
    dc_offset: complex = 0j
    spur_level: complex = 0j
    spur_hz: float = 0.0
    clip_db: float | None = None
    adc_bits: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        def finite(name: str, value: object) -> None:
            if not isinstance(value, (int, float, complex, np.number)) or isinstance(value, bool) \
                    or not np.isfinite(value):
                raise ValueError(f"channel {name} must be a finite number, got {value!r}")

        for name in ("cfo_hz", "sro_ppm", "timing_offset", "delay_spread_s", "doppler_hz",
                     "phase_noise_hz", "iq_amp_db", "iq_phase_deg", "dc_offset", "spur_level", "spur_hz"):
            finite(name, getattr(self, name))
        for name in ("snr_db", "clip_db"):
            if getattr(self, name) is not None:
                finite(name, getattr(self, name))
        if self.channel not in CHANNEL_KINDS:
            raise ValueError(f"unknown channel {self.channel!r}: use one of {', '.join(CHANNEL_KINDS)}")
        if not abs(self.sro_ppm) < 1e4:
            raise ValueError(f"channel sro_ppm must be within ±10000 ppm, got {self.sro_ppm}")
        if not 0.0 <= self.timing_offset < 1.0:
            raise ValueError(f"channel timing_offset is a fraction of a sample in [0, 1), got {self.timing_offset}")
        for name in ("delay_spread_s", "doppler_hz", "phase_noise_hz"):
            if getattr(self, name) < 0:
                raise ValueError(f"channel {name} must be >= 0, got {getattr(self, name)}")
        if self.delay_spread_s > 1e-3:
            raise ValueError(f"channel delay_spread_s is in seconds and must be <= 1e-3, got {self.delay_spread_s}")
        if not abs(self.iq_phase_deg) < 45:
            raise ValueError(f"channel iq_phase_deg must be within ±45 degrees, got {self.iq_phase_deg}")
        if self.adc_bits is not None and (not isinstance(self.adc_bits, (int, np.integer))
                                          or isinstance(self.adc_bits, bool) or not 2 <= self.adc_bits <= 24):
            raise ValueError(f"channel adc_bits must be an integer in [2, 24] or None, got {self.adc_bits!r}")
        if self.seed is not None and (not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool)
                                      or self.seed < 0):
            raise ValueError(f"channel seed must be a non-negative integer or None, got {self.seed!r}")

    @classmethod
    def from_uri_params(cls, params: dict[str, str]) -> ChannelConfig:
        """Build a config from URI parameters, e.g. ``{'snr': '5', 'cfo': '2e3', 'channel': 'tdl-c'}``.

        Keys (short form or field name): snr, cfo, sro, timing, channel, delay_spread, doppler,
        phase_noise, iq_amp, iq_phase, dc, spur, spur_hz, clip, adc_bits, seed; units as in the class docstring.
        ``snr``, ``clip``, ``adc_bits`` and ``seed`` accept ``none``.

        Raises:
            ValueError: one line naming an unknown key or a bad value.
        """
        names = {f.name for f in fields(cls)}
        kwargs: dict[str, object] = {}
        for key, text in params.items():
            name = _URI_KEYS.get(key.strip().lower(), key.strip().lower())
            if name not in names:
                raise ValueError(f"unknown channel parameter {key!r}: use one of {', '.join(_URI_KEYS)}")
            kwargs[name] = _parse_value(name, key, str(text).strip())
        return cls(**kwargs)


_URI_KEYS = {
    "snr": "snr_db", "cfo": "cfo_hz", "sro": "sro_ppm", "timing": "timing_offset", "channel": "channel",
    "delay_spread": "delay_spread_s", "doppler": "doppler_hz", "phase_noise": "phase_noise_hz",
    "iq_amp": "iq_amp_db", "iq_phase": "iq_phase_deg", "dc": "dc_offset", "spur": "spur_level",
    "spur_hz": "spur_hz", "clip": "clip_db",
    "adc_bits": "adc_bits", "seed": "seed",
}


def _parse_value(name: str, key: str, text: str) -> object:
    """Parse one URI value for field ``name`` (``key`` as the user wrote it, for the message)."""
    if name == "channel":
        return text.lower()
    if name in ("snr_db", "clip_db", "adc_bits", "seed") and text.lower() == "none":
        return None
    try:
        if name in ("adc_bits", "seed"):
            return int(text)
        if name in ("dc_offset", "spur_level"):
            return complex(text.replace(" ", ""))
        return float(text)
    except ValueError:
        kind = "an integer" if name in ("adc_bits", "seed") else "a number"
        raise ValueError(f"bad value {text!r} for channel parameter {key!r}: expected {kind}") from None


def _windowed_sinc(offsets: np.ndarray, half_len: int) -> np.ndarray:
    """Kaiser-windowed sinc evaluated at ``offsets`` (samples, any shape); 0 where |offset| >= half_len."""
    u = np.clip(1.0 - (offsets / half_len) ** 2, 0.0, None)
    return np.sinc(offsets) * i0(_KAISER_BETA * np.sqrt(u)) / i0(_KAISER_BETA) * (np.abs(offsets) < half_len)


_PHASES = 512  # fractional phases tabulated for the interpolator (linear between neighbours)
_INTERP_TABLE = _windowed_sinc(np.arange(_PHASES + 1)[:, None] / _PHASES
                               - np.arange(-_HALF_LEN + 1, _HALF_LEN + 1)[None, :], _HALF_LEN)


def _interpolate(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Band-limited interpolation of ``x`` (n,) complex at fractional sample ``times`` (m,); x is 0 outside."""
    taps = np.arange(-_HALF_LEN + 1, _HALF_LEN + 1)
    padded = np.concatenate([np.zeros(2 * _HALF_LEN), x, np.zeros(2 * _HALF_LEN + 1)])
    out = np.empty(times.size, dtype=np.complex128)
    for start in range(0, times.size, _RESAMPLE_CHUNK):
        t = times[start:start + _RESAMPLE_CHUNK]
        base = np.floor(t)
        pos = (t - base) * _PHASES
        phase = np.minimum(pos.astype(np.int64), _PHASES - 1)
        a = (pos - phase)[:, None]
        weights = (1 - a) * _INTERP_TABLE[phase] + a * _INTERP_TABLE[phase + 1]
        idx = np.clip(base.astype(np.int64), -_HALF_LEN - 1, x.size + _HALF_LEN) + 2 * _HALF_LEN
        out[start:start + t.size] = np.sum(padded[idx[:, None] + taps[None, :]] * weights, axis=1)
    return out


class Channel:
    """Applies a :class:`ChannelConfig` to bursts; one numpy Generator (seeded) serves all calls.

    Noise follows the in-band SNR definition of this module: complex AWGN variance per sample
    sigma^2 = P * n_fft / ((n_data + n_pilot) * 10^(snr_db / 10)), P = signal_power (default: mean
    power of the non-zero input samples), see :meth:`noise_variance`.

    Each :meth:`apply` call is one independent fading block (new fading and noise draws); a
    seeded channel gives the same outputs for the same sequence of calls.
    """

    def __init__(self, config: ChannelConfig, sample_rate_hz: float, *,
                 occupied_fraction: float = OfdmParams().occupied_fraction) -> None:
        """
        Args:
            config: the impairments.
            sample_rate_hz: complex sample rate in Hz of the samples passed to :meth:`apply`.
            occupied_fraction: (n_data + n_pilot) / n_fft of the OFDM signal, the in-band factor of
                the SNR definition (default 52/64 of :class:`OfdmParams`).
        """
        if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"sample_rate_hz must be a positive number in Hz, got {sample_rate_hz}")
        if not 0 < occupied_fraction <= 1:
            raise ValueError(f"occupied_fraction must be in (0, 1], got {occupied_fraction}")
        if not abs(config.spur_hz) < sample_rate_hz / 2:
            raise ValueError(f"spur {config.spur_hz} Hz exceeds half the sample rate ({sample_rate_hz / 2:g} Hz)")
        if not abs(config.cfo_hz) < sample_rate_hz / 2:
            raise ValueError(f"cfo {config.cfo_hz} Hz exceeds half the sample rate ({sample_rate_hz / 2:g} Hz)")
        if not config.doppler_hz <= sample_rate_hz / 100:
            raise ValueError(f"doppler {config.doppler_hz} Hz exceeds 1% of the sample rate ({sample_rate_hz / 100:g} Hz)")
        self.config = config
        self.sample_rate_hz = float(sample_rate_hz)
        self.occupied_fraction = float(occupied_fraction)
        self.rng = np.random.default_rng(config.seed)
        self._delays, self._powers, self._los_power = self._profile()

    def _profile(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Faded-tap delays (samples), their mean powers, and the LOS power of tap 0; powers sum to 1."""
        kind = self.config.channel
        if kind == "awgn":
            return np.zeros(0), np.zeros(0), 1.0
        if kind == "rayleigh":
            return np.zeros(1), np.ones(1), 0.0
        profile = TDL_PROFILES[kind]
        powers = profile.normalised_powers()
        delays = np.asarray(profile.delays) * self.config.delay_spread_s * self.sample_rate_hz
        if profile.los:  # row 0 is the specular part of the first tap (same delay as row 1)
            return delays[1:], powers[1:], float(powers[0])
        return delays, powers, 0.0

    def noise_variance(self, signal_power: float) -> float:
        """Complex AWGN variance per sample for reference power ``signal_power``; 0 when snr_db is None."""
        if self.config.snr_db is None:
            return 0.0
        return signal_power / (self.occupied_fraction * 10.0 ** (self.config.snr_db / 10.0))

    def apply(self, x: np.ndarray, signal_power: float | None = None) -> np.ndarray:
        """Pass one burst through the channel.

        Args:
            x: baseband samples, shape (n,), complex (or real) and finite.
            signal_power: SNR / level reference P (linear, |x|^2 units); default: mean power of the
                non-zero samples of ``x``.

        Returns:
            complex64 array of shape (m,), m = round(n * (1 + sro_ppm * 1e-6)) (m = n without SRO).
        """
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"channel input must be a 1-D sample array, got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.complexfloating) or np.issubdtype(x.dtype, np.floating)
                or np.issubdtype(x.dtype, np.integer)):
            raise ValueError(f"channel input must hold numbers, got dtype {x.dtype}")
        x = x.astype(np.complex128)
        if not np.all(np.isfinite(x)):
            raise ValueError("channel input contains NaN or inf samples")
        if x.size == 0:
            return np.zeros(0, dtype=np.complex64)
        cfg = self.config
        power = self._reference_power(x, signal_power)
        y = self._multipath(x)
        y = self._resample(y)
        n = np.arange(y.size)
        if cfg.cfo_hz:
            y = y * np.exp(2j * np.pi * cfg.cfo_hz / self.sample_rate_hz * n)
        if cfg.phase_noise_hz:
            step_std = math.sqrt(2 * math.pi * cfg.phase_noise_hz / self.sample_rate_hz)
            y = y * np.exp(1j * np.cumsum(self.rng.normal(0.0, step_std, y.size)))
        sigma2 = self.noise_variance(power) if power is not None else 0.0
        if sigma2:
            y = y + math.sqrt(sigma2 / 2) * (self.rng.standard_normal(y.size) + 1j * self.rng.standard_normal(y.size))
        return self._front_end(y, power).astype(np.complex64)

    def _reference_power(self, x: np.ndarray, signal_power: float | None) -> float | None:
        """P of the SNR definition; None when no impairment needs it and x is all zeros."""
        if signal_power is not None:
            if not (np.isfinite(signal_power) and signal_power > 0):
                raise ValueError(f"signal_power must be a positive number, got {signal_power}")
            return float(signal_power)
        nonzero = x[x != 0]
        if nonzero.size:
            return float(np.mean(np.abs(nonzero) ** 2))
        cfg = self.config
        if cfg.snr_db is not None or cfg.dc_offset or cfg.spur_level or cfg.clip_db is not None:
            raise ValueError("channel input is all zeros: pass signal_power to set the noise and levels")
        return None

    def _multipath(self, x: np.ndarray) -> np.ndarray:
        """Fading/TDL filtering, output length n; taps are windowed-sinc fractional delays of unit energy."""
        cfg = self.config
        if cfg.channel == "awgn":
            return x
        lo = _HALF_LEN - 1  # precursor taps of the band-limited kernels
        lags = np.arange(-lo, int(np.ceil(self._delays.max())) + _HALF_LEN)
        kernels = _windowed_sinc(lags[None, :] - self._delays[:, None], _HALF_LEN)
        kernels /= np.linalg.norm(kernels, axis=1, keepdims=True)
        gains = self._tap_gains(x.size)  # (n_taps,) block-static or (n_taps, n) with Doppler
        if gains.ndim == 1:
            return np.convolve(x, gains @ kernels)[lo:lo + x.size]
        return sum(g * np.convolve(x, k)[lo:lo + x.size] for g, k in zip(gains, kernels))

    def _tap_gains(self, n: int) -> np.ndarray:
        """Complex gains of the faded taps (tap 0 includes the LOS part): (n_taps,) or (n_taps, n) with Doppler."""
        cfg, rng = self.config, self.rng
        n_taps = self._powers.size
        los_phase = rng.uniform(-np.pi, np.pi)
        if not cfg.doppler_hz:
            gains = np.sqrt(self._powers / 2) * (rng.standard_normal(n_taps) + 1j * rng.standard_normal(n_taps))
            gains[0] += math.sqrt(self._los_power) * np.exp(1j * los_phase)
            return gains
        # Sum of sinusoids (Zheng & Xiao 2003): unit-power Rayleigh processes with Jakes' spectrum,
        # evaluated on a grid of _SOS_POINTS_PER_CYCLE points per Doppler period and interpolated.
        step = max(1, int(self.sample_rate_hz / (cfg.doppler_hz * _SOS_POINTS_PER_CYCLE)))
        grid = np.arange(0, n + step, step)
        w = 2 * np.pi * cfg.doppler_hz / self.sample_rate_hz * grid
        m = np.arange(1, _SOS_SINUSOIDS + 1)
        alpha = (2 * np.pi * m - np.pi + rng.uniform(-np.pi, np.pi, (n_taps, 1))) / (4 * _SOS_SINUSOIDS)
        phi, psi = rng.uniform(-np.pi, np.pi, (2, n_taps, _SOS_SINUSOIDS, 1))
        coarse = np.zeros((n_taps, grid.size), dtype=np.complex128)
        for k in range(_SOS_SINUSOIDS):
            coarse += np.cos(w * np.cos(alpha[:, k:k + 1]) + phi[:, k]) \
                + 1j * np.cos(w * np.sin(alpha[:, k:k + 1]) + psi[:, k])
        coarse *= np.sqrt(self._powers / _SOS_SINUSOIDS)[:, None]
        coarse[0] += math.sqrt(self._los_power) * np.exp(1j * (w * _LOS_COS_AOA + los_phase))
        t = np.arange(n)
        return np.array([np.interp(t, grid, g.real) + 1j * np.interp(t, grid, g.imag) for g in coarse])

    def _resample(self, y: np.ndarray) -> np.ndarray:
        """Timing offset and SRO: output sample k is taken at input time k / (1 + sro) - timing_offset."""
        cfg = self.config
        if not cfg.sro_ppm and not cfg.timing_offset:
            return y
        ratio = 1.0 + cfg.sro_ppm * 1e-6
        m = int(round(y.size * ratio))
        return _interpolate(y, np.arange(m) / ratio - cfg.timing_offset)

    def _front_end(self, y: np.ndarray, power: float | None) -> np.ndarray:
        """IQ imbalance, DC offset, CW spur, clipping and quantisation of the receiver's front end and ADC."""
        cfg = self.config
        if cfg.iq_amp_db or cfg.iq_phase_deg:
            g = 10.0 ** (cfg.iq_amp_db / 20.0)
            y = y.real + 1j * g * (y * np.exp(-1j * np.deg2rad(cfg.iq_phase_deg))).imag
        if cfg.dc_offset:
            y = y + cfg.dc_offset * math.sqrt(power)
        if cfg.spur_level:
            y = y + cfg.spur_level * math.sqrt(power) * np.exp(2j * np.pi * cfg.spur_hz / self.sample_rate_hz
                                                                 * np.arange(y.size))
        full_scale = None
        if cfg.clip_db is not None:
            full_scale = math.sqrt(power) * 10.0 ** (cfg.clip_db / 20.0)
            y = np.clip(y.real, -full_scale, full_scale) + 1j * np.clip(y.imag, -full_scale, full_scale)
        if cfg.adc_bits is not None:
            if full_scale is None:
                full_scale = float(max(np.abs(y.real).max(), np.abs(y.imag).max())) or 1.0
            half = 2 ** (cfg.adc_bits - 1)
            step = full_scale / half
            y = (np.clip(np.round(y.real / step), -half, half - 1)
                 + 1j * np.clip(np.round(y.imag / step), -half, half - 1)) * step
        return y
