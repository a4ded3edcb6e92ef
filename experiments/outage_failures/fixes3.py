"""Fix (f): the header's CFO. With genie timing and the no-tracking header equaliser (fixes2), the true
CFO gives 23/32 images but each burst's own preamble CFO estimate only 8/32. Options, all with the
simple header equaliser:
  gt+stream_mean   : genie timing; CFO = mean of the bursts' preamble CFO estimates (the stream's
                     frames share one transmitter/receiver oscillator pair)
  gt+stream_pooled : genie timing; CFO from the lag-n_fft products of all the bursts' preambles summed
                     (phy.sync.preamble_cfo's statistic pooled over the stream)
  gt+dense_search  : genie timing, per-burst CFO; header CFO retries on a 4x finer grid
                     (HEADER_CFO_STEP 1/128 = 244 Hz, steps +-1..+-12: same +-2.9 kHz reach)
  gt+wide_search   : steps of 1/64 (488 Hz) over +-16 (+-7.8 kHz)
Real-receiver emulations (detection, LTF sync as they are):
  rx+pooled        : two passes: pass 1 collects the LTF-confirmed bursts (timing, CFO, metric); their
                     preamble lag products, weighted as they come, pooled into one CFO; pass 2 runs the
                     receiver with every LTF confirmation's CFO replaced by it (what a receiver that
                     re-decodes its parked headers with a stream CFO would get)
  rx+pooled+fa1e-2, rx+dense, rx+pooled+dense
"""
import json, math
import numpy as np
import common
from common import P
import phy.rx as R
import phy.sync as S
from phy.kernels import lag_products
from phy.preamble import stf_length
import repro, genie, fixes, fixes2
from phy.sync import preamble_cfo, LtfSync


def acc_at(x, fl, dc=0j):
    n = P.n_fft
    gi = fl - n // 2
    stf0 = gi - stf_length(P)
    spans = np.array([[stf0 + S.PREAMBLE_SKIP, stf0 + stf_length(P) - n], [gi + S.PREAMBLE_SKIP, fl + n]])
    return lag_products(np.asarray(x, np.complex64), spans, n, complex(dc))


def cfo_of(acc):
    return math.atan2(acc.imag, acc.real) / (2 * math.pi * P.n_fft) * P.sample_rate_hz


def search(step, steps):
    R.HEADER_CFO_STEP, R.HEADER_CFO_STEPS = step, steps


def nosearch():
    search(1 / 32, (-1, 1, -2, 2, -3, 3))


DENSE = (1 / 128, tuple(s for k in range(1, 13) for s in (-k, k)))
WIDE = (1 / 64, tuple(s for k in range(1, 17) for s in (-k, k)))


def run_pooled(t, r, fa=1e-4, dense=False):
    """Two-pass emulation of a stream-pooled CFO in the real receiver."""
    fixes2.install_simple_eq()
    try:
        if dense:
            search(*DENSE)
        fixes.run_variant(t, r, fa=fa)
        conf = [e for e in repro.LOG['ltf'] if e['first_ltf'] is not None]
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        _, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'], fa=fa)
        x = run.head
        seen, acc = set(), 0j
        for e in conf:
            if e['first_ltf'] in seen:
                continue
            seen.add(e['first_ltf'])
            acc += acc_at(x, e['first_ltf'])
        pooled = cfo_of(acc) if acc != 0 else None
        orig = repro._orig_ltf

        def ltf_fixed(*a, **k):
            res = orig(*a, **k)
            return res if res is None or pooled is None else LtfSync(res.first_ltf, pooled, res.metric)
        repro._orig_ltf = ltf_fixed
        try:
            out = fixes.run_variant(t, r, fa=fa)
        finally:
            repro._orig_ltf = orig
        out['pooled_cfo_hz'] = pooled
        out['n_pooled'] = len(seen)
        return out
    finally:
        fixes2.uninstall_simple_eq()
        nosearch()


if __name__ == "__main__":
    t = common.transmission()
    rows = []
    for r in common.failing_runs():
        res = common.run_record(r)
        _, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        firsts = common.true_first_ltfs(t, lead)
        x = run.head
        accs = [acc_at(x, fl) for fl in firsts]
        per = [cfo_of(a) for a in accs]
        mean_cfo, pooled = float(np.mean(per)), cfo_of(sum(accs))
        res['cfo_err_hz'] = dict(per_burst=[round(v) for v in per], stream_mean=round(mean_cfo), stream_pooled=round(pooled))
        fixes2.install_simple_eq()
        try:
            for name, cfos, srch in (('gt+stream_mean', [mean_cfo] * 6, None), ('gt+stream_pooled', [pooled] * 6, None),
                                     ('gt+dense_search', per, DENSE), ('gt+wide_search', per, WIDE),
                                     ('gt+pooled+dense', [pooled] * 6, DENSE)):
                if srch:
                    search(*srch)
                res[name] = genie.inject(genie.make_rx(x), firsts, cfos)
                nosearch()
            search(*DENSE)
            res['rx+dense'] = fixes.run_variant(t, r)
            nosearch()
        finally:
            fixes2.uninstall_simple_eq()
            nosearch()
        res['rx+pooled'] = run_pooled(t, r)
        res['rx+pooled+fa1e-2'] = run_pooled(t, r, fa=1e-2)
        res['rx+pooled+dense'] = run_pooled(t, r, dense=True)
        rows.append(res)
        keys = [k for k in res if isinstance(res[k], dict) and 'image' in res[k]]
        print(r['channel'], r['snr_db'], r['seed'], r['cause'], round(r['realisation_snr_db'], 2), res['cfo_err_hz'],
              {k: res[k]['image'] for k in keys}, flush=True)
    keys = [k for k in rows[0] if isinstance(rows[0][k], dict) and 'image' in rows[0][k]]
    tot = {k: sum(r[k]['image'] for r in rows) for k in keys}
    tot5 = {k: sum(r[k]['image'] for r in rows if r['snr_db'] == -5.0) for k in keys}
    print('images of', len(rows), tot)
    print('images of -5 dB', sum(r['snr_db'] == -5.0 for r in rows), tot5)
    json.dump(dict(totals=tot, totals_minus5=tot5, runs=rows), open('out/outage_failures/fixes3.json', 'w'), indent=1)
