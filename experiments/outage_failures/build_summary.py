"""Collect the diagnosis into out/outage_failures/summary.json."""
import json, collections
import numpy as np
D = 'out/outage_failures/'
O = json.load(open('docs/results/outage.json'))
rep = json.load(open(D + 'repro.json'))
gen = json.load(open(D + 'genie.json'))['runs']
det = json.load(open(D + 'detect.json'))
fal = json.load(open(D + 'falarm.json'))
f5 = json.load(open(D + 'fixes5.json'))
f5s = json.load(open(D + 'fixes5_simple.json'))
fx = {n: json.load(open(D + n + '.json')) for n in ('fixes', 'fixes2', 'fixes3', 'fixes4', 'fixes6')}

cells = {(c['channel'], c['snr_db']): c for c in O['cells']}
per = {}
for n, d in fx.items():
    for r in d['runs']:
        k = (r['channel'], r['snr_db'], r['seed'])
        for v, x in r.items():
            if isinstance(x, dict) and 'image' in x:
                per.setdefault(k, {})[v] = bool(x['image'])
for r in gen:
    k = (r['channel'], r['snr_db'], r['seed'])
    for v in ('gt_ecfo', 'gt_gcfo', 'ghdr'):
        per[k][v] = bool(r[v]['image'])
variants = sorted({v for d in per.values() for v in d})


def cell_rate(v, ch, snr):
    c = cells[(ch, snr)]
    u = c['genie_useful_runs']
    fail = round(u * (1 - c['image_where_genie_useful']))
    fixed = sum(per[k].get(v, False) for k in per if k[0] == ch and k[1] == snr)
    return dict(useful=u, failing=fail, fixed=fixed, image_where_genie_useful=round((u - fail + fixed) / u, 3))


stages = collections.Counter(b['stage'] for r in rep for b in r['bursts'])
stages_desc = collections.Counter(b['stage'] for r in rep for b in r['bursts'] if b['index'] in (0, 5))
stages5 = collections.Counter(b['stage'] for r in rep if r['snr_db'] == -5.0 for b in r['bursts'])
tim = collections.Counter(b['ltf_timing_err'][0] for r in rep for b in r['bursts'] if b['ltf_timing_err'])
ecfo = np.array([r['est_cfo_at_true_timing_hz'] for r in gen])
need = collections.Counter(str(p) for r in det['runs'] for p in r['min_pfa_to_trigger'])
need_desc = collections.Counter(str(p) for r in det['runs'] for i, p in enumerate(r['min_pfa_to_trigger']) if i in (0, 5))
ltfp = np.array([r['ltf_peak_true_cfo'] for r in det['runs']])
zg = np.array([r['z_true_header_genie'] for r in gen])
llr = [b for r in fx['fixes']['runs'] for b in r['llr']]
summary = dict(
    scope="the 32 runs of docs/results/outage.json with genie_psnr_db >= 15 and no image (22 of them in the -5 dB cells); "
          "all reproduced with the same cause and frames_detected (repro.json)",
    reproduced=sum(r['cause'] == r['json_cause'] and r['frames_detected'] == r['json_frames_detected'] for r in rep),
    per_burst_stage_all_192=dict(stages), per_burst_stage_descriptor_64=dict(stages_desc),
    per_burst_stage_minus5_132=dict(stages5),
    descriptor_crc_failures_after_header_ok=0,
    ltf_timing_error_samples_when_confirmed=dict(sorted(tim.items())),
    cfo_error_at_true_timing_hz=dict(rms=float(np.sqrt((ecfo ** 2).mean())), median_abs=float(np.median(abs(ecfo))),
                                     frac_over_1kHz=float((abs(ecfo) > 1000).mean()), frac_over_2kHz=float((abs(ecfo) > 2000).mean())),
    detection=dict(min_stf_pfa_to_trigger_all_bursts=dict(need), descriptor_bursts=dict(need_desc),
                   threshold_rel_db=det['thresholds_rel_db'], ltf_threshold=det['ltf_threshold'],
                   ltf_peak_true_timing_cfo0_below_threshold=float((ltfp < det['ltf_threshold']).mean())),
    header=dict(
        z_true_header_receiver_eq_genie_sync=dict(median=float(np.median(zg)), frac_below_6=float((zg < 6).mean()),
                                                   frac_below_2=float((zg < 2).mean())),
        z_ideal_csi_median=float(np.median([b['ideal']['z'] for b in llr])),
        z_ls_no_tracking_median=float(np.median([b['ls_notrack']['z'] for b in llr])),
        z_receiver_eq_median=float(np.median([b['rx_eq']['z'] for b in llr])),
        golay_crc_alone_pass=dict(ideal_csi=sum(b['ideal']['golay_crc'] for b in llr),
                                  ls_no_tracking=sum(b['ls_notrack']['golay_crc'] for b in llr),
                                  receiver_eq=sum(b['rx_eq']['golay_crc'] for b in llr), of=len(llr))),
    false_alarms_noise_5e6=fal,
    fix_images_of_32={v: sum(per[k].get(v, False) for k in per) for v in variants},
    fix_images_of_22_at_minus5={v: sum(per[k].get(v, False) for k in per if k[1] == -5.0) for v in variants},
    fix_cell_rates={v: {f"{ch} {snr:+.0f}": cell_rate(v, ch, snr) for ch in ('tdl-c', 'rayleigh') for snr in (-5.0, 0.0, 5.0, 10.0)}
                    for v in variants},
    headerless_descriptor_image_quality=dict(
        psnr_db_descriptor_only=f5[0]['psnr_db_descriptor_only'] if f5 else None,
        psnr_db_with_payload_frames_if_stream_heard=[round(r['psnr_db_if_heard'], 2) for r in f5],
        psnr_db_with_payload_frames_if_stream_heard_simple_eq=[round(r['psnr_db_if_heard'], 2) for r in f5s],
        payload_frames_if_stream_heard=[r['payload_frames_if_heard'] for r in f5],
        payload_frames_if_stream_heard_simple_eq=[r['payload_frames_if_heard'] for r in f5s],
        genie_psnr_db_of_these=[round(r['genie_psnr_db'], 2) for r in f5],
        descriptor_header_decodes_after_68_symbol_fit=sum(r['header_ok'] for r in f5), of=len(f5)),
    per_run=[dict(channel=k[0], snr_db=k[1], seed=k[2], **v) for k, v in per.items()],
)
json.dump(summary, open(D + 'summary.json', 'w'), indent=1, default=str)
print(json.dumps({k: summary[k] for k in summary if k not in ('per_run', 'fix_cell_rates')}, indent=1, default=str)[:6000])
for v in ('hl', 'hl_all_triggers+fa0.001', 'hl_all_triggers+fa0.01', 'hl+gt_timing'):
    if v in summary['fix_cell_rates']:
        print(v, {c: x['image_where_genie_useful'] for c, x in summary['fix_cell_rates'][v].items()})
