"""The receiver's compiled kernels against direct NumPy evaluations of the same formulas."""
import numpy as np

from numba import njit

from phy.kernels import _angle, _cis, ltf_peak, stf_scan
from phy.params import OfdmParams
from phy.preamble import ltf_symbol
from phy.sync import stf_span


def test_angle_matches_atan2_in_every_octant():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(size=20000) * s for s in (1e-6, 1.0, 1e6)] + [[0.0, 0.0, 1.0, -1.0, 2.0, -2.0]])
    x = np.concatenate([rng.normal(size=60000), [1.0, -1.0, 0.0, 0.0, 2.0, 2.0]])
    got = np.array([_angle(a, b) for a, b in zip(y, x)])
    np.testing.assert_allclose(got, np.arctan2(y, x), rtol=0, atol=5e-16)


@njit
def _numba_exp_1j(theta):
    return np.exp(1j * theta)


def test_cis_is_numbas_complex_exp_bit_for_bit():
    """The kernels compute exp(1j theta) as (cos, sin): the receiver's outputs stay those of
    numba's complex exponential only while both give the same bits."""
    rng = np.random.default_rng(2)
    theta = np.concatenate([rng.normal(size=2000) * s for s in (1e-3, 1.0, 1e3)] + [[0.0, -0.0, np.pi, -1e6]])
    for t in theta:
        got, ref = _cis(t), _numba_exp_1j(t)
        assert (got.real, got.imag) == (ref.real, ref.imag), t


def test_stf_scan_matches_the_tone_blind_statistic_however_the_stream_is_cut():
    p = OfdmParams()
    lag, w = stf_span(p)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=3000) + 1j * rng.normal(size=3000)).astype(np.complex64)
    x[1000:1160] += 3 * np.tile(rng.normal(size=lag) + 1j * rng.normal(size=lag), 10).astype(np.complex64)
    threshold = 0.3
    hits, acorr = stf_scan(x, 0, lag, w, threshold, 0, 512, 0, 1)
    xd = x.astype(np.complex128)
    n = x.size - w - lag + 1
    ref_p = np.array([np.sum(xd[d + lag: d + lag + w] * np.conj(xd[d: d + w])) for d in range(n)])
    ref_h = np.array([np.sum(xd[d + lag // 2: d + lag // 2 + w] * np.conj(xd[d: d + w])) for d in range(n)])
    e1 = np.array([np.sum(np.abs(xd[d: d + w]) ** 2) for d in range(n)])
    e2 = np.array([np.sum(np.abs(xd[d + lag: d + lag + w]) ** 2) for d in range(n)])
    metric = (np.abs(ref_p) ** 2 - np.abs(ref_h) ** 2) / (e1 * e2)
    clear = np.abs(metric - threshold) > 1e-9
    assert hits.size > 0
    np.testing.assert_array_equal(np.isin(np.arange(n), hits)[clear], (metric > threshold)[clear])
    np.testing.assert_allclose(acorr, ref_p[hits], rtol=1e-9)
    # a scan from any start (x holding the block start before it) gives the same decisions and values
    for first, offset in ((700, 0), (1010, 77)):
        h2, a2 = stf_scan(x[offset:], first - offset, lag, w, threshold, offset, 512, 0, 1)
        np.testing.assert_array_equal(h2 + offset, hits[hits >= first])
        np.testing.assert_array_equal(a2, acorr[hits >= first])
    # thinned: the first hit at or after ``after``, then each at least ``gap`` after the one before
    thin, at = [], 1005
    for h in hits:
        if h >= at:
            thin.append(h)
            at = h + lag
    h3, _ = stf_scan(x, 0, lag, w, threshold, 0, 512, 1005, lag)
    np.testing.assert_array_equal(h3, thin)


def test_ltf_peak_matches_numpy_correlation():
    p = OfdmParams()
    n = p.n_fft
    sym = np.ascontiguousarray(ltf_symbol(p), dtype=np.complex128)
    rng = np.random.default_rng(2)
    seg = 0.3 * (rng.normal(size=400) + 1j * rng.normal(size=400))
    seg[123: 123 + 2 * n] += np.tile(sym, 2) * np.exp(2j * np.pi * 0.01 * np.arange(2 * n))
    step = -2 * np.pi * 0.01
    peak, k, fine, n_pos, best = ltf_peak(seg + 0.5, 0.5, step, sym, 2 * np.sum(np.abs(sym) ** 2), 1.0, 0, 0)
    rot = seg * np.exp(1j * step * np.arange(seg.size))
    c = np.correlate(rot, np.tile(sym, 2), mode="valid")
    energy = np.convolve(np.abs(rot) ** 2, np.ones(2 * n), mode="valid")
    lam = np.abs(c) ** 2 / (2 * np.sum(np.abs(sym) ** 2) * energy)
    assert n_pos == lam.size and k == best == int(np.argmax(lam)) == 123
    assert abs(peak - lam.max()) < 1e-12
    assert abs(fine - np.angle(np.vdot(rot[k: k + n], rot[k + n: k + 2 * n]))) < 1e-12


def test_fft_windows_with_one_cfo_per_window_match_separate_calls():
    """The receiver FFTs the payloads of several bursts (each with its own CFO) in one call: the
    result must be that of one call per burst, and the derotation that of exp(-2 pi j f t / fs)."""
    from phy.ofdm import fft_windows, layout

    p = OfdmParams()
    rng = np.random.default_rng(4)
    x = (rng.normal(size=3000) + 1j * rng.normal(size=3000)).astype(np.complex64)
    starts = np.array([5, 85, 165, 900, 980, 2000])
    cfo = np.array([1500.0, 1500.0, 1500.0, -32000.0, -32000.0, 0.0])
    together = fft_windows(p, x, starts, cfo, 77)
    apart = np.concatenate([fft_windows(p, x, starts[s], f, 77)
                            for s, f in ((slice(0, 3), 1500.0), (slice(3, 5), -32000.0), (slice(5, 6), 0.0))])
    np.testing.assert_array_equal(together, apart)
    bins, _, _ = layout(p)
    t = starts[:, None] + np.arange(p.n_fft)[None, :]
    ref = np.fft.fft(x[t] * np.exp(-2j * np.pi * cfo[:, None] * (t + 77) / p.sample_rate_hz), axis=1, norm="ortho")
    np.testing.assert_allclose(together, ref[:, bins], atol=1e-9)
