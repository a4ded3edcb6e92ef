"""PHY benchmark behind ``diffradio bench phy``: throughput (side by side with GNU Radio's ofdm_rx),
uncoded BER against theory, detection and header success, false alarms, CFO range, SRO tolerance,
LDPC frame error rate against a genie-synchronised receiver, and the analog noise-variance agreement.

Every figure is measured here with the real receiver (no knowledge of timing, CFO or channel) on
waveforms passed through ``phy.channel.Channel``; SNRs are in-band (per-subcarrier Es/N0).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy.special import erfc
from tqdm import tqdm

from phy.channel import Channel, ChannelConfig
from phy.frame import payload_bits, preamble_length
from phy.header import Header, n_header_symbols
from phy.ldpc import decode_payload, encode_payload
from phy.modulation import bits_per_symbol, demap_llr, map_bits
from phy.ofdm import fft_windows, layout
from phy.params import OfdmParams
from phy.rx import Receiver
from phy.tx import Transmitter

GNURADIO_REFERENCE = Path(__file__).resolve().with_name("gnuradio_reference.py")
"""GNU Radio's receiver, run as a program under the system Python (``/usr/bin/python3``)."""
TARGET_BER = 1e-3
TARGET_FER = 1e-2
PAYLOAD_SYMBOLS = 48
BENCH_NONCE = 0x5EED
"""Stream nonce of every benchmark transmitter: the same samples on every run (a random nonce would
change the headers, and so the measured stream, from run to run)."""
"""Payload OFDM symbols per frame in the throughput captures, ours and GNU Radio's."""


def _q(x):
    return 0.5 * erfc(x / np.sqrt(2))


def ber_theory(modulation: str, snr_db) -> np.ndarray:
    """Uncoded Gray BER in AWGN at in-band SNR (Es/N0, dB): exact for BPSK/QPSK, the standard
    nearest-levels expression for square QAM."""
    es = 10 ** (np.asarray(snr_db, dtype=float) / 10)
    b = bits_per_symbol(modulation)
    if b == 1:
        return _q(np.sqrt(2 * es))
    if b == 2:
        return _q(np.sqrt(es))
    m = 1 << b
    return 4 / b * (1 - 1 / np.sqrt(m)) * sum(
        _q((2 * i - 1) * np.sqrt(3 * es / (m - 1))) for i in range(1, int(np.sqrt(m)) // 2 + 1))


def _snr_at(snrs, rates, target) -> float | None:
    """SNR (dB) where a decreasing error rate crosses ``target`` (log-linear interpolation)."""
    snrs, rates = np.asarray(snrs, float), np.asarray(rates, float)
    for i in range(len(snrs) - 1):
        if rates[i] >= target > rates[i + 1]:
            lo, hi = np.log10(max(rates[i], 1e-12)), np.log10(max(rates[i + 1], 1e-12))
            return float(snrs[i] + (np.log10(target) - lo) / (hi - lo) * (snrs[i + 1] - snrs[i]))
    return None


def _theory_snr(modulation: str, target: float) -> float:
    grid = np.arange(-5, 35, 0.001)
    return float(grid[np.argmax(ber_theory(modulation, grid) < target)])


def _channel(x, power, seed, **cfg):
    return Channel(ChannelConfig(seed=seed, **cfg), 2e6).apply(x, signal_power=power)


def _power(burst, params):
    return float(np.mean(np.abs(burst[: burst.size - params.idle_gap]) ** 2))


def _with_lead(burst, rng, lead=600):
    return np.concatenate([np.zeros(int(rng.integers(lead // 2, lead)), np.complex64), burst])


# ------------------------------------------------------------------------------------------ speed
@contextlib.contextmanager
def _one_cpu():
    """Pin this process to one CPU while the block runs (the GNU Radio side pins itself the same
    way); yields the CPU, or None where affinity is not available."""
    try:
        before = os.sched_getaffinity(0)
        cpu = min(before)
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def _replay(y: np.ndarray, params: OfdmParams, control_lengths: tuple[int, ...] = ()) -> tuple[float, float, int, int]:
    """One pass of a fresh receiver (``control_lengths`` as ``Receiver``'s: with any, it also searches
    for stream heads) over y in 65536-sample chunks: (wall s, CPU s, frames, STF triggers)."""
    rx = Receiver(params, control_lengths=control_lengths)
    t0, c0 = time.perf_counter(), time.process_time()
    frames = [f for i in range(0, y.size, 1 << 16) for f in rx.process(y[i: i + (1 << 16)])]
    frames += rx.flush()
    return time.perf_counter() - t0, time.process_time() - c0, len(frames), rx.stats["stf_triggers"]


def throughput(params: OfdmParams, n_frames: int, repeats: int = 3, control_lengths: tuple[int, ...] = ()) -> dict:
    """Receiver throughput on one core (process pinned to one CPU, BLAS to one thread) on a capture
    of analog frames (48 payload symbols) separated by random idle gaps (mean 400 samples, like the
    GNU Radio capture), 20 dB AWGN, processed in 65536-sample chunks; the same capture with a DC
    offset, with a CW spur (317 kHz at 2 MS/s), and with both, each at the noise power. The
    variants run in turn, ``repeats`` rounds; each keeps its best. Speeds are in CPU time of this
    (single-threaded) process: the time one core needs, the figure that stays comparable on a
    machine shared with other jobs (``rx_msps``, ``realtime_factor``, ``rx_msps_dc``,
    ``rx_msps_spur``, ``rx_cpu_ms_per_frame``); ``rx_wall_msps`` is the wall-clock figure.
    ``control_lengths``: the receiver's (``Receiver``; with any, the stream-head search runs too)."""
    from threadpoolctl import threadpool_limits

    tx, rng = Transmitter(params, nonce=BENCH_NONCE), np.random.default_rng(0)
    pieces = []
    for i in range(n_frames):
        pieces += [np.zeros(int(rng.integers(200, 601)), np.complex64),
                   tx.analog_burst(rng.normal(size=tx.max_analog_values()), frame_index=i)]
    x = np.concatenate(pieces)
    power = _power(pieces[1], params)
    level = float(np.sqrt(Channel(ChannelConfig(snr_db=20.0), params.sample_rate_hz).noise_variance(power) / power))
    spur = dict(spur_level=level, spur_hz=0.1585 * params.sample_rate_hz)
    captures = {"": {}, "_dc": dict(dc_offset=level), "_spur": spur, "_dc_spur": dict(dc_offset=level, **spur)}
    captures = {k: _channel(x, power, 0, snr_db=20.0, **cfg).astype(np.complex64) for k, cfg in captures.items()}
    best = {k: (np.inf, np.inf, 0, 0) for k in captures}
    with _one_cpu() as cpu, threadpool_limits(1):
        _replay(captures[""][: 1 << 16], params, control_lengths)     # compiled kernels loaded
        for _ in range(repeats):
            for k, y in captures.items():
                r = _replay(y, params, control_lengths)
                best[k] = (min(best[k][0], r[0]), min(best[k][1], r[1]), r[2], r[3])
        noise = (rng.normal(size=2_000_000) + 1j * rng.normal(size=2_000_000)).astype(np.complex64)
        _, idle_cpu, _, _ = _replay(noise, params, control_lengths)
    size = captures[""].size
    res = {"cpu": cpu, "capture_samples": int(size), "frames_sent": n_frames,
           "rx_wall_msps": size / best[""][0] / 1e6, "rx_msps_noise_only": noise.size / idle_cpu / 1e6,
           "rx_cpu_ms_per_frame": best[""][1] / n_frames * 1e3,
           "capture_dc_spur_time_ratio": best["_dc_spur"][1] / best[""][1],
           "dc_spur_level": level, "spur_hz": spur["spur_hz"]}
    for k, (_, c, found, triggers) in best.items():
        res[f"rx_msps{k}"] = size / c / 1e6
        res[f"frames_decoded{k}"] = found
        res[f"stf_triggers{k}"] = triggers
    res["realtime_factor"] = res["rx_msps"] * 1e6 / params.sample_rate_hz
    return res


def gnuradio(samples: int, params: OfdmParams) -> tuple[float | None, dict]:
    """GNU Radio's ofdm_rx throughput on its own waveform (``GNURADIO_REFERENCE`` under the
    system Python), like for like with ``throughput``: 48 payload symbols per frame (QPSK on 48 data
    subcarriers: 576 bytes with its CRC-32), mean idle gap 400 samples, 20 dB, one process pinned to
    one CPU, speed in that process's CPU time. Returns (MS/s or None, details including a reason
    when None)."""
    if not GNURADIO_REFERENCE.exists():
        return None, {"reason": f"{GNURADIO_REFERENCE} not found"}
    payload_bytes = PAYLOAD_SYMBOLS * params.n_data * 2 // 8 - 4
    try:
        out = subprocess.run(["/usr/bin/python3", str(GNURADIO_REFERENCE), "--samples", str(samples),
                              "--payload-bytes", str(payload_bytes)],
                             capture_output=True, text=True, timeout=600, check=False)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as e:
        return None, {"reason": f"GNU Radio benchmark failed: {e}"}
    return result.get("gnuradio_rx_msps"), result


# ------------------------------------------------------------------------------------------ BER
def ber_curve(params: OfdmParams, modulation: str, snrs, n_frames: int, rng) -> list[float]:
    """Uncoded BER (hard decisions of the real receiver's LLRs vs the transmitted coded bits)."""
    tx = Transmitter(params, nonce=BENCH_NONCE)
    payload = bytes(rng.integers(0, 256, tx.max_digital_bytes(modulation, 0.5)).astype(np.uint8))
    burst = tx.digital_burst(payload, modulation=modulation, code_rate=0.5)
    sent = encode_payload(payload, modulation, 0.5, payload_bits(
        Header("digital", len(payload), modulation, 0.5), params))
    out = []
    for snr in snrs:
        err = tot = 0
        for k in range(n_frames):
            frames = Receiver(params, ldpc_iterations=1).receive(
                _channel(_with_lead(burst, rng), _power(burst, params), int(rng.integers(1 << 31)), snr_db=snr))
            if frames and frames[0].llr is not None:
                err += int(np.sum((frames[0].llr > 0) != sent))
            else:
                err += sent.size // 2          # a missed frame counts as coin flips
            tot += sent.size
        out.append(err / tot)
    return out


# ------------------------------------------------------------------------------------------ detection
def detection_curve(params: OfdmParams, snrs, n_trials: int, rng) -> tuple[list[float], list[float]]:
    """(detection probability, header success probability) of short analog bursts in AWGN."""
    tx = Transmitter(params, nonce=BENCH_NONCE)
    det, hdr = [], []
    for snr in snrs:
        d = h = 0
        for k in range(n_trials):
            burst = tx.analog_burst(rng.normal(size=96), frame_index=k)
            x = np.concatenate([_with_lead(burst, rng), np.zeros(300, np.complex64)])
            rx = Receiver(params)
            frames = rx.receive(_channel(x, _power(burst, params), int(rng.integers(1 << 31)), snr_db=snr))
            d += rx.stats["ltf_confirmed"] >= 1
            h += any(f.header.frame_index == k for f in frames)
        det.append(d / n_trials)
        hdr.append(h / n_trials)
    return det, hdr


def false_alarms(params: OfdmParams, n_samples: int, rng, control_lengths: tuple[int, ...] = ()) -> dict:
    """Noise-only input: STF triggers, LTF-confirmed detections, stream-head detections (with
    ``control_lengths``, as ``Receiver``'s) and returned frames per 10^6 samples."""
    rx = Receiver(params, control_lengths=control_lengths)
    frames = 0
    for i in range(0, n_samples, 1 << 18):
        n = min(1 << 18, n_samples - i)
        frames += len(rx.process((rng.normal(size=n) + 1j * rng.normal(size=n)).astype(np.complex64)))
    frames += len(rx.flush())
    scale = 1e6 / n_samples
    return {"false_alarms_per_1e6": rx.stats["ltf_confirmed"] * scale,
            "stf_triggers_per_1e6": rx.stats["stf_triggers"] * scale,
            "head_detections_per_1e6": rx.stats["head_detections"] * scale,
            "false_frames_per_1e6": frames * scale, "noise_samples": n_samples}


def foreign_bursts(params: OfdmParams, n_bursts: int, rng, snr_db: float = 20.0,
                   control_lengths: tuple[int, ...] = ()) -> dict:
    """802.11a-format bursts (the same legacy STF and LTF as ours, then a BPSK SIGNAL symbol and 20
    data symbols of random 16-QAM with 802.11a pilots: another system's traffic on the channel) at
    ``snr_db`` AWGN: how many the receiver confirms (LTF test), how many come out as frames (none
    should: their header fails its CRC) and how many header CFO hypotheses it tried on them (none
    above ``phy.rx.HEADER_CFO_SEARCH_MAX_DB``); with ``control_lengths`` (as ``Receiver``'s) also how
    many stream-head detections they caused."""
    from phy.ofdm import pilot_values, symbols_to_time
    from phy.preamble import preamble

    _, data_pos, pilot_pos = layout(params)
    pieces = []
    for _ in range(n_bursts):
        grid = np.zeros((21, len(data_pos) + len(pilot_pos)), dtype=np.complex128)
        grid[:1, data_pos] = map_bits(rng.integers(0, 2, params.n_data).astype(np.uint8), "bpsk")
        grid[1:, data_pos] = map_bits(rng.integers(0, 2, 20 * params.n_data * 4).astype(np.uint8),
                                      "16qam").reshape(20, -1)
        grid[:, pilot_pos] = pilot_values(params, 0, 21)
        burst = np.concatenate([preamble(params), symbols_to_time(params, grid)])
        pieces += [np.zeros(int(rng.integers(300, 1000)), np.complex64), 0.3 * burst]
    x = np.concatenate(pieces + [np.zeros(1000)])
    power = float(np.mean(np.abs(0.3 * burst) ** 2))
    rx = Receiver(params, control_lengths=control_lengths)
    frames = rx.receive(_channel(x, power, int(rng.integers(1 << 31)), snr_db=snr_db))
    return {"bursts": n_bursts, "snr_db": snr_db, "ltf_confirmed": rx.stats["ltf_confirmed"],
            "frames_out": len(frames), "header_cfo_tries": rx.stats["header_cfo_tries"],
            "head_detections": rx.stats["head_detections"]}


# ------------------------------------------------------------------------------------------ impairments
def analog_trial(params, rng, n_values=None, **cfg) -> tuple[bool, float, float, float]:
    """One analog frame through the channel: (decoded, MSE, mean reported variance, CFO estimate Hz)."""
    tx = Transmitter(params, nonce=BENCH_NONCE)
    v = rng.normal(size=n_values or tx.max_analog_values())
    burst = tx.analog_burst(v)
    frames = Receiver(params).receive(_channel(_with_lead(burst, rng), _power(burst, params),
                                               int(rng.integers(1 << 31)), **cfg))
    if len(frames) != 1 or frames[0].values is None:
        return False, np.nan, np.nan, np.nan
    f = frames[0]
    return True, float(np.mean((f.values - v) ** 2)), float(np.mean(f.noise_var)), f.cfo_hz


def impairment_sweep(params, rng, key: str, points, n_trials: int, snr_db: float = 10.0) -> list[dict]:
    """Success rate, MSE/variance ratio and CFO error at each value of one impairment."""
    rows = []
    for v in points:
        res = [analog_trial(params, rng, snr_db=snr_db, **{key: float(v)}) for _ in range(n_trials)]
        ok = [r for r in res if r[0]]
        rows.append({key: float(v), "success": len(ok) / n_trials,
                     "mse_over_var": float(np.mean([r[1] for r in ok]) / np.mean([r[2] for r in ok])) if ok else None,
                     "cfo_err_hz": float(np.max([abs(r[3] - (v if key == "cfo_hz" else 0)) for r in ok])) if ok else None})
    return rows


def _tolerance(rows: list[dict], key: str) -> float:
    """Largest |value| such that every swept point at or inside it decoded all frames with the
    MSE within 10 % of the reported variance ("without loss")."""
    good = lambda r: r["success"] == 1 and r["mse_over_var"] is not None and abs(r["mse_over_var"] - 1) <= 0.1
    bad = [abs(r[key]) for r in rows if not good(r)]
    inside = [abs(r[key]) for r in rows if good(r) and (not bad or abs(r[key]) < min(bad))]
    return float(max(inside, default=0.0))


def mse_agreement(params, rng, channel: str, snrs, n_trials: int) -> dict:
    """Measured MSE over mean reported variance (pooled over trials) per SNR."""
    out = {}
    for snr in snrs:
        res = [r for r in (analog_trial(params, rng, snr_db=snr, channel=channel) for _ in range(n_trials)) if r[0]]
        out[f"{snr:g}"] = float(np.mean([r[1] for r in res]) / np.mean([r[2] for r in res])) if res else None
    return out


# ------------------------------------------------------------------------------------------ LDPC
def fer_curves(params, modulation: str, code_rate: float, snrs, n_frames: int, rng) -> dict:
    """Frame error rate of the real receiver and of a genie-synchronised receiver, same waveforms."""
    tx = Transmitter(params, nonce=BENCH_NONCE)
    n_bytes = tx.max_digital_bytes(modulation, code_rate)
    header = Header("digital", n_bytes, modulation, code_rate)
    n_bits = payload_bits(header, params)
    n_sym = n_bits // (params.n_data * bits_per_symbol(modulation))
    _, data_pos, _ = layout(params)
    real, genie = [], []
    for snr in tqdm(snrs, desc=f"FER {modulation} r{code_rate:.2g}", leave=False):
        e_real = e_genie = 0
        for k in range(n_frames):
            payload = bytes(rng.integers(0, 256, n_bytes).astype(np.uint8))
            burst = tx.digital_burst(payload, modulation=modulation, code_rate=code_rate)
            lead = int(rng.integers(300, 600))
            x = np.concatenate([np.zeros(lead, np.complex64), burst])
            ch = Channel(ChannelConfig(snr_db=snr, seed=int(rng.integers(1 << 31))), params.sample_rate_hz)
            y = ch.apply(x, signal_power=_power(burst, params))
            frames = Receiver(params).receive(y)
            e_real += not (len(frames) == 1 and frames[0].crc_ok and frames[0].payload == payload)
            # genie: exact timing and channel (noise-free FFT over sent symbols), true noise variance
            start = lead + preamble_length(params) + n_header_symbols(params) * params.symbol_len + params.n_cp
            starts = start + params.symbol_len * np.arange(n_sym)
            sent = encode_payload(payload, modulation, code_rate, n_bits)
            xs = map_bits(sent, modulation).reshape(n_sym, params.n_data)
            h = fft_windows(params, x, starts)[:, data_pos] / xs
            eq = fft_windows(params, y, starts)[:, data_pos] / h
            nv = ch.noise_variance(_power(burst, params)) / np.abs(h) ** 2
            llr = demap_llr(eq.reshape(-1), nv.reshape(-1), modulation)
            data, ok = decode_payload(llr, n_bytes, modulation, code_rate)
            e_genie += not (ok and data == payload)
        real.append(e_real / n_frames)
        genie.append(e_genie / n_frames)
    s_real, s_genie = _snr_at(snrs, real, TARGET_FER), _snr_at(snrs, genie, TARGET_FER)
    return {"snr_db": list(map(float, snrs)), "fer_real": real, "fer_genie": genie,
            "snr_at_fer_1e-2_real": s_real, "snr_at_fer_1e-2_genie": s_genie,
            "gap_db": None if s_real is None or s_genie is None else s_real - s_genie}


# ------------------------------------------------------------------------------------------ driver
def run_phy_bench(out_dir, quick: bool = False, params: OfdmParams = OfdmParams()) -> dict:
    """Run the PHY benchmark, write plots (PNG) and ``phy_bench.json`` into ``out_dir``, print a
    summary, and return the figures as a JSON-able dict (keys documented in the README)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    n = (lambda q, f: q) if quick else (lambda q, f: f)
    res: dict = {"quick": quick, "sample_rate_hz": params.sample_rate_hz}
    steps = tqdm(total=8, desc="phy bench")

    res.update(throughput(params, n(20, 200)))
    gr_msps, gr = gnuradio(n(400_000, 4_000_000), params)
    res["gnuradio_rx_msps"] = gr_msps
    res["gnuradio"] = gr
    res["speed_ratio_vs_gnuradio"] = res["rx_msps"] / gr_msps if gr_msps else None
    steps.update()

    ber = {}
    for mod in ("bpsk", "qpsk", "16qam", "64qam"):
        s0 = _theory_snr(mod, TARGET_BER)
        snrs = np.arange(s0 - 2.0, s0 + 2.01, 1.0)
        curve = ber_curve(params, mod, snrs, n(4, 20), rng)
        s = _snr_at(snrs, curve, TARGET_BER)
        ber[mod] = {"snr_db": snrs.tolist(), "ber": curve, "theory_snr_at_1e-3": s0,
                    "gap_db": None if s is None else s - s0}
    res["ber"] = ber
    res["ber_gap_db"] = {m: v["gap_db"] for m, v in ber.items()}
    steps.update()

    det_snrs = np.arange(-4.0, 4.01, 1.0)
    det, hdr = detection_curve(params, det_snrs, n(100, 2000), rng)
    res["detection"] = {"snr_db": det_snrs.tolist(), "detect_rate": det, "header_success": hdr,
                        "trials": n(100, 2000)}
    res["detect_rate_0db"] = det[list(det_snrs).index(0.0)]
    res["header_success_0db"] = hdr[list(det_snrs).index(0.0)]
    steps.update()

    res.update(false_alarms(params, n(1_000_000, 20_000_000), rng))
    steps.update()

    edge = params.sample_rate_hz / (2 * (params.n_fft // 4))
    res["cfo_sweep"] = impairment_sweep(params, rng, "cfo_hz", np.linspace(-edge, edge, 9), n(3, 20))
    res["cfo_range_ok_hz"] = _tolerance(res["cfo_sweep"], "cfo_hz")
    res["sro_sweep"] = impairment_sweep(params, rng, "sro_ppm", [-200, -100, -50, -25, 0, 25, 50, 100, 200], n(3, 20))
    res["sro_tolerance_ppm"] = _tolerance(res["sro_sweep"], "sro_ppm")
    steps.update()

    res["ldpc"] = {}
    for mod, rate in ((("qpsk", 0.5),) if quick else (("qpsk", 0.5), ("16qam", 0.75))):
        base = {"qpsk": 1.0, "16qam": 10.0}[mod]
        res["ldpc"][f"{mod}_r{rate:.2g}"] = {**fer_curves(params, mod, rate, np.arange(base - 1.5, base + 2.01, 0.5),
                                                         n(20, 200), rng), "frames": n(20, 200)}
    res["ldpc_gap_db"] = {k: v["gap_db"] for k, v in res["ldpc"].items()}
    steps.update()

    res["analog_mse_over_var"] = {
        "awgn": mse_agreement(params, rng, "awgn", [0, 10, 20], n(4, 30)),
        "tdl-c": mse_agreement(params, rng, "tdl-c", [5, 10, 20], n(4, 30)),
        "tdl-a": mse_agreement(params, rng, "tdl-a", [10, 20], n(4, 30))}
    steps.update()

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for mod, v in ber.items():
        line, = ax[0].semilogy(v["snr_db"], np.maximum(v["ber"], 1e-7), "o-", label=f"{mod} receiver")
        g = np.linspace(v["snr_db"][0], v["snr_db"][-1], 100)
        ax[0].semilogy(g, ber_theory(mod, g), "--", color=line.get_color(), label=f"{mod} theory")
    ax[0].axhline(TARGET_BER, color="gray", lw=0.5)
    ax[0].set(xlabel="in-band SNR (dB)", ylabel="uncoded BER", title="AWGN, real receiver vs theory")
    ax[0].legend(fontsize=7)
    ax[1].plot(det_snrs, det, "o-", label="detection")
    ax[1].plot(det_snrs, hdr, "s-", label="header CRC ok")
    ax[1].set(xlabel="in-band SNR (dB)", ylabel="probability", title="burst detection, AWGN")
    ax[1].legend()
    for k, v in res["ldpc"].items():
        line, = ax[2].semilogy(v["snr_db"], np.maximum(v["fer_real"], 1e-3), "o-", label=f"{k} receiver")
        ax[2].semilogy(v["snr_db"], np.maximum(v["fer_genie"], 1e-3), "x--", color=line.get_color(), label=f"{k} genie")
    ax[2].axhline(TARGET_FER, color="gray", lw=0.5)
    ax[2].set(xlabel="in-band SNR (dB)", ylabel="FER", title="5G LDPC frames")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "phy_bench.png", dpi=110)
    plt.close(fig)
    steps.update()
    steps.close()

    (out / "phy_bench.json").write_text(json.dumps(res, indent=1, default=float))
    summary = {k: res[k] for k in ("rx_msps", "realtime_factor", "rx_cpu_ms_per_frame", "rx_msps_dc",
                                   "rx_msps_spur", "capture_dc_spur_time_ratio",
                                   "gnuradio_rx_msps", "speed_ratio_vs_gnuradio",
                                   "ber_gap_db", "detect_rate_0db", "header_success_0db", "false_alarms_per_1e6",
                                   "cfo_range_ok_hz", "sro_tolerance_ppm", "ldpc_gap_db", "analog_mse_over_var")}
    print(json.dumps(summary, indent=1, default=float))
    return res


if __name__ == "__main__":
    import sys
    run_phy_bench(sys.argv[1] if len(sys.argv) > 1 else "out/bench_phy", quick="--quick" in sys.argv)
