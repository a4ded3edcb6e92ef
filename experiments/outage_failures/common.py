"""Shared setup for the issue-21 diagnosis: the outage bench's transmission and one run's samples."""
import json, pickle, dataclasses, os
import numpy as np
from phy.params import OfdmParams
from phy.channel import Channel, ChannelConfig
from phy.preamble import stf_length
import diffradio.outage as O

P = OfdmParams()
OUTAGE = json.load(open('docs/results/outage.json'))
TXP = 'out/outage_failures/tx.pkl'


def transmission():
    if os.path.exists(TXP):
        return pickle.load(open(TXP, 'rb'))
    import torch
    from semantic import SemanticCodec
    from diffradio.link import semantic_transmission
    from diffradio.sweep import sweep_photo
    from phy.tx import Transmitter
    torch.set_num_threads(1)
    codec = SemanticCodec.from_pretrained(None)
    image = sweep_photo('coffee', 192)
    t = semantic_transmission(image, codec, Transmitter(P, nonce=0x0A7E), stream_id=1)
    pickle.dump(t, open(TXP, 'wb'))
    return t


def failing_runs(all_cells=True):
    rs = [r for r in OUTAGE['runs'] if r['genie_psnr_db'] >= O.GENIE_USEFUL_DB and not r['image']]
    return rs if all_cells else [r for r in rs if r['snr_db'] == -5.0]


def setup(channel, snr, seed):
    cfg = ChannelConfig(snr_db=snr, channel=channel, seed=seed)
    lead = int(np.random.default_rng([seed, 2]).integers(O.LEAD_RANGE[0], O.LEAD_RANGE[1] + 1))
    return cfg, lead


def radio(t, cfg, lead):
    r = O._radio(cfg, lead, P)
    for b in t.bursts:
        r.transmit(b)
    return r


def true_first_ltfs(t, lead):
    """Stream index of each burst's first LTF sample (after its guard interval), no channel delay."""
    out, pos = [], lead
    for b in t.bursts:
        out.append(pos + stf_length(P) + P.n_fft // 2)
        pos += b.size
    return out


def clean_and_noisy(t, cfg, lead):
    """(noise-free timeline through the same fading, noisy timeline as the receiver gets it, sigma2)"""
    timeline = np.concatenate([np.zeros(lead, np.complex64), *t.bursts, np.zeros(O.TRAIL, np.complex64)])
    bursts = np.concatenate(t.bursts)
    power = float(np.mean(np.abs(bursts[bursts != 0]) ** 2))
    clean = Channel(dataclasses.replace(cfg, snr_db=None), P.sample_rate_hz).apply(timeline, signal_power=power)
    sigma2 = Channel(cfg, P.sample_rate_hz).noise_variance(power)
    return clean, sigma2, power


def run_record(r):
    """The identifying fields of one failing run (a row of outage.json's runs)."""
    return dict(channel=r['channel'], snr_db=r['snr_db'], seed=r['seed'], cause=r['cause'],
                realisation_snr_db=r['realisation_snr_db'])


def write_totals(rows, name):
    """Print and write out/outage_failures/NAME.json: images per variant over all rows and over the -5 dB rows."""
    keys = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    tot = {k: sum(r[k]['image'] for r in rows) for k in keys}
    tot5 = {k: sum(r[k]['image'] for r in rows if r['snr_db'] == -5.0) for k in keys}
    print('images of', len(rows), tot)
    print('images of -5 dB', sum(r['snr_db'] == -5.0 for r in rows), tot5)
    json.dump(dict(totals=tot, totals_minus5=tot5, runs=rows), open(f'out/outage_failures/{name}.json', 'w'), indent=1)
