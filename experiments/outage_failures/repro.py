"""Step 1+2: rerun the failing useful runs of docs/results/outage.json through the real receiver
(diffradio.link.receive, as diffradio/outage.py does), check the cause reproduces, and log per burst
which stage lost it (STF trigger, LTF confirmation / timing / CFO, header, descriptor CRC)."""
import json, sys, functools
import numpy as np
import common
from common import P
import phy.rx as R
from phy.sync import stf_span
from phy.preamble import stf_length
from diffradio import link
from diffradio.link import LinkError, images, receive
from diffradio.settings import ReceiveOptions

LAG, W = stf_span(P)
LOG = {}
_orig_ltf = R.ltf_search
_orig_detect = R.Receiver._detect


def _ltf(x, lo, hi, cands, p, fa, fpf=0.5, *, dc=0j):
    res = _orig_ltf(x, lo, hi, cands, p, fa, fpf, dc=dc)
    off = LOG['rx']._offset
    LOG['ltf'].append(dict(lo=off + lo, hi=off + hi, cands=list(cands),
                           first_ltf=None if res is None else off + res.first_ltf,
                           cfo=None if res is None else res.cfo_hz, metric=None if res is None else res.metric))
    return res


def _detect(self):
    n0 = len(self._bursts)
    _orig_detect(self)
    LOG['trig'] += [b.trigger for b in self._bursts[n0:]]


def patch(fa=1e-4, ltf_fa=1e-2):
    R.ltf_search = _ltf
    R.Receiver._detect = _detect
    R.LTF_FALSE_ALARM = ltf_fa
    link.Receiver = functools.partial(R.Receiver, false_alarm_prob=fa)


def run_one(t, channel, snr, seed, fa=1e-4, ltf_fa=1e-2):
    patch(fa, ltf_fa)
    cfg, lead = common.setup(channel, snr, seed)
    LOG.clear(); LOG.update(ltf=[], trig=[])
    orig_init = R.Receiver.__init__

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        LOG['rx'] = self
    R.Receiver.__init__ = init
    try:
        run = receive(common.radio(t, cfg, lead), P, ReceiveOptions(keep=1 << 22))
    finally:
        R.Receiver.__init__ = orig_init
    try:
        images(run, first_only=True)
        cause = None
    except LinkError:
        cause = "no_frame" if not run.assembler.frames_detected else "no_descriptor"
    firsts = common.true_first_ltfs(t, lead)
    bursts = []
    for k, fl in enumerate(firsts):
        s = fl - P.n_fft // 2 - stf_length(P)
        trig = [d for d in LOG['trig'] if s - W - LAG - 64 <= d <= s + stf_length(P)]
        ltfs = [e for e in LOG['ltf'] if e['first_ltf'] is not None and abs(e['first_ltf'] - fl) <= 200]
        fr = [f for f in run.frames if abs(f.start_sample - s) <= P.n_cp]
        b = dict(index=k, triggered=bool(trig), n_triggers=len(trig),
                 ltf_confirmed=bool(ltfs),
                 ltf_timing_err=[e['first_ltf'] - fl for e in ltfs],
                 ltf_cfo_hz=[round(e['cfo'], 1) for e in ltfs],
                 ltf_metric=[round(e['metric'], 4) for e in ltfs],
                 frame=bool(fr), mode=fr[0].header.mode if fr else None,
                 crc_ok=bool(fr[0].crc_ok) if fr and fr[0].header.mode == 'control' else None,
                 frame_snr_db=round(fr[0].snr_db, 2) if fr else None)
        if not trig:
            b['stage'] = 'no_trigger'
        elif not ltfs:
            b['stage'] = 'ltf_rejected'
        elif not fr:
            b['stage'] = 'header_failed'
        elif k in (0, len(firsts) - 1) and not b['crc_ok']:
            b['stage'] = 'descriptor_crc'
        else:
            b['stage'] = 'ok'
        bursts.append(b)
    return dict(channel=channel, snr_db=snr, seed=seed, cause=cause, frames_detected=run.assembler.frames_detected,
                stats=dict(LOG['rx'].stats), bursts=bursts, lead=lead,
                stray_frames=len(run.frames) - sum(b['frame'] for b in bursts)), run


if __name__ == "__main__":
    t = common.transmission()
    out = []
    for r in common.failing_runs():
        row, run = run_one(t, r['channel'], r['snr_db'], r['seed'])
        row.update(json_cause=r['cause'], json_frames_detected=r['frames_detected'],
                   realisation_snr_db=r['realisation_snr_db'], genie_psnr_db=r['genie_psnr_db'])
        out.append(row)
        print(r['channel'], r['snr_db'], r['seed'], 'json', r['cause'], r['frames_detected'], 'now', row['cause'],
              row['frames_detected'], ' '.join(b['stage'] for b in row['bursts']), flush=True)
    json.dump(out, open('out/outage_failures/repro.json', 'w'), indent=1)
