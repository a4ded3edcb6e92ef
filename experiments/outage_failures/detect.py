"""Detection margins of each burst of the failing runs: the lowest STF false-alarm probability per
sample at which phy.sync.stf_detect (both tests, the receiver's front end and noise-floor tracker,
whole stream from index 0) fires within the burst's trigger range, the coherent test's threshold in dB
there relative to the shipped 1e-4 one; the LTF test at the true timing: the normalised correlation
peak (ltf_search with a huge false-alarm budget) against the shipped threshold."""
import json
import numpy as np
import common
from common import P
import repro
from phy.sync import stf_detect, stf_threshold, FloorTracker, FrontEnd, STF_BLOCK, ltf_search, beta_threshold, stf_span, cfo_hypotheses
from phy.kernels import ltf_peak
from phy.sync import _ltf_template
from phy.preamble import stf_length

LAG, W = stf_span(P)
PFAS = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1)
T0 = stf_threshold(P, 1e-4)


def ltf_peak_at(x, fl, cfo):
    n = P.n_fft
    sym, e = _ltf_template(P)
    lo, hi = fl - 40, fl + 40
    seg = x[lo: hi + 2 * n]
    peak, k, fine, n_pos, at = ltf_peak(seg, 0j, -2 * np.pi * cfo / P.sample_rate_hz, sym, e, 0.5, P.n_cp // 2, P.n_cp // 4)
    return float(peak), lo + int(k) - fl


if __name__ == "__main__":
    t = common.transmission()
    thr_ltf = beta_threshold(2 * P.n_fft, 1e-2 / (W + 2 * LAG + 2 * P.n_cp))   # ~ the receiver's (1 CFO hypothesis)
    out = []
    for r in common.failing_runs():
        _, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
        x = run.head
        fe = FrontEnd(STF_BLOCK)
        det = fe(x, 0)
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        firsts = common.true_first_ltfs(t, lead)
        need = [None] * 6
        for pfa in PFAS:
            hits, _ = stf_detect(det, P, stf_threshold(P, pfa), 0, 0, 0, FloorTracker())
            for k, fl in enumerate(firsts):
                s = fl - P.n_fft // 2 - stf_length(P)
                if need[k] is None and np.any((hits >= s - W - LAG - 64) & (hits <= s + stf_length(P))):
                    need[k] = pfa
        ltf = [ltf_peak_at(x, fl, 0.0) for fl in firsts]
        row = dict(channel=r['channel'], snr_db=r['snr_db'], seed=r['seed'], realisation_snr_db=r['realisation_snr_db'],
                   min_pfa_to_trigger=need, ltf_peak_true_cfo=[round(p, 4) for p, _ in ltf], ltf_threshold=round(thr_ltf, 4))
        out.append(row)
        print(r['channel'], r['snr_db'], r['seed'], round(r['realisation_snr_db'], 2), 'pfa', need, 'ltf', row['ltf_peak_true_cfo'], flush=True)
    thr = {f"{p:g}": [round(10 * np.log10(stf_threshold(P, p)[2] / T0[2]), 2), round(stf_threshold(P, p)[0] / T0[0], 3)] for p in PFAS}
    print('coherent/auto thresholds rel. to 1e-4 (dB, ratio):', thr, 'ltf thr', thr_ltf)
    json.dump(dict(thresholds_rel_db=thr, ltf_threshold=thr_ltf, runs=out), open('out/outage_failures/detect.json', 'w'), indent=1)
