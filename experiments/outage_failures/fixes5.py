"""Follow-up of fix (g): once a descriptor has decoded without its header, can the receiver also get
the stream's payload frames? (i) the descriptor burst's own header, re-equalised with the phase and
drift fitted over all 68 symbols (LTF + pilots + the now-known payload as decision-directed known
symbols is not expressible without header bits, so: pilots of 68 symbols), Golay + CRC; (ii) if it
decodes, the stream is heard: the receiver's heard-stream matching then recovers payload frames
(fixes.run_variant(heard=...)); count them, and decode the image with the codec to get its PSNR.
SIMPLE=1: with fixes2's no-tracking header equaliser installed (output fixes5_simple.json)."""
import json
import numpy as np
import common
from common import P
import repro, genie, fixes, fixes4
from phy.header import decode_headers_bits, encode_header
from phy.known import known_entries
from phy.frame import window_offsets
from phy.modulation import demap_llr


def desc_header(x, syncs):
    rx = genie.make_rx(x)
    for fl, f in syncs:
        d, llr = fixes4.try_descriptor(rx, fl, f)
        if d is None:
            continue
        offs = window_offsets(P, fixes4.NH + fixes4.NPAY)
        y = rx._fft(fl - P.n_cp // 4 + offs, np.full(offs.size, f), np.zeros(offs.size, complex)).reshape(1, offs.size, -1)
        eq = fixes4.EQ_ALL(y, known_entries(P, fixes4.NH + fixes4.NPAY, fixes4.NH, None))
        l = demap_llr(eq.equalized[0].reshape(-1), eq.error_var[0].reshape(-1), 'bpsk')[: fixes4.NH * P.n_data]
        h = decode_headers_bits(l[None].astype(float), P)[0][0]
        return dict(found_at=fl, header=None if h is None else str(h), header_ok=h is not None)
    return None


if __name__ == "__main__":
    import torch
    from semantic import SemanticCodec
    from diffradio.sweep import sweep_photo
    from diffradio.link import decode
    from diffradio.settings import LinkSettings
    from semantic.metrics import psnr
    torch.set_num_threads(1)
    t = common.transmission()
    hdrs = genie.true_headers(t)
    f4 = {(r['channel'], r['snr_db'], r['seed']): r for r in json.load(open('out/outage_failures/fixes4.json'))['runs']}
    codec = SemanticCodec.from_pretrained(None)
    image = sweep_photo('coffee', 192)
    import os, fixes2
    simple = os.environ.get('SIMPLE') == '1'
    if simple:
        fixes2.install_simple_eq()
    rows = []
    for r in common.failing_runs():
        k = (r['channel'], r['snr_db'], r['seed'])
        if not f4[k]['hl']['headerless']:
            continue
        fixes.run_variant(t, r)
        syncs = fixes4.rx_syncs()
        _, run = repro.run_one(t, *k)
        res = dict(channel=k[0], snr_db=k[1], seed=k[2], realisation_snr_db=r['realisation_snr_db'],
                   genie_psnr_db=r['genie_psnr_db'])
        res.update(desc_header(run.head, syncs) or {})
        # frames the receiver then gets with the stream heard, and the image
        orig = repro.R.Receiver.__init__

        def init(self, *a, **kw):
            orig(self, *a, **kw)
            self._hear(hdrs[1])
        repro.R.Receiver.__init__ = init
        try:
            _, run2 = repro.run_one(t, *k)
        finally:
            repro.R.Receiver.__init__ = orig
        st = run2.assembler.streams
        frames = sorted(i for s in st.values() for i in s.frames)
        res['payload_frames_if_heard'] = frames
        # image with the descriptor known and those payload frames (descriptor injected)
        from diffradio.stream import StreamState
        states = [s for s in st.values()]
        if states:
            s = states[0]
            s.descriptor = t.descriptor
        else:
            from diffradio.stream import stream_key
            s = StreamState(stream_key(hdrs[1]))
            s.descriptor = t.descriptor
        rec = decode(run2, codec=codec, settings=LinkSettings(steps=10, seed=k[2]), stream=s)
        res['psnr_db_if_heard'] = float(psnr(image, rec.image))
        s0 = StreamState(s.key); s0.descriptor = t.descriptor
        rec0 = decode(run2, codec=codec, settings=LinkSettings(steps=10, seed=k[2]), stream=s0)
        res['psnr_db_descriptor_only'] = float(psnr(image, rec0.image))
        rows.append(res)
        print(res, flush=True)
    json.dump(rows, open('out/outage_failures/fixes5%s.json' % ('_simple' if simple else ''), 'w'), indent=1)
