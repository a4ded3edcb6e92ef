#!/usr/bin/python3
"""GNU Radio reference receiver for ``phy.bench`` and an independent channel-model check.

A program, not part of ``import phy``: ``phy.bench`` runs it as a file under the system Python
(``/usr/bin/python3``, where Debian's ``gnuradio`` package lives, with the system NumPy), so it
imports nothing from this project, and only NumPy and the standard library at module level.

Default mode: build gr-digital's OFDM transmitter (``digital.ofdm_tx``; 64-point FFT, CP 16, gr's
default allocation of 48 data + 4 pilot subcarriers at ±7/±21, the same sizes as ``phy.OfdmParams``),
write a capture of its own waveform (frames separated by random idle gaps, plus complex AWGN at an
in-band SNR), then time ``digital.ofdm_rx`` consuming that capture from a vector source, the process
(all its scheduler threads) pinned to one CPU, and print one JSON object::

    {"gnuradio_rx_msps": ..., "gnuradio_rx_wall_msps": ..., "samples": ..., "seconds": ...,
     "cpu_seconds": ..., "frames_sent": ..., "frames_decoded": ..., "gnuradio_version": ..., ...}

``gnuradio_rx_msps`` is in the process's CPU time (all threads, on the one CPU), as the project's
receiver figures are; ``payload_symbols``: OFDM symbols per frame's payload (with its CRC-32).

``frames_decoded`` counts frames that ofdm_rx delivered with a good CRC32 and the payload that was sent.
If gnuradio cannot be imported, it prints ``{"gnuradio_rx_msps": null, "reason": ...}`` and exits 0.

``--channel-check``: pass a unit-power complex tone through ``channels.channel_model`` with a given
noise voltage and frequency offset and print the measured noise variance, CFO and signal power (JSON),
so the project's channel model can be compared with GNU Radio's.

Examples::

    /usr/bin/python3 phy/gnuradio_reference.py --samples 4000000
    /usr/bin/python3 phy/gnuradio_reference.py --channel-check --noise-voltage 0.3 --cfo-hz 25e3
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

N_FFT, N_CP = 64, 16
OCCUPIED = 52 / 64  # (48 data + 4 pilots) / FFT size: in-band factor of the SNR definition
LEN_KEY = "packet_len"


def _import_gnuradio():
    """Return the gnuradio modules used here, or raise ImportError."""
    from gnuradio import analog, blocks, channels, digital, gr
    return analog, blocks, channels, digital, gr


def _pin_to_one_cpu() -> int | None:
    """Pin this process (and the scheduler threads it starts later) to one CPU; return it."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def _tagged_bytes(gr, payloads: list[bytes]):
    """Concatenated payload bytes and one packet-length tag at the start of each packet."""
    data, tags, offset = [], [], 0
    for p in payloads:
        tag = gr.tag_t()
        tag.offset = offset
        tag.key = gr.pmt.intern(LEN_KEY)
        tag.value = gr.pmt.from_long(len(p))
        tags.append(tag)
        data.extend(p)
        offset += len(p)
    return data, tags


def _transmit(args, payloads: list[bytes]) -> list[np.ndarray]:
    """Run digital.ofdm_tx over the payloads; return one complex64 array per frame."""
    analog, blocks, channels, digital, gr = _import_gnuradio()
    data, tags = _tagged_bytes(gr, payloads)
    tb = gr.top_block()
    src = blocks.vector_source_b(data, False, 1, tags)
    tx = digital.ofdm_tx(fft_len=N_FFT, cp_len=N_CP, packet_length_tag_key=LEN_KEY,
                         bps_header=1, bps_payload=args.bps_payload, rolloff=0)
    sink = blocks.vector_sink_c()
    tb.connect(src, tx, sink)
    tb.run()
    samples = np.asarray(sink.data(), dtype=np.complex64)
    starts = sorted(t.offset for t in sink.tags() if gr.pmt.symbol_to_string(t.key) == LEN_KEY)
    bounds = starts + [samples.size]
    return [samples[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _capture(args, frames: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Frames separated by idle gaps, repeated to args.samples, with AWGN at args.snr_db (in-band).

    Returns the complex64 capture and the number of frames in it."""
    power = float(np.mean(np.abs(np.concatenate(frames)) ** 2))
    pieces, total, count = [], 0, 0
    while total < args.samples:
        frame = frames[count % len(frames)]
        gap = np.zeros(int(rng.integers(args.gap // 2, args.gap * 3 // 2 + 1)), np.complex64)
        pieces += [gap, frame]
        total += gap.size + frame.size
        count += 1
    x = np.concatenate(pieces + [np.zeros(args.gap, np.complex64)])
    sigma2 = power / (OCCUPIED * 10 ** (args.snr_db / 10))
    x = x + np.sqrt(sigma2 / 2) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    return x.astype(np.complex64), count


def bench(args) -> dict:
    """Time digital.ofdm_rx on a capture of digital.ofdm_tx's own waveform (see the module docstring)."""
    analog, blocks, channels, digital, gr = _import_gnuradio()
    rng = np.random.default_rng(args.seed)
    n_unique = 64
    payloads = [bytes(rng.integers(0, 256, args.payload_bytes, dtype=np.uint8)) for _ in range(n_unique)]
    frames = _transmit(args, payloads)
    capture, frames_sent = _capture(args, frames, rng)
    if args.write_capture:
        capture.tofile(args.write_capture)
    cpu = _pin_to_one_cpu()

    tb = gr.top_block()
    src = blocks.vector_source_c(capture.tolist(), False)
    rx = digital.ofdm_rx(fft_len=N_FFT, cp_len=N_CP, packet_length_tag_key=LEN_KEY,
                         bps_header=1, bps_payload=args.bps_payload)
    sink = blocks.vector_sink_b()
    tb.connect(src, rx, sink)
    t0, c0 = time.perf_counter(), time.process_time()
    tb.run()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0

    out = bytes(sink.data())
    starts = sorted((t.offset, gr.pmt.to_long(t.value)) for t in sink.tags()
                    if gr.pmt.symbol_to_string(t.key) == LEN_KEY)
    sent = set(payloads)
    decoded = sum(out[a:a + n] in sent for a, n in starts)
    return {
        "gnuradio_rx_msps": capture.size / cpu_seconds / 1e6,
        "gnuradio_rx_wall_msps": capture.size / seconds / 1e6,
        "samples": int(capture.size),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "frames_sent": frames_sent,
        "frames_decoded": decoded,
        "frames_out": len(starts),
        "gnuradio_version": gr.version(),
        "snr_db": args.snr_db,
        "payload_bytes": args.payload_bytes,
        "bps_payload": args.bps_payload,
        "frame_samples": int(frames[0].size),
        "payload_symbols": int(np.ceil((args.payload_bytes + 4) * 8 / (48 * args.bps_payload))),
        "cpu": cpu,
        "capture": args.write_capture,
    }


def channel_check(args) -> dict:
    """Measure what channels.channel_model does to a unit-power tone (noise variance, CFO, power)."""
    analog, blocks, channels, digital, gr = _import_gnuradio()
    fs, n, f_tone = args.sample_rate, args.samples, 0.01
    tb = gr.top_block()
    src = analog.sig_source_c(1.0, analog.GR_COS_WAVE, f_tone, 1.0, 0)
    head = blocks.head(gr.sizeof_gr_complex, n)
    chan = channels.channel_model(noise_voltage=args.noise_voltage, frequency_offset=args.cfo_hz / fs,
                                  epsilon=1.0, taps=[1.0 + 0j], noise_seed=args.seed)
    sink = blocks.vector_sink_c()
    tb.connect(src, head, chan, sink)
    tb.run()
    y = np.asarray(sink.data(), dtype=np.complex128)
    return {**measure_tone(y, f_tone, fs), "noise_voltage": args.noise_voltage, "samples": int(y.size),
            "gnuradio_version": gr.version()}


def measure_tone(y: np.ndarray, f_tone: float, fs: float, block: int = 1000) -> dict:
    """Frequency offset (Hz), power and residual noise variance of a noisy tone ``y`` (n,) complex.

    ``f_tone`` is the sent tone in cycles/sample. The offset is the slope of the unwrapped phase of
    ``block``-sample averages of y * exp(-j 2 pi f_tone k) (least squares), after a coarse lag-1 estimate.
    """
    k = np.arange(y.size)
    z = y * np.exp(-2j * np.pi * f_tone * k)
    coarse = np.angle(np.vdot(z[:-1], z[1:]))  # rad/sample
    z = z * np.exp(-1j * coarse * k)
    n_blocks = y.size // block
    means = z[:n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    slope = np.polyfit((np.arange(n_blocks) + 0.5) * block - 0.5, np.unwrap(np.angle(means)), 1)[0]
    z = z * np.exp(-1j * slope * k)
    slope += coarse
    gain = np.mean(z)  # complex amplitude of the de-rotated tone
    return {
        "cfo_hz": float(slope / (2 * np.pi) * fs),
        "signal_power": float(abs(gain) ** 2),
        "noise_variance": float(np.mean(np.abs(z - gain) ** 2)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=4_000_000, help="capture (or channel-check) length in samples")
    p.add_argument("--snr-db", type=float, default=20.0, help="in-band SNR of the capture in dB (default 20)")
    p.add_argument("--gap", type=int, default=400, help="mean idle gap between frames in samples (default 400)")
    p.add_argument("--payload-bytes", type=int, default=96, help="payload bytes per frame (default 96)")
    p.add_argument("--bps-payload", type=int, choices=(1, 2, 3), default=2, help="payload bits per symbol (2: QPSK)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write-capture", metavar="PATH", help="also save the capture as raw complex64 (.cf32)")
    p.add_argument("--channel-check", action="store_true", help="measure channels.channel_model instead")
    p.add_argument("--noise-voltage", type=float, default=0.3, help="channel-check noise voltage")
    p.add_argument("--cfo-hz", type=float, default=25e3, help="channel-check frequency offset in Hz")
    p.add_argument("--sample-rate", type=float, default=2e6, help="channel-check sample rate in Hz")
    args = p.parse_args(argv)
    if args.samples <= 0 or args.payload_bytes <= 0 or args.gap <= 0:
        p.error("--samples, --payload-bytes and --gap must be positive")
    try:
        _import_gnuradio()
    except ImportError as exc:
        key = "noise_variance" if args.channel_check else "gnuradio_rx_msps"
        print(json.dumps({key: None, "reason": f"gnuradio not importable by {sys.executable}: {exc}"}))
        return 0
    print(json.dumps(channel_check(args) if args.channel_check else bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
