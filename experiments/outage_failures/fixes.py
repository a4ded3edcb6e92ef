"""Step 3: what each candidate fix buys on the failing useful runs (images out of N), same samples.

Variants of the real receiver (diffradio.link.receive, patched from outside):
  fa1e-3, fa1e-2      : STF false-alarm probability per sample 1e-3 / 1e-2 instead of 1e-4 (threshold lowered)
  ltf1e-1             : LTF test at 1e-1 per search instead of 1e-2
  fa1e-2+ltf1e-1
  heard               : the stream (stream id, nonce, frame count) known to the receiver from the start
                        (rx._hear of one of its payload headers): the upper bound of combining the
                        header fields shared by all frames (match_headers against the stream's few candidates)
  fa1e-2+heard
Genie-sync variants (genie.inject): gt_gcfo+heard, gt_ecfo+heard.
Also per burst: header-LLR z-score of the true header with ideal CSI (true H, CFO 0), with the
LTF-smoothed LS channel and no phase tracking, and the receiver's header equaliser; Golay+CRC alone for each.
"""
import json, functools, dataclasses
import numpy as np
import common
from common import P
import repro, genie
import phy.rx as R
from phy.rx import Receiver
from diffradio import link
from phy.header import encode_header, decode_headers_bits, n_header_symbols
from phy.ofdm import fft_windows, layout
from phy.frame import window_offsets
from phy.preamble import ltf_freq
from phy.equalizer import smoother
from phy.modulation import demap_llr

NH = n_header_symbols(P)


def run_variant(t, r, fa=1e-4, ltf_fa=1e-2, heard=None):
    orig = R.Receiver.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        repro.LOG['rx'] = self
        if heard is not None:
            self._hear(heard)
    try:
        repro.patch(fa, ltf_fa)
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        repro.LOG.clear(); repro.LOG.update(ltf=[], trig=[])
        R.Receiver.__init__ = init
        run = link.receive(common.radio(t, cfg, lead), P, link.ReceiveOptions(keep=1 << 22)) \
            if hasattr(link, 'ReceiveOptions') else None
    finally:
        R.Receiver.__init__ = orig
        R.LTF_FALSE_ALARM = 1e-2
    ok = bool(run.assembler.images())
    return dict(image=ok, frames=run.assembler.frames_detected)


def llr_variants(t, r, hbits):
    """z-scores and Golay+CRC of each burst's header under ideal CSI / LS-LTF no tracking / receiver eq."""
    cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
    clean, sigma2, _ = common.clean_and_noisy(t, cfg, lead)
    _, x = None, None
    row, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
    x = run.head
    firsts = common.true_first_ltfs(t, lead)
    _, data_pos, _ = layout(P)
    proj_t, _, _ = smoother(P)
    from phy.ofdm import used_subcarriers
    used = used_subcarriers(P) % P.n_fft
    out = []
    rx = genie.make_rx(x)
    for fl, hb in zip(firsts, hbits):
        starts = fl - P.n_cp // 4 + window_offsets(P, NH)      # LTF x2 then header symbols, as the receiver
        ltfc = fft_windows(P, clean, starts[:2]).mean(axis=0)
        h = ltfc / ltf_freq(P)
        y = fft_windows(P, x, starts)
        res = {}
        # ideal CSI
        hd = h[data_pos]
        yh = y[2:, data_pos]
        llr_ideal = (4 * np.real(yh * np.conj(hd)) / sigma2).reshape(-1)
        # LS-LTF smoothed, no phase tracking, noise var known
        ls = (y[:2].mean(axis=0) / ltf_freq(P))
        hs = proj_t.T @ ls                         # projection P @ h (used subcarriers)
        hsd = hs[data_pos]
        llr_ls = (4 * np.real(yh * np.conj(hsd)) / sigma2).reshape(-1)
        llr_rx = genie.header_llr(rx, fl, 0.0)
        for name, l in (('ideal', llr_ideal), ('ls_notrack', llr_ls), ('rx_eq', llr_rx)):
            # the receiver's LLR convention: log P(1)/P(0); BPSK maps bit 1 -> +1? check sign with ideal
            res[name] = dict(z=round(genie.zscore(l, hb), 2),
                             golay_crc=decode_headers_bits(np.asarray(l, float)[None], P)[0][0] is not None)
        out.append(res)
    return out


if __name__ == "__main__":
    t = common.transmission()
    hdrs = genie.true_headers(t)
    hbits = [encode_header(h, P) for h in hdrs]
    variants = {'baseline': {}, 'fa1e-3': dict(fa=1e-3), 'fa1e-2': dict(fa=1e-2), 'ltf1e-1': dict(ltf_fa=1e-1),
                'fa1e-2+ltf1e-1': dict(fa=1e-2, ltf_fa=1e-1), 'heard': dict(heard=hdrs[1]),
                'fa1e-2+heard': dict(fa=1e-2, heard=hdrs[1])}
    rows = []
    for r in common.failing_runs():
        res = common.run_record(r)
        for name, kw in variants.items():
            res[name] = run_variant(t, r, **kw)
        row, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        firsts = common.true_first_ltfs(t, lead)
        for name, cfo in (('gt_gcfo+heard', None), ('gt_ecfo+heard', 'est')):
            rx = genie.make_rx(run.head)
            cfos = [0.0] * 6 if cfo is None else [R.__dict__.get('preamble_cfo', None) or 0 for _ in firsts]
            if cfo == 'est':
                from phy.sync import preamble_cfo
                cfos = [preamble_cfo(rx._buf, fl, 0.0, P) for fl in firsts]
            rx._hear(hdrs[1])
            res[name] = genie.inject(rx, firsts, cfos)
        res['llr'] = llr_variants(t, r, hbits)
        rows.append(res)
        print(r['channel'], r['snr_db'], r['seed'], r['cause'], round(r['realisation_snr_db'], 2),
              {k: res[k]['image'] for k in list(variants) + ['gt_gcfo+heard', 'gt_ecfo+heard']}, flush=True)
        print('    z ideal', [b['ideal']['z'] for b in res['llr']], 'ls', [b['ls_notrack']['z'] for b in res['llr']],
              'rx', [b['rx_eq']['z'] for b in res['llr']])
        print('    golay ideal', sum(b['ideal']['golay_crc'] for b in res['llr']), 'ls',
              sum(b['ls_notrack']['golay_crc'] for b in res['llr']), 'rx', sum(b['rx_eq']['golay_crc'] for b in res['llr']))
    tot = {k: sum(r[k]['image'] for r in rows) for k in list(variants) + ['gt_gcfo+heard', 'gt_ecfo+heard']}
    tot5 = {k: sum(r[k]['image'] for r in rows if r['snr_db'] == -5.0) for k in tot}
    print('images of', len(rows), tot)
    print('images of -5 dB', sum(r['snr_db'] == -5.0 for r in rows), tot5)
    json.dump(dict(totals=tot, totals_minus5=tot5, runs=rows), open('out/outage_failures/fixes.json', 'w'), indent=1)
