"""Generate the README's result tables from the committed result files (docs/results/, phy/data/).

Each generated block in README.md sits between two marker comments that name the table:

    <!-- table:NAME -->
    ...generated markdown...
    <!-- /table:NAME -->

``TABLES`` maps NAME to (the result file, a function that renders it as markdown). Rewriting the
README puts the rendering between the markers; ``--check`` rewrites nothing and exits 1 if any
block differs from what its file gives (tests/test_readme_tables.py runs the check). To add a
table: write a renderer ``def _render_x(path) -> str``, add it to ``TABLES``, put the markers in the
README, run this script.

Usage: python experiments/readme_tables.py [--check] [--readme README.md]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def _ci(row: dict, metric: str, digits: int) -> str:
    """'mean [lo, hi]' of a summary row's metric; '–' when absent."""
    if row.get(f"{metric}_mean") in (None, ""):
        return "–"
    m, lo, hi = (float(row[f"{metric}_{s}"]) for s in ("mean", "ci_lo", "ci_hi"))
    if lo == hi:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _grid(rows: list[dict], column: str, columns: list[str], headers: list[str], cell) -> str:
    """Markdown table: one line per (channel, SNR) of ``rows``, one column per value of ``column``
    (``columns``, titled ``headers``); ``cell(row)`` renders a row, empty where none."""
    by_key = {(r["channel"], r["snr_db"], r[column]): r for r in rows}
    points = sorted({(r["channel"], r["snr_db"]) for r in rows}, key=lambda p: (p[0], float(p[1])))
    lines = ["| channel | SNR | n | " + " | ".join(headers) + " |", "|---|---|---|" + "---|" * len(columns)]
    for channel, snr in points:
        present = [by_key.get((channel, snr, c)) for c in columns]
        n = next((r["n"] for r in present if r is not None), "")
        lines.append(f"| {channel.upper()} | {float(snr):g} dB | {n} | "
                     + " | ".join("" if r is None else cell(r) for r in present) + " |")
    return "\n".join(lines)


def _render_sweep(path: Path) -> str:
    """Per channel and SNR and decoder: PSNR mean [95 % interval] / MS-SSIM mean, the most used MCS, and
    how many images were lost (no frame detected, or a digital stream with a frame missing)."""
    from diffradio.sweep import DECODERS

    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    decoders = [d for d in DECODERS if any(r["decoder"] == d for r in rows)]
    names = {"direct-refined": "direct, refined for the SNR", "digital": "digital, calibrated MCS",
             "digital-oracle": "digital, oracle MCS", "capacity": "AVIF at capacity"}

    def cell(r: dict) -> str:
        text = f"{_ci(r, 'psnr_db', 2)} / {float(r['ms_ssim_mean']):.3f}"
        lost = round(float(r["image_lost_mean"]) * int(r["n"]))
        notes = ([r["mcs"]] if r["mcs"] else []) + ([f"{lost}/{r['n']} lost"] if lost else [])
        return text + (f" ({', '.join(notes)})" if notes else "")

    return _grid(rows, "decoder", decoders, [names.get(d, d) for d in decoders], cell)


def _render_paired(path: Path) -> str:
    """Per channel and SNR: paired differences (same photo and realisation) a − b for each pair of the
    file, PSNR mean [95 % interval] / MS-SSIM mean [95 % interval]."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["pair"] = f"{r['a']} − {r['b']}"
    pairs = list(dict.fromkeys(r["pair"] for r in rows))

    def cell(r: dict) -> str:
        ps, ms = (tuple(float(r[f"{m}_diff_{s}"]) for s in ("mean", "ci_lo", "ci_hi")) for m in ("psnr_db", "ms_ssim"))
        return f"{ps[0]:+.2f} [{ps[1]:+.2f}, {ps[2]:+.2f}] dB / {ms[0]:+.3f} [{ms[1]:+.3f}, {ms[2]:+.3f}]"

    return _grid(rows, "pair", pairs, pairs, cell)


def _power_of_ten(x: float) -> str:
    """2e7 -> '2·10^7'."""
    e = math.floor(math.log10(x))
    m = x / 10 ** e
    return f"10^{e}" if round(m, 3) == 1 else f"{m:.3g}·10^{e}"


def _modulation(name: str) -> str:
    """'qpsk' -> 'QPSK', '16qam' -> '16-QAM'."""
    return name.replace("qam", "-QAM") if "qam" in name else name.upper()


def _render_phy(path: Path) -> str:
    """The PHY benchmark (``diffradio bench phy``): each figure beside its target."""
    r = json.loads(path.read_text())
    det = dict(zip(r["detection"]["snr_db"], r["detection"]["detect_rate"]))
    trials = f" ({r['detection']['trials']} trials)"
    ber = ", ".join(f"{_modulation(m)} {g:.2f}" for m, g in r["ber_gap_db"].items())
    ldpc = []
    for name, v in r["ldpc"].items():
        mod, rate = name.split("_r")
        ldpc.append(f"{_modulation(mod)} r{rate}: {v['gap_db']:.2f} dB ({v['snr_at_fer_1e-2_real']:.1f} vs "
                    f"{v['snr_at_fer_1e-2_genie']:.2f} dB; {v['snr_db'][1] - v['snr_db'][0]:g} dB grid, "
                    f"{v['frames']} frames)")
    mse = "; ".join(f"{ch.upper()} {'/'.join(k for k in v)} dB: {'/'.join(f'{x:.3f}' for x in v.values())}"
                    for ch, v in r["analog_mse_over_var"].items())
    g = r["gnuradio"]
    fs = r["sample_rate_hz"] / 1e6
    rows = [
        ("uncoded BER gap to theory at 1e-3, AWGN, real receiver (no genie)", f"{ber} dB", "≤ 0.5 dB"),
        (f"burst detection at 0 dB in-band SNR{trials}",
         f"{100 * r['detect_rate_0db']:.4g} % ({100 * det[-1.0]:.4g} % at −1 dB)", "≥ 99 %"),
        (f"header CRC success at 0 dB{trials}", f"{100 * r['header_success_0db']:.4g} %", "≥ 99 %"),
        (f"false alarms in {_power_of_ten(r['noise_samples'])} noise-only samples",
         f"{r['false_frames_per_1e6'] * r['noise_samples'] / 1e6:.0f} frames ({r['stf_triggers_per_1e6']:.3g} STF "
         "triggers per 10^6, all rejected by the LTF test)", "< 1 per 10^6"),
        ("CFO acquisition", f"every frame decoded from −{r['cfo_range_ok_hz'] / 1e3:g} to +{r['cfo_range_ok_hz'] / 1e3:g}"
                            " kHz (±fs/32) at 10 dB", "±fs/32"),
        ("SRO tolerance", f"every frame decoded from −{r['sro_tolerance_ppm']:g} to +{r['sro_tolerance_ppm']:g} ppm "
                          "at 10 dB", "±50 ppm"),
        ("5G LDPC, real vs genie-synchronised receiver at FER 10^-2", "; ".join(ldpc), "≤ 1 dB"),
        ("analog payload: measured MSE / reported noise variance", mse, "within 10 %"),
        (f"receiver throughput, one core, CPU time ({r['frames_sent']} back-to-back 48-symbol analog frames at 20 dB, "
         "`rx_msps`)",
         f"{r['rx_msps']:.1f} MS/s = **{r['realtime_factor']:.1f}× real time** at {fs:g} MS/s "
         f"({r['rx_cpu_ms_per_frame']:.3f} ms CPU per frame, `rx_cpu_ms_per_frame`; {r['rx_wall_msps']:.1f} MS/s wall); "
         f"noise only: {r['rx_msps_noise_only']:.0f} MS/s", "≥ 10×"),
        (f"the same capture with a DC offset / a CW spur ({r['spur_hz'] / 1e3:g} kHz) / both, each at the noise power "
         "(`rx_msps_dc`, `rx_msps_spur`, `capture_dc_spur_time_ratio`)",
         f"{r['rx_msps_dc']:.1f} / {r['rx_msps_spur']:.1f} / {r['rx_msps_dc_spur']:.1f} MS/s, "
         f"{r['frames_decoded_dc']}/{r['frames_decoded_spur']}/{r['frames_decoded_dc_spur']} of {r['frames_sent']} "
         f"frames; time with both over time without: {r['capture_dc_spur_time_ratio']:.2f}",
         "≥ rx_msps / 1.5; ≤ 1.5"),
        (f"GNU Radio {g['gnuradio_version']} `digital.ofdm_rx`, like for like: its own waveform with the same sizes "
         f"(64-FFT, CP 16, 48+4 carriers), {g['payload_symbols']} QPSK payload symbols per frame "
         f"({g['payload_bytes']} bytes + CRC-32), {g['snr_db']:g} dB, process pinned to one CPU, CPU time, same run "
         f"({g['samples'] / 1e6:.0f} M samples, {g['frames_decoded']}/{g['frames_sent']} frames)",
         f"{g['gnuradio_rx_msps']:.2f} MS/s: ours is **{r['speed_ratio_vs_gnuradio']:.1f}×** faster "
         "(`speed_ratio_vs_gnuradio`)", "≥ 10×"),
    ]
    return "\n".join(["| figure | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def _render_mcs(path: Path) -> str:
    """MCS thresholds per channel family, with the FER 95 % interval at the threshold."""
    doc = json.loads(path.read_text())
    families = doc["channels"]
    names = list(next(iter(families.values()))["points"])
    order = [c for c in ("awgn", "tdl-a", "tdl-c") if c in families] + sorted(set(families) - {"awgn", "tdl-a",
                                                                                               "tdl-c"})
    lines = ["| MCS | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
    for name in names:
        cells = []
        for c in order:
            p = families[c]["points"].get(name)
            cells.append("not reached ≤ 45 dB" if p is None else
                         f"{p['snr_db']:.2f} dB ({p['errors']}/{p['frames']}, FER ≤ {p['fer_ci95'][1]:.3f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _render_broadcast(path: Path) -> str:
    """Per receiver: semantic and digital PSNR / MS-SSIM and frames lost."""
    doc = json.loads(path.read_text())
    lines = ["| receiver SNR | semantic PSNR / MS-SSIM | semantic frames lost | "
             f"digital ({doc['source_codec'].upper()}, {doc['digital_mcs']}) PSNR / MS-SSIM | digital frames lost |",
             "|---|---|---|---|---|"]
    for rx in doc["receivers"]:
        s, d = rx["semantic"], rx["digital"]
        lines.append(f"| {rx['snr_db']:g} dB | {s['psnr_db']:.2f} / {s['ms_ssim']:.3f} | "
                     f"{s['frames_lost']}/{s['frames_expected']} | {d['psnr_db']:.2f} / {d['ms_ssim']:.3f} | "
                     f"{d['frames_lost']}/{d['frames_expected']} |")
    return "\n".join(lines)


def _render_digital_vs_jpeg(path: Path) -> str:
    """The digital link's image against JPEG at the same source bytes, per photo."""
    doc = json.loads(path.read_text())
    lines = ["| photo | SNR | MCS | source bytes | digital (AVIF) PSNR | JPEG at the same bytes | gain | frames lost |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        jpeg = "nothing fits" if r["jpeg_psnr_db"] is None else f"{r['jpeg_psnr_db']:.2f} dB"
        gain = "–" if r["jpeg_psnr_db"] is None else f"{r['psnr_db'] - r['jpeg_psnr_db']:+.2f} dB"
        lines.append(f"| {r['photo']} | {r['snr_db']:g} dB {r['channel'].upper()} | {r['mcs']} | {r['source_bytes']} | "
                     f"{r['psnr_db']:.2f} dB | {jpeg} | {gain} | {r['frames_lost']} |")
    return "\n".join(lines)


def _render_decoder(path: Path) -> str:
    """Per latent-channel cell (bandwidth ratio, channel, SNR): PSNR (dB) / MS-SSIM of each decoder row,
    mean ± std over the noise seeds, and GMSD / high-frequency energy ratio (``semantic.bench`` results)."""
    result = json.loads(path.read_text())
    rows = [*result["decoders"], "avif@capacity"]
    names = {"direct": "direct (default)", "avif@capacity": "AVIF at capacity"}

    def cell(m: dict) -> str:
        p, s = m["psnr_db"], m["ms_ssim"]
        detail = f" ({m['gmsd']['mean']:.3f} / {m['hf_ratio']['mean']:.2f})" if "gmsd" in m else ""
        if p["std"] is None:
            return f"{p['mean']:.2f} / {s['mean']:.3f}{detail}"
        return f"{p['mean']:.2f} ± {p['std']:.2f} / {s['mean']:.3f} ± {s['std']:.3f}{detail}"

    lines = ["| cell | " + " | ".join(names.get(r, r) for r in rows) + " |", "|---|" + "---|" * len(rows)]
    for name, per in result["quality"].items():
        lines.append(f"| {name} | " + " | ".join(cell(per[r]) if r in per else "–" for r in rows) + " |")
    t = result["s_per_tile"]
    lines.append("")
    lines.append(f"PSNR dB / MS-SSIM (GMSD / high-frequency energy ratio); {result['n_photos']} photos, "
                 f"{result['seeds']} noise seeds per cell (AVIF at capacity: seed 0), {result['torch_threads']} torch "
                 f"thread(s); decode time of the default decoder at 1/24: {t['single_tile']:.3f} s for one 64×64 tile, "
                 f"{t['768x512']:.3f} s per tile of a 768×512 image"
                 + (f"; diffusion (realism {d['realism']:g}, {d['steps']} steps): {d['single_tile']:.3f} s / "
                    f"{d['768x512']:.3f} s." if (d := result.get("s_per_tile_diffusion")) else "."))
    return "\n".join(lines)


def _render_cold_start(path: Path) -> str:
    """Cold ``replay`` of each shipped capture in a fresh process (experiments/cold_start.py), then the
    heavy imports alone."""
    doc = json.loads(path.read_text())
    lines = ["| capture | length | wall s, numba cache warm | CPU s, warm | CPU s, numba cache cold |",
             "|---|---|---|---|---|"]
    for name, r in doc["replay"].items():
        warm, cold = r["numba_cache_warm"], r["numba_cache_cold"]
        lines.append(f"| `{name}` | {r['duration_ms']:g} ms | {warm['wall_s']:.1f} | {warm['cpu_s']:.1f} | "
                     f"{cold['cpu_s']:.1f} |")
    imports = ", ".join(f"{k} {v['cpu_s']:.1f}" for k, v in doc["imports"].items())
    lines += ["", f"Median of {doc['repeats']} runs, load average {doc['loadavg_start'][0]:.1f} at the start; "
              f"imports alone in a fresh process (CPU s): {imports}."]
    return "\n".join(lines)


def _render_classic(path: Path) -> str:
    """Classic photos through the whole link (experiments/classic_images.py), one row per photo."""
    doc = json.loads(path.read_text())
    lines = ["| photo | in the model's training list | PSNR dB (min) | MS-SSIM | CIEDE2000 | chroma ratio |",
             "|---|---|---|---|---|---|"]
    for ph in doc["photos"]:
        trained = {True: "yes", False: "no", None: "unknown"}[ph["in_training"]]
        lines.append(f"| {Path(ph['photo']).name} | {trained} | "
                     f"{ph['psnr_db']['mean']:.2f} ± {ph['psnr_db']['std']:.2f} ({ph['psnr_db']['min']:.2f}) | "
                     f"{ph['ms_ssim']['mean']:.3f} | {ph['delta_e']['mean']:.1f} | {ph['chroma_ratio']['mean']:.2f} |")
    lines += ["", f"{doc['size']}×{doc['size']} crops, {doc['channel'].upper()} {doc['snr_db']:g} dB, "
              f"{doc['seeds']} seeds each, model `{doc['model']}`."]
    return "\n".join(lines)


def _render_classic_summary(path: Path) -> str:
    """The same measurement on many photos, summarised: mean, worst, and which fall under 22 dB."""
    doc = json.loads(path.read_text())
    psnrs = {Path(ph["photo"]).stem: ph["psnr_db"]["mean"] for ph in doc["photos"]}
    chroma = {Path(ph["photo"]).stem: ph["chroma_ratio"]["mean"] for ph in doc["photos"]}
    worst, pale = min(psnrs, key=psnrs.get), min(chroma, key=chroma.get)
    under = ", ".join(f"{k} {v:.1f}" for k, v in psnrs.items() if v < 22.0) or "none"
    return (f"{len(psnrs)} photos, {doc['size']}×{doc['size']} crops, {doc['channel'].upper()} {doc['snr_db']:g} dB, "
            f"{doc['seeds']} seeds each, model `{doc['model']}`: PSNR mean {sum(psnrs.values()) / len(psnrs):.2f} dB, "
            f"worst {worst} {psnrs[worst]:.2f} dB; under 22 dB: {under}. Chroma ratio mean "
            f"{sum(chroma.values()) / len(chroma):.2f}, lowest {pale} {chroma[pale]:.2f}.")


def _render_outage(path: Path) -> str:
    """Per channel and mean SNR: runs with no image before issue 21 (``outage_before.json``), with its
    first receiver changes alone (``outage_receiver_only.json``), with the receiver of 786e975 on the
    same runs (``outage_receiver_786e975.json``: no image decoded), with the receiver and waveform of
    d876dd7 (``outage_d876dd7.json``: no stream head) and now (``path``, its cells summarised again
    from its runs by this code's ``diffradio.outage.summarise``), the causes now, the mean PSNR of the
    images that arrived and of the genie's, the share of images where the genie's reaches its useful
    PSNR (d876dd7's and now, each on its own runs) and the share of images that reach it too (now);
    then the control plane's side figures of the run."""
    from diffradio.outage import summarise

    now = json.loads(path.read_text())
    older = [json.loads((RESULTS / name).read_text()) for name in
             ("outage_before.json", "outage_receiver_only.json", "outage_receiver_786e975.json", "outage_d876dd7.json")]
    cells = [{(c["channel"], c["snr_db"]): c for c in doc["cells"]} for doc in older]
    cells.append({(c["channel"], c["snr_db"]): c for c in summarise(now["runs"])})   # with this code's shares
    pct = lambda x: "–" if x is None else f"{100 * x:.0f} %"
    lines = ["| channel | mean SNR | runs | no image: before | receiver only | 786e975 | d876dd7 | "
             "now (no frame / no descriptor) | PSNR of images now | genie PSNR | image where genie ≥ "
             f"{now['genie_useful_db']:g} dB: d876dd7 → now | image ≥ {now['genie_useful_db']:g} dB there now |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(cells[-1], key=lambda k: (k[0], k[1])):
        *old, c = (cell.get(key) for cell in cells)
        share = pct(c["image_where_genie_useful"])
        lines.append(f"| {key[0].upper()} | {key[1]:g} dB | {c['runs']} | "
                     + " | ".join(pct(o["no_image"]) if o else "–" for o in old) + " | "
                     f"{pct(c['no_image'])} ({pct(c['no_frame'])} / {pct(c['no_descriptor'])}) | "
                     f"{'–' if c['psnr_db_mean'] is None else format(c['psnr_db_mean'], '.1f') + ' dB'} | "
                     f"{c['genie_psnr_db_mean']:.1f} dB | "
                     f"{pct(old[3]['image_where_genie_useful']) if old[3] else '–'} → {share} | "
                     f"{pct(c['useful_image_where_genie_useful'])} |")
    fa, foreign, speed = now["false_alarms"], now["foreign_80211a"], now["speed"]
    heads = (f", {fa['head_detections_per_1e6']:g} stream-head detections per 10^6" if "head_detections_per_1e6" in fa
             else "")
    lines.append("")
    lines.append(f"Same run: {fa['false_alarms_per_1e6']:g} false alarms (LTF-confirmed bursts) per 10^6 noise samples "
                 f"({fa['noise_samples']:.0e} samples, {fa['stf_triggers_per_1e6']:.1f} STF triggers per 10^6{heads}), "
                 f"{foreign['frames_out']} frames out of {foreign['bursts']} 802.11a bursts at {foreign['snr_db']:g} dB "
                 f"({foreign['ltf_confirmed']} LTF-confirmed"
                 + (f", {foreign['header_cfo_tries']} header CFO hypotheses tried on them" if "header_cfo_tries" in foreign
                    else "")
                 + (f", {foreign['head_detections']} stream-head detections" if "head_detections" in foreign else "")
                 + f"), receiver {speed['rx_msps']:.1f} MS/s = "
                 f"{speed['realtime_factor']:.1f}× real time in CPU time ({speed['rx_cpu_ms_per_frame']:.3f} ms per "
                 f"48-symbol frame; noise alone {speed['rx_msps_noise_only']:.0f} MS/s).")
    return "\n".join(lines)


def _criteria_means(quality: dict, row: str, sharpened: str) -> tuple[dict, dict, dict, float]:
    """Metric means (metric -> mean) of ``direct``, ``row`` and its sharpened direct ``sharpened`` in one
    cell's ``quality`` of a bench-style file, and issue 18's high-frequency target for the cell
    (direct's deficit |1 - ratio| cut by a third)."""
    d, x, u = ({m: v["mean"] for m, v in quality[k].items()} for k in ("direct", row, sharpened))
    return d, x, u, 1 - 2 / 3 * abs(1 - d["hf_ratio"])


def _render_prior_validation(path: Path) -> str:
    """Per realism and issue-18 cell of ``experiments/prior_validation.py``'s file: PSNR (dB) against
    direct's, MS-SSIM, GMSD against the sharpened direct's, the high-frequency energy ratio against
    direct's and the target, and how many of the four criteria hold."""
    result = json.loads(path.read_text())
    cand = next(iter(result["candidates"].values()))
    keys = ("psnr_within_1db", "ms_ssim_within_0.01", "hf_deficit_cut_by_a_third", "gmsd_below_sharpened_direct")
    cells = ("1/24 awgn 0 dB", "1/48 awgn 5 dB", "1/24 lost 25% tiles, awgn 5 dB")
    lines = ["| realism | " + " | ".join(cells) + " | criteria met |", "|---|" + "---|" * (len(cells) + 1)]
    for realism, r in cand["realisms"].items():
        row, met = [], 0
        for cell in cells:
            d, x, u, target = _criteria_means(r["quality"][cell], f"diffusion r={realism}", "direct+unsharp")
            row.append(f"{x['psnr_db']:.2f} ({x['psnr_db'] - d['psnr_db']:+.2f}) / {x['ms_ssim']:.3f} "
                       f"({x['ms_ssim'] - d['ms_ssim']:+.3f}) / GMSD {x['gmsd']:.3f} vs {u['gmsd']:.3f} / "
                       f"HF {x['hf_ratio']:.2f} (direct {d['hf_ratio']:.2f}, target {target:.2f})")
            met += sum(r["criteria"][cell][k] for k in keys)
        lines.append(f"| {realism} | " + " | ".join(row) + f" | {met} of {4 * len(cells)} |")
    clean = result["decoders_on_clean_latents"]
    lines.append("")
    lines.append(f"{len(result['photos'])} validation photos (512×512 centre crops), {result['seeds']} noise seeds, "
                 f"{result['steps']} steps; PSNR dB (against direct) / MS-SSIM (against direct) / GMSD against "
                 f"direct sharpened to the row's PSNR / high-frequency energy ratio. Chosen default realism: "
                 f"{cand['chosen_realism']}. Unsent latents through the codec's decoder: "
                 f"{clean['fine-tuned']['psnr_db']:.2f} dB, HF {clean['fine-tuned']['hf_ratio']:.2f}; through the "
                 f"published TAEF2 decoder: {clean['published']['psnr_db']:.2f} dB, "
                 f"HF {clean['published']['hf_ratio']:.2f}.")
    return "\n".join(lines)


def _render_realism_blend(path: Path) -> str:
    """Per row of ``experiments/realism_blend.py``'s file (the posterior mean, the realism knob, blends
    of the mean with a posterior sample) and issue-18 cell: PSNR and MS-SSIM against direct's, GMSD
    against direct sharpened to the row's PSNR, the high-frequency energy ratio, criteria met."""
    result = json.loads(path.read_text())
    cells = list(result["cells"])
    lines = ["| row | " + " | ".join(cells) + " | criteria met |", "|---|" + "---|" * (len(cells) + 1)]
    for row in result["rows"][1:]:
        parts = []
        for cell in cells:
            d, x, u, target = _criteria_means(result["cells"][cell]["quality"], row, f"direct+unsharp to {row}")
            parts.append(f"{x['psnr_db'] - d['psnr_db']:+.2f} dB / {x['ms_ssim'] - d['ms_ssim']:+.3f} / GMSD "
                         f"{x['gmsd']:.3f} vs {u['gmsd']:.3f} / HF {x['hf_ratio']:.2f} (target {target:.2f})")
        lines.append(f"| {row} | " + " | ".join(parts) + f" | {result['criteria_met'][row]} of {4 * len(cells)} |")
    lines.append("")
    lines.append(f"{len(result['photos'])} validation photos (512×512 centre crops), {result['seeds']} noise seeds, "
                 f"{result['steps']} sampler steps; PSNR and MS-SSIM against direct / GMSD against direct "
                 f"sharpened to the row's PSNR / high-frequency energy ratio.")
    return "\n".join(lines)


TABLES = {
    "prior-validation": (RESULTS / "prior_validation.json", _render_prior_validation),
    "prior-validation-shipped": (RESULTS / "prior_validation_pixel.json", _render_prior_validation),
    "prior-validation-adapted": (RESULTS / "prior_validation_v8_checkpoint.json", _render_prior_validation),
    "prior-validation-pixel-times": (RESULTS / "prior_validation_pixel_times.json", _render_prior_validation),
    "prior-validation-pixel-times-msssim": (RESULTS / "prior_validation_pixel_times_msssim.json",
                                            _render_prior_validation),
    "realism-blend": (RESULTS / "realism_blend.json", _render_realism_blend),
    "realism-blend-pixel": (RESULTS / "realism_blend_pixel.json", _render_realism_blend),
    "decoder-kodak-diffusion": (RESULTS / "decoder_bench_kodak_diffusion.json", _render_decoder),
    "decoder-kodak-diffusion-1-48": (RESULTS / "decoder_bench_kodak_diffusion_1_48.json", _render_decoder),
    "outage": (RESULTS / "outage.json", _render_outage),
    "decoder-heldout": (RESULTS / "decoder_bench_heldout.json", _render_decoder),
    "decoder-kodak": (RESULTS / "decoder_bench_kodak.json", _render_decoder),
    "decoder-kodak-ratios": (RESULTS / "decoder_bench_kodak_ratios.json", _render_decoder),
    "sweep": (RESULTS / "sweep_summary.csv", _render_sweep),
    "sweep-paired": (RESULTS / "sweep_paired.csv", _render_paired),
    "mcs": (ROOT / "phy" / "data" / "mcs_thresholds.json", _render_mcs),
    "phy": (RESULTS / "phy_bench.json", _render_phy),
    "broadcast": (RESULTS / "broadcast.json", _render_broadcast),
    "digital-vs-jpeg": (RESULTS / "digital_vs_jpeg.json", _render_digital_vs_jpeg),
    "cold-start": (RESULTS / "cold_start.json", _render_cold_start),
    "classic": (RESULTS / "classic_images.json", _render_classic),
    "classic-kodak": (RESULTS / "classic_kodak.json", _render_classic_summary),
}
_BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def render(text: str) -> tuple[str, list[str]]:
    """(README text with every marked block regenerated, names of blocks whose content changed).

    Raises ValueError for a block whose name is not in ``TABLES``."""
    changed = []

    def replace(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise ValueError(f"README block table:{name} has no generator; add it to TABLES in {__file__}")
        path, fn = TABLES[name]
        body = fn(path) + "\n"
        if body != m.group("body"):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return _BLOCK.sub(replace, text), changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if a block differs from its result file")
    args = p.parse_args(argv)
    readme = Path(args.readme)
    text, changed = render(readme.read_text())
    if args.check:
        for name in changed:
            print(f"README table {name} does not match {TABLES[name][0].relative_to(ROOT)}; "
                  "run python experiments/readme_tables.py", file=sys.stderr)
        return 1 if changed else 0
    readme.write_text(text)
    print(f"regenerated: {', '.join(changed) or 'nothing changed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
