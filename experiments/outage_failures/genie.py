"""Steps 2c/3: the receiver's header / descriptor stages fed genie synchronisation.

For each failing useful run, on the same noisy samples:
  real     : the unmodified receiver (repro.run_one)
  gt_ecfo  : genie timing (true first LTF sample), CFO estimated on the preamble at that timing
             (phy.sync.preamble_cfo over STF+LTF from the true-CFO 0 start; the receiver's estimator)
  gt_gcfo  : genie timing and genie CFO (0 Hz)
  ghdr     : genie timing, CFO 0 and the true headers (header stage skipped): only the descriptor's
             control payload CRC (single copy, or the two copies' LLRs summed by the assembler) remains
Each variant injects all 6 bursts into phy.rx.Receiver's HEADER (or PAYLOAD) stage, then runs its own
_decode_headers (Golay+CRC, DD pass, CFO retries, heard-stream matching, stream bootstrapping across
the batch's failed headers), _demux, _equalise; the frames go to diffradio.stream.StreamAssembler.
Per burst: the z-score of the true header's correlation with the header LLRs (match_headers' statistic)
at the receiver's own sync and at genie sync.
"""
import json, dataclasses
import numpy as np
import common
from common import P
import repro
import phy.rx as R
from phy.rx import Receiver, _Burst, Stage
from phy.sync import LtfSync, preamble_cfo, ltf_search, cfo_hypotheses
from phy.header import encode_header, n_header_symbols, decode_headers_bits
from phy.known import known_entries
from phy.frame import window_offsets, burst_length
from phy.preamble import stf_length
from diffradio.stream import StreamAssembler, DESCRIPTOR_BYTES

NH = n_header_symbols(P)


def true_headers(t):
    rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,))
    frames = rx.receive(np.concatenate([np.zeros(800, np.complex64)] + [b for b in t.bursts] + [np.zeros(800, np.complex64)]))
    assert len(frames) == 6, len(frames)
    return [f.header for f in frames]


def make_rx(x):
    rx = Receiver(P, control_lengths=(DESCRIPTOR_BYTES,))
    rx._append(np.concatenate([x, np.zeros(4096, np.complex64)]))
    rx._real_end = x.size
    rx._scan = rx._next_trigger = x.size + 4096
    rx._rescan = lambda b: []
    return rx


def header_llr(rx, first_ltf, cfo):
    offs = window_offsets(P, NH)
    starts = first_ltf - P.n_cp // 4 + offs
    y = rx._fft(starts, np.full(offs.size, cfo), np.zeros(offs.size, complex)).reshape(1, offs.size, -1)
    return rx._header_llr(rx._header_eq(y, known_entries(P, NH, NH, None)))[0]


def zscore(llr, bits):
    s = 2.0 * bits - 1.0
    return float(llr @ s / np.sqrt(llr @ llr))


def inject(rx, firsts, cfos, headers=None):
    bursts = []
    for k, (fl, f) in enumerate(zip(firsts, cfos)):
        b = _Burst(trigger=fl - 400, autocorr=0j, stage=Stage.HEADER, dc=0j, sync=LtfSync(int(fl), float(f), 1.0))
        b.need = b.window0(P) + rx._header_reach
        if headers is not None:
            b.header, b.header_bits, b.stage = headers[k], encode_header(headers[k], P), Stage.PAYLOAD
            b.need = b.end(P)
        bursts.append(b)
    rx._bursts = bursts
    while rx._decode_headers():
        rx._synchronise()
    ready = rx._demux() if rx._bursts else []
    frames = rx._equalise(ready) if ready else []
    asm = StreamAssembler()
    for fr in frames:
        asm.add(fr)
    st = asm.streams
    desc = any(s.descriptor is not None for s in st.values())
    idx = sorted(f.header.frame_index for f in frames)
    dcrc = {f.header.frame_index: bool(f.crc_ok) for f in frames if f.header.mode == 'control'}
    return dict(image=desc, frames=idx, descriptor_crc=dcrc, header_failed=rx.stats['header_failed'],
                header_matched=rx.stats['header_matched'])


if __name__ == "__main__":
    t = common.transmission()
    hdrs = true_headers(t)
    hbits = [encode_header(h, P) for h in hdrs]
    out = []
    for r in common.failing_runs():
        row, run = repro.run_one(t, r['channel'], r['snr_db'], r['seed'])
        x = run.head
        cfg, lead = common.setup(r['channel'], r['snr_db'], r['seed'])
        firsts = common.true_first_ltfs(t, lead)
        rx = make_rx(x)
        ecfo = [preamble_cfo(rx._buf, fl, 0.0, P) for fl in firsts]
        z_genie = [zscore(header_llr(rx, fl, 0.0), hb) for fl, hb in zip(firsts, hbits)]
        z_ecfo = [zscore(header_llr(rx, fl, f), hb) for fl, f, hb in zip(firsts, ecfo, hbits)]
        # Golay+CRC alone at genie sync
        golay_alone = [decode_headers_bits(header_llr(rx, fl, 0.0)[None], P)[0][0] is not None for fl in firsts]
        res = dict(channel=r['channel'], snr_db=r['snr_db'], seed=r['seed'], cause=row['cause'],
                   realisation_snr_db=r['realisation_snr_db'], stages=[b['stage'] for b in row['bursts']],
                   est_cfo_at_true_timing_hz=[round(f, 1) for f in ecfo],
                   z_true_header_genie=[round(z, 2) for z in z_genie],
                   z_true_header_est_cfo=[round(z, 2) for z in z_ecfo],
                   golay_alone_genie=golay_alone)
        res['gt_ecfo'] = inject(make_rx(x), firsts, ecfo)
        res['gt_gcfo'] = inject(make_rx(x), firsts, [0.0] * 6)
        res['ghdr'] = inject(make_rx(x), firsts, [0.0] * 6, hdrs)
        out.append(res)
        print(r['channel'], r['snr_db'], r['seed'], row['cause'], round(r['realisation_snr_db'], 2),
              'gt_ecfo', res['gt_ecfo']['image'], res['gt_ecfo']['frames'],
              'gt_gcfo', res['gt_gcfo']['image'], res['gt_gcfo']['frames'],
              'ghdr', res['ghdr']['image'], res['ghdr']['descriptor_crc'], 'z', res['z_true_header_genie'], flush=True)
    json.dump(dict(true_headers=[dataclasses.asdict(h) for h in hdrs], runs=out),
              open('out/outage_failures/genie.json', 'w'), indent=1)
