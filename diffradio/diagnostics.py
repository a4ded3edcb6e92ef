"""The receiver diagnostics figure (``--plot``): what an SDR user checks first when a link misbehaves.

Six panels: spectrum of the capture, detected bursts on a time axis, received constellation before
and after equalisation, channel estimate magnitude per subcarrier, and per-frame SNR and CFO.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import signal

MAX_CONSTELLATION_POINTS = 4000


def plot_diagnostics(path: str | Path, run, sample_rate_hz: float) -> Path:
    """Write the figure for ``run`` (a ``link.RxRun``) to ``path`` (PNG) atomically; return the path.

    ``sample_rate_hz`` is the receiver's rate in Hz (time axes in ms, frequency axes in kHz).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diffradio.images import atomic_target

    frames = run.frames
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle(f"{run.assembler.frames_detected} frames detected in {run.samples} samples "
                 f"({run.samples / sample_rate_hz * 1e3:.1f} ms at {sample_rate_hz / 1e6:g} MS/s)")

    a = ax[0][0]
    if run.head.size >= 64:
        f, pxx = signal.welch(run.head, fs=sample_rate_hz, nperseg=min(1024, run.head.size),
                              return_onesided=False, scaling="density")
        order = np.argsort(f)
        a.plot(f[order] / 1e3, 10 * np.log10(pxx[order] + 1e-30), lw=0.8)
    a.set(title=f"spectrum (first {run.head.size} samples)", xlabel="frequency (kHz)", ylabel="PSD (dB/Hz)")

    a = ax[0][1]
    if run.head.size:
        t = np.arange(run.head.size) / sample_rate_hz * 1e3
        step = max(1, run.head.size // 20000)
        a.plot(t[::step], np.abs(run.head[::step]), lw=0.5, color="0.5", label="|x| (first samples)")
    for fr in frames:
        t0 = fr.start_sample / sample_rate_hz * 1e3
        color = "tab:green" if (fr.header.mode == "analog" or fr.crc_ok) else "tab:red"
        a.axvline(t0, color=color, lw=0.8)
    a.set(title="detected bursts (green: decoded, red: CRC failed)", xlabel="time (ms)", ylabel="magnitude")

    analog = [fr for fr in frames if "constellation_raw" in fr.diagnostics]
    for a, key, title in ((ax[0][2], "constellation_raw", "before equalisation"),
                          (ax[1][0], "constellation_eq", "after equalisation")):
        pts = np.concatenate([fr.diagnostics[key].reshape(-1) for fr in analog]) if analog else np.zeros(0)
        if pts.size > MAX_CONSTELLATION_POINTS:
            pts = pts[np.linspace(0, pts.size - 1, MAX_CONSTELLATION_POINTS).astype(int)]
        a.scatter(pts.real, pts.imag, s=2, alpha=0.4)
        a.set(title=f"constellation {title}", xlabel="I", ylabel="Q")
        a.set_aspect("equal", adjustable="datalim")

    a = ax[1][1]
    for fr in frames[:12]:
        d = fr.diagnostics
        if "channel" in d:
            a.plot(d["subcarriers"], 20 * np.log10(np.abs(d["channel"]) + 1e-12), ".-", lw=0.6, ms=3)
    a.set(title="channel estimate per subcarrier (first 12 frames)", xlabel="subcarrier", ylabel="|H| (dB)")

    a = ax[1][2]
    idx = np.arange(len(frames))
    a.plot(idx, [fr.snr_db for fr in frames], "o-", color="tab:blue", ms=3)
    a.set(title="per-frame SNR and CFO", xlabel="frame (arrival order)", ylabel="SNR (dB)")
    b = a.twinx()
    b.plot(idx, [fr.cfo_hz for fr in frames], "s--", color="tab:orange", ms=3)
    b.set_ylabel("CFO (Hz)", color="tab:orange")
    for row in ax:
        for a in row:
            a.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
