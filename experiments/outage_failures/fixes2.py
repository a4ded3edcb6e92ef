"""Fix (e), found in step 2: the header's first-pass equaliser (phy.rx.Receiver._header_eq: LTF channel
+ a common-phase line fitted to the pilots) turns headers whose LLRs are fine with the plain
LTF channel into noise (z-score of the true header ~0 or negative). Replace it from outside by a
plain one: LTF LS estimate smoothed onto delay-limited channels (phy.equalizer.smoother), no phase
tracking (the receiver's CFO retries, which call the same _header_eq, then pick the CFO), noise
variance from the two LTF symbols' difference; the DD second pass is left as it is.
Then rerun the variants of fixes.py with it."""
import json, functools
import numpy as np
import common
from common import P
import phy.rx as R
from phy.equalizer import smoother
from phy.ofdm import layout
from phy.preamble import ltf_freq


class _Eq:
    def __init__(self, equalized, error_var):
        self.equalized, self.error_var = equalized, error_var


def simple_eq(y, known):
    proj_t, diag, _ = smoother(P)
    _, data_pos, _ = layout(P)
    ltf = ltf_freq(P)
    ls = y[:, :2].mean(axis=1) / ltf                       # (B, n_used)
    sigma2 = np.mean(np.abs(y[:, 0] - y[:, 1]) ** 2, axis=1) / 2   # per-subcarrier noise variance
    hs = ls @ proj_t                                        # P @ ls per row
    h = hs[:, data_pos]
    herr = sigma2[:, None] / 2 * diag[data_pos][None]        # estimate error variance (projected LS of 2 symbols)
    eq = y[:, 2:][:, :, data_pos] / h[:, None, :]
    var = (sigma2[:, None] + herr)[:, None, :] / np.maximum(np.abs(h[:, None, :]) ** 2, 1e-12)
    return _Eq(eq, np.broadcast_to(var, eq.shape).copy())


_saved = {}


def install_simple_eq():
    orig = R.Receiver.__init__
    _saved['init'] = orig

    def init(self, *a, **k):
        orig(self, *a, **k)
        self._header_eq = simple_eq
    R.Receiver.__init__ = init


def uninstall_simple_eq():
    R.Receiver.__init__ = _saved.pop('init')


if __name__ == "__main__":
    import repro, genie, fixes
    from phy.sync import preamble_cfo
    t = common.transmission()
    hdrs = genie.true_headers(t)
    variants = {'simple': {}, 'simple+fa1e-3': dict(fa=1e-3), 'simple+fa1e-2': dict(fa=1e-2),
                'simple+heard': dict(heard=hdrs[1]), 'simple+fa1e-2+heard': dict(fa=1e-2, heard=hdrs[1])}
    rows = []
    for r in common.failing_runs():
        res = common.run_record(r)
        # genie sync first (needs the unpatched receiver's samples only)
        row, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        firsts = common.true_first_ltfs(t, lead)
        install_simple_eq()
        try:
            for name, genie_cfo, heard in (('simple+gt_gcfo', True, False), ('simple+gt_ecfo', False, False),
                                           ('simple+gt_gcfo+heard', True, True)):
                rx = genie.make_rx(run.head)
                cfos = [0.0] * 6 if genie_cfo else [preamble_cfo(rx._buf, fl, 0.0, P) for fl in firsts]
                if heard:
                    rx._hear(hdrs[1])
                res[name] = genie.inject(rx, firsts, cfos)
            for name, kw in variants.items():
                res[name] = fixes.run_variant(t, r, **kw)
        finally:
            uninstall_simple_eq()
        rows.append(res)
        keys = [k for k in res if isinstance(res[k], dict)]
        print(r['channel'], r['snr_db'], r['seed'], r['cause'], round(r['realisation_snr_db'], 2),
              {k: res[k]['image'] for k in keys}, flush=True)
    common.write_totals(rows, 'fixes2')
