"""Compiled inner loops of the receiver (numba, ``cache=True``): the STF detection scan, the LTF
correlation peak, the FFT windows' CFO derotation, the fused phase tracking / channel estimation /
equalisation of a batch of frames, soft Golay decoding and analog descrambling. Each replaces a
chain of many small NumPy calls whose fixed per-call cost dominated the receiver's time.

The modules that use these kernels import this one inside the functions that need it, so
``import phy`` (and the transmitter) never loads numba. The first call of each kernel in a fresh
environment compiles it (about 12 s of CPU for all of them on the development machine) and writes
numba's on-disk cache next to this file (``__pycache__``); later processes load it (about 0.4 s,
numba's import included). The models and formulas are those documented in ``phy.sync``,
``phy.equalizer``, ``phy.golay`` and ``phy.analog``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

_TWO_PI = 2.0 * math.pi


@njit(cache=True, nogil=True, error_model="numpy")
def stf_scan(x, first, lag, w, threshold, offset, block, after, gap):
    """Windows j >= ``first`` of x (complex64 (n,)) where |P_L|^2 - |P_H|^2 > threshold * E1 * E2
    (``phy.sync.stf_detect``): P_L, P_H the lag-``lag`` and lag-``lag // 2`` autocorrelations
    sum x[i + lag] conj(x[i]) over i in [j, j + w), E1, E2 the energies of x over [j, j + w) and
    [j + lag, j + lag + w); of those, the first at or after ``after`` and then each at least
    ``gap`` after the previous one returned (gap 1: all of them).

    Each window sum is the difference of two prefix sums in float64 over the same terms in the
    same order (up to the window's last term and up to the term before it), so a window of zeros
    gives exactly zero. The prefix sums restart at every window whose stream index
    (j + ``offset``) is a multiple of ``block``, and the scan starts at the one at or before
    ``first`` (x must hold it): every window's sums, and so the decisions, are the same however the
    stream is cut into calls. Returns (indices int64 (k,), P_L complex128 (k,))."""
    half = lag // 2
    n = x.size - w - lag + 1
    if n <= first:
        return np.zeros(0, np.int64), np.zeros(0, np.complex128)
    hits = np.empty(n - first, np.int64)
    vals = np.empty(n - first, np.complex128)
    m = block + w + lag
    cpr = np.empty(m)        # prefix sums of the segment's terms (the terms first), from its first window on
    cpi = np.empty(m)
    chr_ = np.empty(m)
    chi = np.empty(m)
    ce = np.empty(m)
    passed = np.empty(block, np.bool_)
    k = 0
    seg = first - (first + offset) % block
    while seg < n:                  # indices from 0 into views (no negative-index fix-ups per read)
        stop = min(n, seg + block)
        a_r = a_i = b_r = b_i = e = 0.0
        cpr[0] = cpi[0] = chr_[0] = chi[0] = ce[0] = 0.0
        n_p = stop - seg + w - 1
        x0, xl, xh = x[seg:], x[seg + lag:], x[seg + half:]
        for t in range(n_p):                # the terms (vectorises), then their running sums
            v = np.complex128(x0[t])
            pl = np.complex128(xl[t]) * np.conj(v)
            ph = np.complex128(xh[t]) * np.conj(v)
            cpr[t + 1], cpi[t + 1], chr_[t + 1], chi[t + 1] = pl.real, pl.imag, ph.real, ph.imag
        for t in range(n_p + lag):
            v = np.complex128(x0[t])
            ce[t + 1] = v.real * v.real + v.imag * v.imag
        for t in range(n_p):                # the five running sums side by side (independent chains)
            a_r += cpr[t + 1]
            a_i += cpi[t + 1]
            b_r += chr_[t + 1]
            b_i += chi[t + 1]
            e += ce[t + 1]
            cpr[t + 1], cpi[t + 1], chr_[t + 1], chi[t + 1], ce[t + 1] = a_r, a_i, b_r, b_i, e
        for t in range(n_p, n_p + lag):
            e += ce[t + 1]
            ce[t + 1] = e
        j0 = max(seg, first, after)
        t0 = j0 - seg
        pr0, pi0, qr0, qi0, e0 = cpr[t0:], cpi[t0:], chr_[t0:], chi[t0:], ce[t0:]
        prw, piw, qrw, qiw, ew = cpr[t0 + w:], cpi[t0 + w:], chr_[t0 + w:], chi[t0 + w:], ce[t0 + w:]
        el, ewl = ce[t0 + lag:], ce[t0 + w + lag:]
        for u in range(stop - j0):          # every window's test (vectorises), then the hits
            pr = prw[u] - pr0[u]
            pi = piw[u] - pi0[u]
            qr = qrw[u] - qr0[u]
            qi = qiw[u] - qi0[u]
            passed[u] = pr * pr + pi * pi - (qr * qr + qi * qi) \
                > threshold * ((ew[u] - e0[u]) * (ewl[u] - el[u]))
        for u in range(stop - j0):
            j = j0 + u
            if passed[u] and j >= after:
                hits[k] = j
                vals[k] = complex(prw[u] - pr0[u], piw[u] - pi0[u])
                k += 1
                after = j + gap
        seg = stop
    return hits[:k], vals[:k]



@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _stf_matched_filter(xr, xi, ta, tb, yr, yi, lo, hi):
    """y(t) = sum_n x[t + n] conj(s[n]) (n < L) for t in [lo, hi), x = xr + j xi, y = yr + j yi (float32),
    for an STF period s with s[L - n] = j conj(s[n]) (``phy.preamble``'s, at any n_fft; ta + j tb =
    s[0..L/2]): the taps n and L - n share their coefficients, x[t+n] conj(s[n]) + x[t+L-n] conj(s[L-n])
    = a (u - j v) - j b (u + j v) with s[n] = a + j b, u = x[t+n], v = x[t+L-n], and s[L/2] = -s[0]
    (half the products of the plain filter)."""
    half = ta.size - 1
    lag = 2 * half
    a0, b0 = ta[0], tb[0]
    m = hi - lo
    if m <= 0:
        return
    y_r, y_i = yr[lo:hi], yi[lo:hi]           # tap by tap over views from index 0: the loops vectorise
    x_r, x_i, h_r, h_i = xr[lo: hi], xi[lo: hi], xr[lo + half: hi + half], xi[lo + half: hi + half]
    for t in range(m):                          # taps 0 and L/2
        ur, ui = x_r[t] - h_r[t], x_i[t] - h_i[t]
        y_r[t] = ur * a0 + ui * b0
        y_i[t] = ui * a0 - ur * b0
    for n in range(1, half):
        a, b = ta[n], tb[n]
        u_r, u_i = xr[lo + n: hi + n], xi[lo + n: hi + n]
        v_r, v_i = xr[lo + lag - n: hi + lag - n], xi[lo + lag - n: hi + lag - n]
        for t in range(m):
            # p = u - j v, q = u + j v; a p - j b q
            y_r[t] += a * (u_r[t] + v_i[t]) + b * (u_i[t] + v_r[t])
            y_i[t] += a * (u_i[t] - v_r[t]) - b * (u_r[t] - v_i[t])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def pw_sq(ce, t, span):
    """Squared energy of a window from the running sums ``ce`` (``stf_mf_scan``)."""
    pw = ce[t + span] - ce[t]
    return pw * pw


@njit(cache=True, nogil=True, error_model="numpy")
def stf_mf_scan(x, first, tpl, periods, t_pre, t_coherent, coherence, twiddle, reach, offset, block, after, gap,
                floor, gate, rise, sub):
    """Windows j >= ``first`` of x (complex64 (n,)) that pass the STF matched-filter test
    (``phy.sync.stf_detect``): with L = tpl.size, K = ``periods``, y(t) = sum_m x[t + m] conj(tpl[m])
    (m < L), sigma^2 = sum |tpl|^2 * (power of x over [j, j + K L)) / (K L), the differential pre-test
    |sum_k y(j + (k + 1) L) conj(y(j + k L))|^2 > t_pre (K - 1) sigma^4 (k < K - 1) and then the
    coherent test
    max_b |sum_k y(j + k L) twiddle[b, k]|^2 > t_coherent K sigma^2 (k < K; twiddle complex128 (M, K)
    the DFT over the periods, zero-padded to M bins, less the same bin's |.|^2 half a period later,
    where the STF's matched filter is zero and a tone's as large; b within ``reach`` bins of the bin of D's phase,
    phi = arg D being the differential estimate of the per-period phase advance, or that bin alone
    where |D|^2 passes the pre-test 16 times over and arg D is accurate to a fraction of a bin), and
    that bin holds at least ``coherence`` of the periods' energy: |S|^2 >= coherence K sum_k |y(j + k L)|^2;
    of those, the first at or after ``after`` and then
    each at least ``gap`` after the previous one returned. Only windows whose mean power is at most
    ``gate`` times the noise floor are tested: ``floor`` (float64 (2,): the floor, the stream index of
    the next block to fold in; updated in place) is, at the end of each whole block, replaced by the
    smaller of ``rise`` times itself and the least mean power of the block's ``sub``-sample pieces.

    The power and the differential sums over the periods are differences of running sums in float64 that
    restart at every window whose stream index (j + ``offset``) is a multiple of ``block``; the scan
    starts at the one at or before ``first`` (x must hold it), so decisions do not depend on how the
    stream is cut into calls. Returns (indices int64 (k,), complex128 (k,) whose phase is the
    per-period phase advance of the best bin, refined by a parabola through its neighbours' magnitudes,
    and whose magnitude is that bin's).
    """
    lag = tpl.size
    half = lag // 2
    span = lag * periods
    n_bins = twiddle.shape[0]
    n = x.size - span - half + 1
    if n <= first:
        return np.zeros(0, np.int64), np.zeros(0, np.complex128)
    hits = np.empty(n - first, np.int64)
    vals = np.empty(n - first, np.complex128)
    m = block + span + half
    yr = np.empty(m, np.float32)
    yi = np.empty(m, np.float32)
    xr = np.empty(m, np.float32)
    xi = np.empty(m, np.float32)
    ce = np.empty(m + 1)
    czr = np.empty(m)
    czi = np.empty(m)
    mags = np.empty(n_bins)
    passed = np.empty(block, np.bool_)
    es = 0.0
    for i in range(lag):
        es += tpl[i].real * tpl[i].real + tpl[i].imag * tpl[i].imag
    ta = np.empty(lag // 2 + 1, np.float32)          # the template's halves (``_stf_matched_filter``)
    tb = np.empty(lag // 2 + 1, np.float32)
    for i in range(lag // 2 + 1):
        ta[i], tb[i] = tpl[i].real, tpl[i].imag
    k = 0
    seg = first - (first + offset) % block
    while seg < n:
        stop = min(n, seg + block)
        n_y = stop - seg + span - lag + half
        x0 = x[seg:]
        n_x = min(x0.size, n_y + lag)
        for t in range(n_x):
            xr[t] = x0[t].real
            xi[t] = x0[t].imag
        ce[0] = 0.0
        acc = 0.0
        for t in range(stop - seg + span - 1):
            acc += np.float64(xr[t]) * xr[t] + np.float64(xi[t]) * xi[t]
            ce[t + 1] = acc
        top = gate * floor[0] * span            # inf before the first whole block: every window
        scale = t_pre * (periods - 1) * (es / span) ** 2
        n_w = stop - seg
        t_run = 0
        while t_run < n_w:                      # each run of windows under the gate, from the block's start (so
            if not ce[t_run + span] - ce[t_run] <= top:     # that runs, and the running sums from their
                t_run += 1                                  # starts, are what one call would give)
                continue
            lo_t = t_run
            while t_run < n_w and ce[t_run + span] - ce[t_run] <= top:
                t_run += 1
            hi_t = t_run - 1
            y_hi = hi_t + span - lag + half + 1
            _stf_matched_filter(xr, xi, ta, tb, yr, yi, lo_t, y_hi)
            n_z = y_hi - lag - lo_t              # y(t + L) conj(y(t)), then per-residue running sums from lo_t
            if n_z > 0:                         # (over views from index 0: the loops vectorise)
                zr, zi = czr[lo_t: lo_t + n_z], czi[lo_t: lo_t + n_z]
                y0r, y0i, y1r, y1i = yr[lo_t: lo_t + n_z], yi[lo_t: lo_t + n_z], yr[lo_t + lag: y_hi], yi[lo_t + lag: y_hi]
                for i in range(n_z):
                    zr[i] = np.float64(y1r[i]) * y0r[i] + np.float64(y1i[i]) * y0i[i]
                    zi[i] = np.float64(y1i[i]) * y0r[i] - np.float64(y1r[i]) * y0i[i]
                for i in range(lag, n_z):
                    zr[i] += zr[i - lag]
                    zi[i] += zi[i - lag]
            j0 = seg + lo_t
            t0 = lo_t
            n_u = hi_t - lo_t + 1               # the pre-test of every window, then those passing
            sep = (periods - 2) * lag
            p_lo, p_hi = ce[lo_t: lo_t + n_u], ce[lo_t + span: lo_t + span + n_u]
            l_r, l_i = czr[lo_t + sep: lo_t + sep + n_u], czi[lo_t + sep: lo_t + sep + n_u]
            for u in range(min(lag, n_u)):
                dr, di = l_r[u], l_i[u]
                pw = p_hi[u] - p_lo[u]
                passed[u] = (dr * dr + di * di > scale * pw * pw) & (pw <= top)
            if n_u > lag:
                e_r, e_i = czr[lo_t: lo_t + n_u - lag], czi[lo_t: lo_t + n_u - lag]
                l_r2, l_i2 = l_r[lag:], l_i[lag:]
                p_lo2, p_hi2, ok = p_lo[lag:], p_hi[lag:], passed[lag: n_u]
                for u in range(n_u - lag):
                    dr = l_r2[u] - e_r[u]
                    di = l_i2[u] - e_i[u]
                    pw = p_hi2[u] - p_lo2[u]
                    ok[u] = (dr * dr + di * di > scale * pw * pw) & (pw <= top)
            for u in range(hi_t - lo_t + 1):
                j = j0 + u
                if not passed[u] or j < after:
                    continue
                t = j - seg
                last = t + (periods - 2) * lag
                dr = czr[last] - (czr[t - lag] if t >= lo_t + lag else 0.0)
                di = czi[last] - (czi[t - lag] if t >= lo_t + lag else 0.0)
                sigma2 = es * (ce[t + span] - ce[t]) / span
                best, bb = -1.0, 0
                centre = int(round(math.atan2(di, dr) * n_bins / (2.0 * math.pi)))
                near = reach if dr * dr + di * di < 16.0 * scale * pw_sq(ce, t, span) else 0
                for c in range(centre - near - 1, centre + near + 2):     # the bins near D's phase, and one more each side
                    b = c % n_bins
                    sr = 0.0
                    si = 0.0
                    for q in range(periods):
                        w = twiddle[b, q]
                        a_r, a_i = yr[t + q * lag], yi[t + q * lag]
                        sr += a_r * w.real - a_i * w.imag
                        si += a_r * w.imag + a_i * w.real
                    mags[b] = sr * sr + si * si
                    if mags[b] > best and abs(c - centre) <= near:
                        best, bb = mags[b], b
                sr = 0.0                            # the same bin half a period later: a tone's is as large
                si = 0.0
                for q in range(periods):
                    w = twiddle[bb, q]
                    a_r, a_i = yr[t + half + q * lag], yi[t + half + q * lag]
                    sr += a_r * w.real - a_i * w.imag
                    si += a_r * w.imag + a_i * w.real
                if not best - (sr * sr + si * si) > t_coherent * periods * sigma2:
                    continue
                e_y = 0.0
                for q in range(periods):
                    e_y += np.float64(yr[t + q * lag]) ** 2 + np.float64(yi[t + q * lag]) ** 2
                if not best >= coherence * periods * e_y:
                    continue
                lo, hi = math.sqrt(mags[(bb - 1) % n_bins]), math.sqrt(mags[(bb + 1) % n_bins])
                mid = math.sqrt(best)
                den = lo - 2.0 * mid + hi
                frac = 0.5 * (lo - hi) / den if den < 0.0 else 0.0
                phase = 2.0 * math.pi * (bb + frac) / n_bins
                if phase > math.pi:
                    phase -= 2.0 * math.pi
                hits[k] = j
                vals[k] = mid * complex(math.cos(phase), math.sin(phase))
                k += 1
                after = j + gap
        if stop - seg == block and seg + offset >= floor[1]:      # a whole block, not folded in yet
            least = np.inf
            for a in range(0, block - sub + 1, sub):
                least = min(least, (ce[a + sub] - ce[a]) / sub)
            floor[0] = min(floor[0] * rise, least)
            floor[1] = seg + offset + block
        seg = stop
    return hits[:k], vals[:k]


@njit(cache=True, nogil=True, error_model="numpy")
def notch_filter(x, out, state, c, rho):
    """The detection path's front-end filter over x (complex64 (n,)) into out (complex64 (n,)):
    a DC blocker u[i] = x[i] - x[i-1] + rho u[i-1], then a notch at the angle of ``c`` (complex,
    |c| = 1; 0: none) v[i] = u[i] - c u[i-1] + rho c v[i-1] (``phy.sync.FrontEnd``). ``state``
    complex128 (3,) holds (x, u, v) of the sample before x[0] and is updated, so consecutive calls
    filter a stream exactly as one call would. rho u is two real products (numba multiplies a real
    by a complex number as a complex product with a zero imaginary part: the same values for finite
    samples, but for the sign of a zero, through a longer chain of dependent operations)."""
    xp, up, vp = state[0], state[1], state[2]
    if c == 0:
        for i in range(x.size):
            xi = np.complex128(x[i])
            d = xi - xp
            up = complex(d.real + rho * up.real, d.imag + rho * up.imag)
            out[i] = up
            xp = xi
        state[0], state[1], state[2] = xp, up, up
        return
    cr = rho * c
    for i in range(x.size):
        xi = np.complex128(x[i])
        d = xi - xp
        u = complex(d.real + rho * up.real, d.imag + rho * up.imag)
        v = u - c * up + cr * vp
        out[i] = v
        xp, up, vp = xi, u, v
    state[0], state[1], state[2] = xp, up, vp


_ATAN_P = (-8.750608600031904122785e-01, -1.615753718733365076637e+01, -7.500855792314704667340e+01,
           -1.228866684490136173410e+02, -6.485021904942025371773e+01)
_ATAN_Q = (2.485846490142306297962e+01, 1.650270098316988542046e+02, 4.328810604912902668951e+02,
           4.853903996359136964868e+02, 1.945506571482613964425e+02)
_MOREBITS = 6.123233995736765886130e-17


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _angle(y, x):
    """atan2(y, x), rad, without a library call: the Cephes rational approximation of atan on
    [0, 1] (argument reduction at 0.66; within 2 ulp of ``math.atan2``), then the octant."""
    ax, ay = abs(x), abs(y)
    hi, lo = max(ax, ay), min(ax, ay)
    t = lo / hi if hi > 0 else 0.0
    big = t > 0.66
    v = (t - 1.0) / (t + 1.0) if big else t
    z = v * v
    p = (((_ATAN_P[0] * z + _ATAN_P[1]) * z + _ATAN_P[2]) * z + _ATAN_P[3]) * z + _ATAN_P[4]
    q = ((((z + _ATAN_Q[0]) * z + _ATAN_Q[1]) * z + _ATAN_Q[2]) * z + _ATAN_Q[3]) * z + _ATAN_Q[4]
    r = v * (z * p / q) + v
    r = r + (0.25 * math.pi + 0.5 * _MOREBITS) if big else r      # selects, not branches: a loop
    r = 0.5 * math.pi - r if ay > ax else r                         # of angles vectorises
    r = math.pi - r if x < 0 else r
    return -r if y < 0 else r


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _wrap_angle(z):
    """Angle of complex z in (-pi, pi], rad."""
    return _angle(z.imag, z.real)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cis(theta):
    """exp(1j * theta) for real theta, as (cos theta, sin theta): the value numba's complex exp
    gives for a purely imaginary argument (exp(0) = 1 times cos and sin, bit for bit) without its
    real exponential and special-value branches (~40 % of its cost)."""
    return complex(math.cos(theta), math.sin(theta))


@njit(cache=True, nogil=True, error_model="numpy")
def _rotations(phase, delay, ks, n_fft, out):
    """out[r, i] = exp(-1j (phase[r] + 2 pi ks[i] delay[r] / n_fft)) for rows r (phase, delay (n,);
    out complex128 (n, n_used)) and ascending integer subcarriers ks (n_used,), by a recurrence over
    k per row (two complex exponentials per row instead of one per entry), the rows' recurrences
    side by side (they vectorise; one row's is a chain of dependent multiplications)."""
    n = phase.size
    cr, ci = np.empty(n), np.empty(n)
    sr, si = np.empty(n), np.empty(n)
    for r in range(n):
        step = _cis(-(_TWO_PI * delay[r] / n_fft))
        cur = _cis(-(phase[r] + _TWO_PI * ks[0] * delay[r] / n_fft))
        sr[r], si[r], cr[r], ci[r] = step.real, step.imag, cur.real, cur.imag
    k = ks[0]
    for i in range(ks.size):
        while k < ks[i]:
            for r in range(n):              # cur *= step, as numba multiplies complex numbers
                a, b = cr[r], ci[r]
                cr[r] = a * sr[r] - b * si[r]
                ci[r] = a * si[r] + b * sr[r]
            k += 1
        for r in range(n):
            out[r, i] = complex(cr[r], ci[r])


@njit(cache=True, nogil=True, error_model="numpy")
def _line_fit(z, t, about_line=False):
    """Weighted straight-line fit of the unwrapped phases of z (complex (n,)) over t (n,), weights
    |z|: (a, b) with phase ≈ a + b t (``phy.equalizer`` model).

    ``about_line`` False: the phases are unwrapped symbol by symbol. True: about a first line
    instead, whose slope is the phase of sum_i z[i+1] conj(z[i]) over the mean spacing of t
    (weights |z[i+1] z[i]|) and whose intercept is the phase of sum_i z[i] exp(-j slope t[i]); each
    phase is taken within ±pi of that line. Symbol by symbol, one noisy row (a payload symbol has
    only its pilots: near -5 dB its phase is off by more than a radian now and then) slips a whole
    turn for every row after it where a residual CFO of a few kHz turns the rows by most of a radian
    each, and the line fitted to that loses the frame (measured: an analog frame at -5 dB with a
    3.4 kHz error in its LTF's CFO estimate came out at -18 dB); about the first line a noisy row
    stays one noisy row. The first line needs rows whose phase carries the slope, strong ones next
    to each other: the payload's fit (the LTF and the decoded header, fully known), not the
    header's first pass (the LTF, whose two symbols agree by construction, then pilots only)."""
    n = z.size
    angles = np.empty(n)
    for i in range(n):                          # in a loop of their own: it vectorises
        angles[i] = _wrap_angle(z[i])
    b0 = 0.0
    a0 = 0.0
    if about_line:
        dz = 0j
        wdt = 0.0
        wsum = 0.0
        for i in range(n - 1):
            q = z[i + 1] * np.conj(z[i])
            dz += q
            w = abs(q)
            wdt += w * (t[i + 1] - t[i])
            wsum += w
        if wsum > 0 and wdt > 0:
            b0 = _wrap_angle(dz) / (wdt / wsum)
        acc = 0j
        for i in range(n):
            acc += z[i] * _cis(-b0 * t[i])
        a0 = _wrap_angle(acc)
    s0 = s1 = s2 = y0 = y1 = 0.0
    prev = 0.0
    turns = 0.0
    for i in range(n):
        ph = angles[i]
        if about_line:
            ref = a0 + b0 * t[i]
            dev = ph - ref
            y = ref + (dev - _TWO_PI * np.rint(dev / _TWO_PI))
        else:
            if i > 0:
                turns += np.rint((ph - prev) / _TWO_PI)
            prev = ph
            y = ph - _TWO_PI * turns
        w = abs(z[i])
        s0 += w
        s1 += w * t[i]
        s2 += w * t[i] * t[i]
        y0 += w * y
        y1 += w * y * t[i]
    den = s0 * s2 - s1 * s1
    b = (s0 * y1 - s1 * y0) / den if den > 0 else 0.0
    return (y0 - b * s1) / s0, b


KnownArrays = namedtuple("KnownArrays", "rows cols row_start x xf n_full t")
KnownArrays.__doc__ = """A batch's known entries (``phy.known.KnownEntries``) as the kernels read them:
rows, cols int64 (n_known,) (symbol, used subcarrier) of each entry, by symbol; row_start int64
(n_rows + 1,) first entry of each symbol (each has at least one), then n_known; x float64 (B or 1,
n_known) their values; xf float64 (B or 1, n_full, n_used) the values of the first n_full (fully
known) symbols; t float64 (n_rows,) window starts, samples."""

Smoother = namedtuple("Smoother", "ks n_fft proj_t diag rank")
Smoother.__doc__ = """The delay-limited channel fit (``phy.equalizer.smoother``): ks int64 (n_used,)
used subcarriers (ascending), n_fft, proj_t complex128 (n_used, n_used) the projection's transpose,
its diagonal diag float64 (n_used,), its rank."""


@njit(cache=True, nogil=True, error_model="numpy")
def _estimate(y, xf, xb, n, phase, delay, sm, h, h_err, nv_sc):
    """Channel fit of one frame to its first n (fully known, unit-modulus) symbols after undoing the
    phase model (``phase``/``delay`` (n_rows,), or None for no rotation): h = P @ mean over the
    symbols of Y X* (the delay-limited least-squares fit); sigma^2 pooled over the residuals with
    n n_used - rank degrees of freedom; h_err = sigma^2 diag / n. Writes h, h_err, nv_sc (residual
    variance per subcarrier) (n_used,); returns sigma^2."""
    n_used = y.shape[1]
    ks, proj_t, diag = sm.ks, sm.proj_t, sm.diag          # the tuple's fields read once, not per entry
    yx = np.empty((n, n_used), np.complex128)
    mean = np.zeros(n_used, np.complex128)
    rot = np.empty((n, n_used), np.complex128)
    if phase is not None:
        _rotations(phase[:n], delay[:n], ks, sm.n_fft, rot)
    for r in range(n):
        for k in range(n_used):
            v = y[r, k]
            if phase is not None:
                v = v * rot[r, k]
            v = v * xf[xb, r, k]
            yx[r, k] = v
            mean[k] += v
    for k in range(n_used):
        mean[k] /= n
        h[k] = 0j
    for j in range(n_used):                 # h[k] sums over j in order; the k of one j run together
        for k in range(n_used):             # (along a row of proj_t: they vectorise)
            h[k] += mean[j] * proj_t[j, k]
    total = 0.0
    for k in range(n_used):
        s = 0.0
        for r in range(n):
            d = yx[r, k] - h[k]
            s += d.real * d.real + d.imag * d.imag
        nv_sc[k] = s / max(n - 1, 1)
        total += s
    var = total / max(n * n_used - sm.rank, 1)
    for k in range(n_used):
        h_err[k] = var * diag[k] / n
    return max(var, 1e-30)


@njit(cache=True, nogil=True, error_model="numpy")
def _symbol_sums(known, yk, hb, nv, r, info, z):
    """Per known entry e: r[e] = Y X* conj(H) (the entry's rotation against the channel) and its
    phase information info[e] = 2 |H|^2 / sigma^2; per symbol i: z[i] = sum of r over its entries."""
    bounds, cols = known.row_start, known.cols
    for e in range(cols.size):
        hc = hb[cols[e]]
        r[e] = yk[e] * np.conj(hc)
        info[e] = 2 * (hc.real * hc.real + hc.imag * hc.imag) / nv
    for i in range(z.size):
        acc = 0j
        for e in range(bounds[i], bounds[i + 1]):
            acc += r[e]
        z[i] = acc


@njit(cache=True, nogil=True, error_model="numpy")
def _drift_fit(known, r, info, a, slope, u_all, work):
    """Timing drift: what the common-phase line a + b t leaves across the subcarriers, fitted as
    (c + d t) u (u = 2 pi k / n_fft) by weighted least squares (weights ``info``); ``work``
    float64 (3, n_known) scratch (the entries' angles in a loop of their own, which vectorises).
    Returns (c, d, their covariance c00, c01, c11)."""
    t, bounds, cols = known.t, known.row_start, known.cols
    re, im, psis = work[0], work[1], work[2]
    for i in range(t.size):
        cp = _cis(-(a + slope * t[i]))
        for e in range(bounds[i], bounds[i + 1]):
            q = r[e] * cp
            re[e] = q.real
            im[e] = q.imag
    for e in range(psis.size):
        psis[e] = _angle(im[e], re[e])
    m00 = m01 = m11 = v0 = v1 = 0.0
    for i in range(t.size):
        for e in range(bounds[i], bounds[i + 1]):
            psi = psis[e]
            ue = u_all[cols[e]]
            iu = info[e] * ue
            iut = iu * t[i]
            m00 += iu * ue
            m01 += iut * ue
            m11 += iut * t[i] * ue
            v0 += iu * psi
            v1 += iut * psi
    det = m00 * m11 - m01 * m01
    inv = 1.0 / det if det > 0 else 0.0
    c00, c01, c11 = m11 * inv, -m01 * inv, m00 * inv
    return c00 * v0 + c01 * v1, c01 * v0 + c11 * v1, c00, c01, c11


@njit(cache=True, nogil=True, error_model="numpy")
def _common_phase(known, r, info, c, d, sm, u_all, half_window, z, zs, row_info, rot,
                  phase, delay, phase_var, delay_var, cov):
    """With the drift c + d t removed, the common phase per symbol: a straight line over t plus a
    moving average over 2 half_window + 1 symbols of what it leaves (phase noise). Writes phase,
    delay and their error variances (n_rows,) (cov: the drift's covariance c00, c01, c11); ``rot``
    complex128 (n_rows, n_used) scratch."""
    t, bounds, cols, ks = known.t, known.row_start, known.cols, sm.ks
    n_rows, n_used = t.size, ks.size
    dense = np.empty(n_rows, np.int64)            # the rows with many entries: one rotation each
    n_dense = 0                                   # (else per-entry exponentials are cheaper)
    for i in range(n_rows):
        if 4 * (bounds[i + 1] - bounds[i]) > n_used:
            dense[n_dense] = i
            n_dense += 1
    _rotations(np.zeros(n_dense), c + d * t[dense[:n_dense]], ks, sm.n_fft, rot)
    zs[0] = 0j
    row_info[0] = 0.0
    j = 0
    for i in range(n_rows):
        lo_e, hi_e = bounds[i], bounds[i + 1]
        is_dense = j < n_dense and dense[j] == i
        acc = 0j
        inf = 0.0
        for e in range(lo_e, hi_e):
            if is_dense:
                acc += r[e] * rot[j, cols[e]]
            else:
                acc += r[e] * _cis(-((c + d * t[i]) * u_all[cols[e]]))
            inf += info[e]
        z[i] = acc
        row_info[i + 1] = row_info[i] + inf
        j += is_dense
    a, slope = _line_fit(z, t, known.n_full > 2)
    for i in range(n_rows):
        zs[i + 1] = zs[i] + z[i] * _cis(-(a + slope * t[i]))
    c00, c01, c11 = cov
    for i in range(n_rows):
        lo, hi = max(i - half_window, 0), min(i + half_window + 1, n_rows)
        phase[i] = a + slope * t[i] + _wrap_angle(zs[hi] - zs[lo])
        phase_var[i] = 1.0 / max(row_info[hi] - row_info[lo], 1e-30)
        delay[i] = c + d * t[i]
        delay_var[i] = c00 + 2 * c01 * t[i] + c11 * t[i] * t[i]


@njit(cache=True, nogil=True, error_model="numpy")
def _equalise(yb, first, h, h_err, nv, phase, delay, phase_var, delay_var, sm, u_all, data_pos, rot,
              raw, eq, var):
    """Unbiased (zero-forcing) equalisation of rows first.. of one frame on the data subcarriers,
    each symbol's error variance counting the noise, the channel error and the phase and delay
    errors. Writes raw, eq, var (n_rows - first, n_data); ``data_pos`` uint64 (n_data,); ``rot``
    complex128 (n_rows - first, n_used) scratch."""
    n_data = data_pos.size
    g = np.empty(n_data, np.complex128)
    base = np.empty(n_data)
    for j in range(n_data):
        hc = h[data_pos[j]]
        hsq = max(hc.real * hc.real + hc.imag * hc.imag, 1e-30)
        g[j] = np.conj(hc) / hsq
        base[j] = (nv + h_err[data_pos[j]]) / hsq
    _rotations(phase[first:], delay[first:], sm.ks, sm.n_fft, rot)
    for i in range(raw.shape[0]):
        row = first + i
        y_row, rot_row, raw_row, eq_row, var_row = yb[row], rot[i], raw[i], eq[i], var[i]
        pv, dv = phase_var[row], delay_var[row]
        for j in range(n_data):
            k = data_pos[j]                 # unsigned: no negative-index fix-up per read
            v = y_row[k]
            raw_row[j] = v
            eq_row[j] = v * rot_row[k] * g[j]
            var_row[j] = base[j] + pv + dv * u_all[k] * u_all[k]


@njit(cache=True, nogil=True, error_model="numpy")
def track_equalize(y, known, sm, passes, half_window, first, data_pos):
    """Phase tracking, channel estimation and unbiased equalisation of B frames of equal size
    (``phy.equalizer`` documents the model; ``phy.known`` the known entries): per frame the LTF
    channel (``_estimate``), then ``passes`` alternations of the phase fit (``_line_fit``,
    ``_drift_fit``, ``_common_phase``) and the channel fit to the fully known symbols, then
    ``_equalise``.

    Args:
        y: complex128 (B, n_rows, n_used) FFTs of the LTF and the OFDM symbols.
        known: ``KnownArrays``; sm: ``Smoother``.
        passes: 0: LTF channel and a common phase a + b t only; negative: the LTF channel alone (no
            phase fit); else that many alternations of the full phase/drift fit and the channel fit
            to the first known.n_full symbols.
        half_window: half-width (symbols) of the common-phase moving average (passes > 0).
        first: first symbol to equalise; data_pos: int64 (n_data,) data subcarrier positions.
    Returns:
        (phase, delay, phase_var, delay_var float64 (B, n_rows); sro_ppm float64 (B,);
         h complex128 (B, n_used); h_err_var float64 (B, n_used); noise_var float64 (B,);
         noise_var_per_subcarrier float64 (B, n_used);
         raw, eq complex128 (B, n_rows - first, n_data); var float64 (B, n_rows - first, n_data)).
    """
    n_b, n_rows, n_used = y.shape
    rows, cols, x, xf = known.rows, known.cols, known.x, known.xf
    n_known = rows.size
    phase = np.zeros((n_b, n_rows))
    delay = np.zeros((n_b, n_rows))
    phase_var = np.zeros((n_b, n_rows))
    delay_var = np.zeros((n_b, n_rows))
    sro = np.zeros(n_b)
    h = np.empty((n_b, n_used), np.complex128)
    h_err = np.empty((n_b, n_used))
    nv = np.empty(n_b)
    nv_sc = np.empty((n_b, n_used))
    n_eq = n_rows - first
    n_data = data_pos.size
    raw = np.empty((n_b, n_eq, n_data), np.complex128)
    eq = np.empty((n_b, n_eq, n_data), np.complex128)
    var = np.empty((n_b, n_eq, n_data))
    data_pos = data_pos.astype(np.uint64)
    u_all = np.empty(n_used)
    for k in range(n_used):
        u_all[k] = _TWO_PI * sm.ks[k] / sm.n_fft
    yk = np.empty(n_known, np.complex128)
    r = np.empty(n_known, np.complex128)
    info = np.empty(n_known)
    work = np.empty((3, n_known))
    z = np.empty(n_rows, np.complex128)
    zs = np.empty(n_rows + 1, np.complex128)
    row_info = np.empty(n_rows + 1)
    rot = np.empty((n_rows, n_used), np.complex128)
    t = known.t
    for b in range(n_b):
        xb = min(b, x.shape[0] - 1)
        fb = min(b, xf.shape[0] - 1)
        yb = y[b]
        for e in range(n_known):
            yk[e] = yb[rows[e], cols[e]] * x[xb, e]
        nv[b] = _estimate(yb, xf, fb, 2, None, None, sm, h[b], h_err[b], nv_sc[b])
        for it in range(1 if passes == 0 else passes):      # none when passes < 0
            _symbol_sums(known, yk, h[b], nv[b], r, info, z)
            a, slope = _line_fit(z, t, passes > 0 and known.n_full > 2)
            if passes == 0:                      # the common-phase line only
                tot = 0.0
                for e in range(n_known):
                    tot += info[e]
                for i in range(n_rows):
                    phase[b, i] = a + slope * t[i]
                    phase_var[b, i] = 1.0 / max(tot, 1e-30)
                break
            c, d, c00, c01, c11 = _drift_fit(known, r, info, a, slope, u_all, work)
            _common_phase(known, r, info, c, d, sm, u_all, half_window, z, zs, row_info, rot,
                          phase[b], delay[b], phase_var[b], delay_var[b], (c00, c01, c11))
            sro[b] = -d * 1e6
            nv[b] = _estimate(yb, xf, fb, known.n_full, phase[b], delay[b], sm, h[b], h_err[b], nv_sc[b])
        _equalise(yb, first, h[b], h_err[b], nv[b], phase[b], delay[b], phase_var[b], delay_var[b], sm, u_all,
                  data_pos, rot[:n_eq], raw[b], eq[b], var[b])
    return phase, delay, phase_var, delay_var, sro, h, h_err, nv, nv_sc, raw, eq, var


@njit(cache=True, nogil=True, error_model="numpy")
def derotated_windows(x, starts, n_fft, steps, dc, time_offset):
    """Windows x[s: s + n_fft] - dc for s in ``starts`` (int64 (n,)) as complex128 (n, n_fft), with
    each window's DC offset ``dc`` (complex128 (n,)) removed and sample i of x then multiplied by
    exp(1j * step * (i + time_offset)) with each window's ``steps`` (float64 (n,), rad/sample; 0: no
    rotation), as one phase per window times one ramp over the window (computed again only where
    the step changes; ``_cis``: numba's exp(1j * theta) bit for bit, without its real exponential)."""
    out = np.empty((starts.size, n_fft), np.complex128)
    ramp = np.empty(n_fft, np.complex128)
    prev = np.nan
    for r in range(starts.size):
        step = steps[r]
        if not step == prev:
            for i in range(n_fft):
                ramp[i] = _cis(step * i)
            prev = step
        s = starts[r]
        c = _cis(step * (s + time_offset))
        d = dc[r]
        xs, row = x[s: s + n_fft], out[r]          # views: no negative-index fix-up per sample
        for i in range(n_fft):
            row[i] = (np.complex128(xs[i]) - d) * (c * ramp[i])
    return out


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def ltf_peak(seg, dc, step, sym, energy_tpl, first_path_fraction, early, back_off):
    """LTF timing and fine CFO for one CFO hypothesis (``phy.sync.ltf_search``).

    seg (complex (m,)) less the DC offset ``dc`` (in complex128) is derotated by exp(1j * step * t)
    (``step``: rad/sample) and correlated with the two-symbol LTF (both symbols ``sym``, complex128
    (n,), total energy ``energy_tpl``):
    lam[k] = |sum_i rot[k+i] conj(tpl[i])|^2 / (energy_tpl * sum_i |rot[k+i]|^2) (0 without energy).
    The timing is the earliest k within ``early`` samples before the peak with lam[k] reaching
    ``first_path_fraction`` of the peak; the fine CFO phase (rad per n samples) is the angle of the
    correlation between the two symbols' windows starting ``back_off`` samples before it.
    Sums may be reassociated by the compiler (SIMD): results agree with exact sums to ~1e-15.
    Returns (peak, k, fine phase, number of positions tested m - 2n + 1, the peak's position)."""
    m, n = seg.size, sym.size
    rr = np.empty(m)
    ri = np.empty(m)
    for i in range(m):
        v = (np.complex128(seg[i]) - dc) * _cis(step * i)
        rr[i] = v.real
        ri[i] = v.imag
    sr, si = sym.real.copy(), sym.imag.copy()
    c1r = np.empty(m - n + 1)                        # correlation with one symbol
    c1i = np.empty(m - n + 1)
    for k in range(m - n + 1):
        ar = ai = 0.0
        for i in range(n):
            ar += rr[k + i] * sr[i] + ri[k + i] * si[i]
            ai += ri[k + i] * sr[i] - rr[k + i] * si[i]
        c1r[k] = ar
        c1i[k] = ai
    power = np.empty(m + 1)
    power[0] = 0.0
    for i in range(m):
        power[i + 1] = power[i] + rr[i] * rr[i] + ri[i] * ri[i]
    n_pos = m - 2 * n + 1
    lam = np.zeros(n_pos)
    best = 0
    for k in range(n_pos):
        e = power[k + 2 * n] - power[k]
        if e > 0:
            cr = c1r[k] + c1r[k + n]
            ci = c1i[k] + c1i[k + n]
            lam[k] = (cr * cr + ci * ci) / (energy_tpl * e)
        if lam[k] > lam[best]:
            best = k
    peak = lam[best]
    k = max(0, best - early)
    while lam[k] < first_path_fraction * peak:
        k += 1
    s = max(0, k - back_off)
    ar = ai = 0.0
    for i in range(n):                               # sum conj(rot[s+i]) rot[s+n+i]
        ar += rr[s + i] * rr[s + n + i] + ri[s + i] * ri[s + n + i]
        ai += rr[s + i] * ri[s + n + i] - ri[s + i] * rr[s + n + i]
    return peak, k, math.atan2(ai, ar), n_pos, best


@njit(cache=True, nogil=True, error_model="numpy")
def golay_decode(llr, parity, msgs, signs, halves):
    """Soft ML decoding of extended Golay blocks (``phy.golay.decode``): llr float32 (m, 24)
    (log P(1)/P(0)), parity uint8 (12, 12) the generator's parity part, msgs uint8 (4096, 12) all
    messages, signs float32 (24, 4096) their codewords as ±1, halves float32 (2, 64, 18) the messages'
    6-bit halves and their parity contributions as ±1 (``phy.golay._halves``). A block whose hard
    decisions form a codeword is its own ML decision; the others take the codeword of highest
    correlation with the LLRs (the first of equals in message order), computed half by half: with
    message = (a, b), the correlation is A[a] + B[b] - sum_j u[a, j] p[b, j] (A, B: the halves' own
    bits against their LLRs; u[a, j] = parity LLR j times a's contribution; p[b, j]: b's), 12 products
    per codeword instead of 24.
    Returns (message bits uint8 (m, 12), codeword bits uint8 (m, 24))."""
    m = llr.shape[0]
    out = np.empty((m, 12), np.uint8)
    words = np.empty((m, 24), np.uint8)
    hard = np.empty(24, np.uint8)
    sa = np.empty(64, np.float32)
    sb = np.empty(64, np.float32)
    u = np.empty((64, 12), np.float32)
    pb = np.empty((12, 64), np.float32)              # b's parity contributions, b along the rows (it vectorises)
    for j in range(12):
        for v in range(64):
            pb[j, v] = halves[1, v, 6 + j]
    acc = np.empty(64, np.float32)
    for blk in range(m):
        for i in range(24):
            hard[i] = 1 if llr[blk, i] > 0 else 0
        ok = True
        for j in range(12):
            s = 0
            for i in range(12):
                s += hard[i] * parity[i, j]
            if s % 2 != hard[12 + j]:
                ok = False
                break
        if ok:
            out[blk] = hard[:12]
            words[blk] = hard
            continue
        for v in range(64):
            x = np.float32(0.0)
            y = np.float32(0.0)
            for i in range(6):
                x += llr[blk, i] * halves[0, v, i]
                y += llr[blk, 6 + i] * halves[1, v, i]
            sa[v] = x
            sb[v] = y
            for j in range(12):
                u[v, j] = llr[blk, 12 + j] * halves[0, v, 6 + j]
        best = -np.inf
        idx = 0
        for a in range(64):
            for b in range(64):
                acc[b] = sa[a] + sb[b]
            for j in range(12):
                uj = u[a, j]
                for b in range(64):
                    acc[b] -= uj * pb[j, b]
            for b in range(64):
                if acc[b] > best:
                    best = acc[b]
                    idx = a * 64 + b
        out[blk] = msgs[idx]
        for i in range(24):
            words[blk, i] = 1 if signs[i, idx] > 0 else 0
    return out, words


@njit(cache=True, nogil=True, error_model="numpy")
def header_golay(llr, src, perm, sign, white, parity, msgs, signs, halves):
    """Soft Golay decisions of B rate-matched blocks (``phy.header``, ``phy.control``) from their
    transmitted-bit LLRs (float64 (B, n), log P(1)/P(0)): per block, the LLRs of each code bit
    summed over its copies (copy i is transmitted bit perm[i] of code bit src[i], its whitening as
    the LLR sign ``sign[i]``), rounded to float32 and decoded (``golay_decode``; parity, msgs, signs,
    halves as there); the decided codewords then rate-matched and whitened again (``white`` uint8 (n,)).
    Returns (message bits uint8 (B, 12 m), their transmitted bits uint8 (B, n))."""
    n_coded = 0
    for i in range(src.size):
        n_coded = max(n_coded, src[i] + 1)
    n_blocks = llr.shape[0]
    message = np.empty((n_blocks, n_coded // 2), np.uint8)
    sent = np.empty((n_blocks, src.size), np.uint8)
    combined = np.empty(n_coded)
    for b in range(n_blocks):
        combined[:] = 0.0
        for i in range(src.size):
            combined[src[i]] += llr[b, perm[i]] * sign[i]
        msg, words = golay_decode(combined.astype(np.float32).reshape(-1, 24), parity, msgs, signs, halves)
        message[b] = msg.ravel()
        coded = words.ravel()
        for i in range(src.size):
            sent[b, perm[i]] = coded[src[i]] ^ white[perm[i]]
    return message, sent


@njit(cache=True, nogil=True, error_model="numpy")
def descramble(axes, var, pos, gain, var_scale):
    """Analog values and their noise variances from the equalised symbols of B frames
    (``phy.analog.symbols_to_values``): axes float64 (B, 2 n_sym n_data) each frame's symbols' I
    and Q interleaved (complex128 (n_sym, n_data) viewed as float64), var float64 (B, n_sym n_data);
    value i of a frame is its axes[pos[i]] (pos uint64 (n,): axis pos[i] % 2 of symbol pos[i] // 2,
    row-major) times gain[i], its variance var of that symbol times var_scale (no branch on the axis:
    the positions are random). Returns (values float32 (B, n), noise_var float32 (B, n))."""
    n_frames, n = axes.shape[0], pos.size
    values = np.empty((n_frames, n), np.float32)
    noise = np.empty((n_frames, n), np.float32)
    for b in range(n_frames):
        ax, vb, vals, nv = axes[b], var[b], values[b], noise[b]
        for i in range(n):
            vals[i] = ax[pos[i]] * gain[i]
            nv[i] = vb[pos[i] >> np.uint64(1)] * var_scale
    return values, noise


@njit(cache=True, nogil=True, error_model="numpy")
def lag_products(x, spans, lag, dc):
    """sum over the index ranges [a, b) of ``spans`` (a tuple of (a, b) int pairs) of
    conj(x[i] - dc) (x[i + lag] - dc), x complex64 (n,), in complex128 (``phy.sync.preamble_cfo``)."""
    acc = 0j
    for a, b in spans:
        for i in range(a, b):
            acc += np.conj(np.complex128(x[i]) - dc) * (np.complex128(x[i + lag]) - dc)
    return acc
