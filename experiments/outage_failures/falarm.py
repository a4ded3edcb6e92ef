"""False-alarm cost of a lower STF threshold: phy.bench.false_alarms' measurement (noise only, same
rng seed as outage.control_plane_checks) with Receiver(false_alarm_prob=fa), optionally with the
no-tracking header equaliser of fixes2 (does it make noise into frames?)."""
import sys, json, time, functools
import numpy as np
import phy.bench as B
import phy.rx as R
from phy.params import OfdmParams
P = OfdmParams()
n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 5_000_000
out = {}
orig = R.Receiver
for simple in (False, True):
    for fa in (1e-4, 1e-3, 1e-2):
        if simple:
            import fixes2
            fixes2.install_simple_eq()
        B.Receiver = functools.partial(orig, false_alarm_prob=fa, control_lengths=(27,))
        c0 = time.process_time()
        res = B.false_alarms(P, n, np.random.default_rng(2026))
        res['cpu_s_per_1e6'] = (time.process_time() - c0) / n * 1e6
        out[f"fa={fa:g}{' simple_eq' if simple else ''}"] = res
        print(fa, simple, res, flush=True)
        if simple:
            fixes2.uninstall_simple_eq()
json.dump(out, open('out/outage_failures/falarm.json', 'w'), indent=1)
