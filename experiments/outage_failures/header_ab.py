"""Issue 21, header fixes: rerun the 32 failing useful runs of docs/results/outage.json through the
receiver of this checkout (diffradio.link.receive, as diffradio/outage.py does) and count images and
receiver stats. Run from a checkout's root: PYTHONPATH=. python experiments/outage_failures/header_ab.py OUT.json"""
import json, sys, time
import common
from common import P
from diffradio.link import LinkError, images, receive
from diffradio.settings import ReceiveOptions

if __name__ == "__main__":
    t = common.transmission()
    rows, t0 = [], time.process_time()
    for r in common.failing_runs():
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        run = receive(common.radio(t, cfg, lead), P, ReceiveOptions(keep=1 << 22))
        try:
            images(run, first_only=True)
            ok = True
        except LinkError:
            ok = False
        rows.append(dict(common.run_record(r), image=ok, frames=run.assembler.frames_detected))
        print(r['channel'], r['snr_db'], r['seed'], ok, run.assembler.frames_detected, flush=True)
    out = dict(images=sum(r['image'] for r in rows), runs=len(rows),
               images_minus5=sum(r['image'] for r in rows if r['snr_db'] == -5.0), cpu_s=time.process_time() - t0,
               rows=rows)
    print('images', out['images'], 'of', out['runs'], '(-5 dB:', out['images_minus5'], ')')
    json.dump(out, open(sys.argv[1], 'w'), indent=1)
