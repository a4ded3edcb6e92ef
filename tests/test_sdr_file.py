"""The SigMF file radio and recorder: round trips, datatypes, resampling, atomic writes, bad captures."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import sigmf
from scipy.signal import resample_poly

from sdr import RadioConfig, RadioError, SigMFReader, SigMFRecorder, open_radio
from sdr.sigmf_io import StreamingResampler, rational_ratio

ROOT = Path(__file__).resolve().parents[1]


def random_burst(rng, n=2000, lead=0, gap=300, amplitude=0.4):
    """Zeros, a complex Gaussian burst (clipped to |x| <= 1), then an idle gap: complex64."""
    x = amplitude * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    x = x / np.maximum(1.0, np.abs(x))
    return np.concatenate([np.zeros(lead), x, np.zeros(gap)]).astype(np.complex64)


def read_all(radio, chunk):
    return np.concatenate(list(radio.stream(chunk)) or [np.zeros(0, np.complex64)])


def write_capture(tmp_path, name, raw: np.ndarray, datatype, meta_global=None, annotations=()):
    """A hand-made capture: raw bytes of ``raw`` as the data file, metadata from sigmf."""
    meta = sigmf.SigMFFile(global_info={sigmf.DATATYPE_KEY: datatype, sigmf.SAMPLE_RATE_KEY: 1e6,
                                        **(meta_global or {})})
    meta.add_capture(0, metadata={sigmf.FREQUENCY_KEY: 915e6})
    for start, count in annotations:
        meta.add_annotation(start, count)
    stem = tmp_path / name
    (tmp_path / f"{name}.sigmf-data").write_bytes(raw.tobytes())
    meta.tofile(stem, skip_validate=True)
    return tmp_path / f"{name}.sigmf-meta"


def test_transmitted_bursts_replay_identically_with_annotations_and_valid_sigmf(tmp_path):
    rng = np.random.default_rng(0)
    bursts = [random_burst(rng, lead=37), random_burst(rng, n=900), random_burst(rng, n=1500, gap=0)]
    path = tmp_path / "tx.sigmf-meta"
    config = RadioConfig(sample_rate_hz=2e6, center_freq_hz=2.45e9)
    with open_radio(f"file:{path}", config) as radio:
        for i, b in enumerate(bursts):
            radio.transmit(b, label=f"frame {i}" if i else None)
        assert not path.exists()  # nothing under the final name before close()
    sent = np.concatenate(bursts)

    replay = open_radio(f"file:{path}", config)
    np.testing.assert_array_equal(read_all(replay, 777), sent)
    assert replay.receive(10).size == 0

    sf = sigmf.sigmffile.fromfile(path)  # verifies the sha512 checksum
    sf.validate()
    glob = sf.get_global_info()
    assert glob["core:datatype"] == "cf32_le" and glob["core:sample_rate"] == 2e6
    assert "core:hw" in glob and glob["core:recorder"] == "diffradio"
    capture = sf.get_captures()[0]
    assert capture["core:frequency"] == 2.45e9 and capture["core:datetime"].endswith("Z")
    anns = sf.get_annotations()
    assert [a["core:label"] for a in anns] == ["burst 0", "frame 1", "frame 2"]
    starts = np.cumsum([0] + [b.size for b in bursts[:-1]])
    for ann, b, start in zip(anns, bursts, starts):
        nz = np.flatnonzero(b)
        assert ann["core:sample_start"] == start + nz[0]
        assert ann["core:sample_count"] == nz[-1] - nz[0] + 1
    assert not list(tmp_path.glob(".*partial*"))  # no temporary files left


def test_ci16_recording_reads_back_within_one_lsb_and_counts_clipping(tmp_path):
    rng = np.random.default_rng(1)
    x = random_burst(rng, n=5000, gap=0)
    path = tmp_path / "rx.sigmf-meta"
    with SigMFRecorder(path, 1e6, 433.92e6, datatype="ci16_le", hw="test") as rec:
        rec.write(x)
        rec.write(np.array([1.5 + 0j, -2j], np.complex64))  # beyond full scale: clipped
        assert rec.clipped_samples == 2
    sigmf.sigmffile.fromfile(path).validate()
    y = SigMFReader(path).read(10**6)
    np.testing.assert_allclose(y[:5000], x, atol=2**-15)
    np.testing.assert_allclose(y[5000:], [32767 / 32768, -1j], atol=1e-6)


@pytest.mark.parametrize("datatype, dtype, scale, offset", [
    ("cf32_be", ">f4", 1.0, 0.0),
    ("cf64_le", "<f8", 1.0, 0.0),
    ("ci16_be", ">i2", 2**15, 0.0),
    ("ci8", "i1", 2**7, 0.0),
    ("cu8", "u1", 2**7, 128.0),
])
def test_reads_foreign_datatypes_at_full_scale_one(tmp_path, datatype, dtype, scale, offset):
    rng = np.random.default_rng(2)
    iq = rng.uniform(-0.9, 0.9, size=(3000, 2))
    raw = np.round(iq * scale + offset).astype(dtype) if scale != 1.0 else iq.astype(dtype)
    path = write_capture(tmp_path, "foreign", raw, datatype)
    y = open_radio(f"file:{path}", RadioConfig(sample_rate_hz=1e6)).receive(5000)
    expected = (raw[:, 0].astype(float) - offset + 1j * (raw[:, 1].astype(float) - offset)) / scale
    assert y.dtype == np.complex64 and y.size == 3000
    np.testing.assert_allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("up, down", [(5, 6), (6, 5), (1, 5), (125, 128), (3, 1)])
def test_streaming_resampler_equals_resample_poly(up, down):
    rng = np.random.default_rng(up * 1000 + down)
    x = (rng.standard_normal(9000) + 1j * rng.standard_normal(9000)).astype(np.complex64)
    r = StreamingResampler(up, down)
    parts, i = [], 0
    for size in [1, 2, 3] + list(rng.integers(1, 2500, size=50)):
        parts.append(r.process(x[i:i + size]))
        i += size
        if i >= x.size:
            break
    parts.append(r.process(x[i:]))
    parts.append(r.flush())
    y = np.concatenate(parts)
    ref = resample_poly(x.astype(np.complex128), up, down)
    assert y.size == ref.size
    np.testing.assert_allclose(y, ref, atol=2e-6)


def test_replay_resamples_a_capture_to_the_radio_rate(tmp_path):
    fs_capture, fs_radio, tone = 2.4e6, 2e6, 150e3
    n = 120_000
    t = np.arange(n) / fs_capture
    x = (0.5 * np.exp(2j * np.pi * tone * t)).astype(np.complex64)
    path = tmp_path / "tone.sigmf-meta"
    with SigMFRecorder(path, fs_capture, 100e6) as rec:
        rec.write(x[:50_000])
        rec.annotate(24_000, 24_000, label="middle")
        rec.write(x[50_000:])
    radio = open_radio(f"file:{path}", RadioConfig(sample_rate_hz=fs_radio))
    y = read_all(radio, 4099)  # an odd chunk size: chunks of the file and of the output do not align
    assert y.size == n * 5 // 6
    np.testing.assert_allclose(y, resample_poly(x, 5, 6), atol=1e-5)
    mid = y[2000:-2000]  # away from resample_poly's zero-padded edges
    np.testing.assert_allclose(mid, 0.5 * np.exp(2j * np.pi * tone * (np.arange(n * 5 // 6) / fs_radio))[2000:-2000],
                               atol=2e-3)
    ann = radio.annotations()[0]
    assert (ann["core:sample_start"], ann["core:sample_count"], ann["core:label"]) == (20_000, 20_000, "middle")


def test_rate_ratio_is_small_and_accurate_or_refused():
    assert rational_ratio(2e6, 2.4e6) == (5, 6)
    up, down = rational_ratio(2e6, 1.234567e6)  # exact ratio 2000000/1234567: approximated
    assert max(up, down) <= 1000 and abs(up / down / (2e6 / 1.234567e6) - 1) < 1e-5
    with pytest.raises(RadioError, match="rational ratio"):
        rational_ratio(2e6, 1e3)


def test_reading_while_recording_is_refused_then_allowed_after_close(tmp_path):
    radio = open_radio(f"file:{tmp_path / 'a.sigmf-meta'}")
    radio.transmit(np.full(10, 0.5, np.complex64))
    with pytest.raises(RadioError, match="being written"):
        radio.receive(5)
    radio.close()
    np.testing.assert_array_equal(radio.receive(20), np.full(10, 0.5, np.complex64))


def test_over_full_scale_burst_is_refused(tmp_path):
    radio = open_radio(f"file:{tmp_path / 'b.sigmf-meta'}")
    with pytest.raises(RadioError, match="full scale"):
        radio.transmit(np.array([1.2 + 0j], np.complex64))


def test_exception_inside_with_discards_the_recording_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "keep.sigmf-meta"
    with SigMFRecorder(path, 1e6) as rec:
        rec.write(np.ones(100, np.complex64) * 0.25)
    old_data = path.with_suffix(".sigmf-data").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with open_radio(f"file:{path}") as radio:
            radio.transmit(np.full(5000, 0.5, np.complex64))
            raise KeyboardInterrupt
    assert path.with_suffix(".sigmf-data").read_bytes() == old_data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.sigmf-data", "keep.sigmf-meta"]


# The writer takes Ctrl-C as a terminal's foreground process would: whatever SIGINT disposition or
# mask the test runner's worker process handed down (pytest-xdist workers) is reset first.
WRITER = textwrap.dedent("""
    import signal, sys, numpy as np
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from sdr import SigMFRecorder
    with SigMFRecorder(sys.argv[1], 1e6) as rec:
        print("writing", flush=True)
        while True:
            rec.write(np.zeros(4096, np.complex64) + 0.1)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_or_killed_writer_leaves_no_capture(tmp_path, sig):
    path = tmp_path / "crash.sigmf-meta"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:  # a writer that ignored the signal must not go on filling the disk
        proc.kill()
    assert not path.exists() and not path.with_suffix(".sigmf-data").exists()
    leftovers = list(tmp_path.iterdir())
    if sig == signal.SIGINT:
        assert leftovers == []  # Ctrl-C cleans its temporary files too
    else:
        assert all(p.name.startswith(".crash.") and "partial" in p.name for p in leftovers)


def bad_capture(tmp_path, kind):
    """Build one kind of broken capture and return its metadata path."""
    rng = np.random.default_rng(3)
    good = rng.standard_normal((1000, 2)).astype("<f4")
    if kind == "truncated":
        path = write_capture(tmp_path, kind, good, "cf32_le")
        with open(path.with_suffix(".sigmf-data"), "ab") as fp:
            fp.write(b"\x00\x01\x02")
    elif kind == "shorter than annotations":
        path = write_capture(tmp_path, kind, good, "cf32_le", annotations=[(900, 500)])
    elif kind == "unsupported datatype":
        path = write_capture(tmp_path, kind, good, "rf32_le")
    elif kind == "nonsense datatype":
        path = write_capture(tmp_path, kind, good, "cf32_le")
        meta = json.loads(path.read_text())
        meta["global"]["core:datatype"] = "complex-please"
        path.write_text(json.dumps(meta))
    elif kind == "missing sample rate":
        path = write_capture(tmp_path, kind, good, "cf32_le")
        meta = json.loads(path.read_text())
        del meta["global"]["core:sample_rate"]
        path.write_text(json.dumps(meta))
    elif kind == "missing data file":
        path = write_capture(tmp_path, kind, good, "cf32_le")
        path.with_suffix(".sigmf-data").unlink()
    elif kind == "random bytes":
        path = tmp_path / "random.sigmf-meta"
        path.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "json but not sigmf":
        path = tmp_path / "list.sigmf-meta"
        path.write_text("[1, 2, 3]")
    elif kind == "two channels":
        path = write_capture(tmp_path, kind, good, "cf32_le", meta_global={"core:num_channels": 2})
    elif kind == "no such capture":
        path = tmp_path / "absent.sigmf-meta"
    return path


@pytest.mark.parametrize("kind, words", [
    ("truncated", "truncated"),
    ("shorter than annotations", "annotations reach"),
    ("unsupported datatype", "unsupported core:datatype"),
    ("nonsense datatype", "unsupported core:datatype"),
    ("missing sample rate", "core:sample_rate"),
    ("missing data file", "does not exist"),
    ("random bytes", "not valid JSON"),
    ("json but not sigmf", "not SigMF"),
    ("two channels", "single-channel"),
    ("no such capture", "does not exist"),
])
def test_bad_captures_give_one_clear_radio_error(tmp_path, kind, words):
    path = bad_capture(tmp_path, kind)
    radio = open_radio(f"file:{path}")
    with pytest.raises(RadioError) as info:
        radio.receive(100)
    message = str(info.value)
    assert words in message and str(path.name) in message and "\n" not in message


def test_reading_a_large_capture_uses_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "large.sigmf-meta"
    rng = np.random.default_rng(4)
    block = (0.3 * (rng.standard_normal(120_000) + 1j * rng.standard_normal(120_000))).astype(np.complex64)
    with SigMFRecorder(path, 2.4e6) as rec:
        for _ in range(20):  # 2.4 M samples, 19.2 MB of cf32
            rec.write(block)
    radio = open_radio(f"file:{path}", RadioConfig(sample_rate_hz=2e6))
    tracemalloc.start()
    total = sum(chunk.size for chunk in radio.stream(50_000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == 2_000_000
    assert peak < 6e6  # a few chunks' worth (measured 4.5 MB), not the 19.2 MB capture
