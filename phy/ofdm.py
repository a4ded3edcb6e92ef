"""OFDM symbol assembly and disassembly: the subcarrier grid, IFFT + cyclic prefix, FFT windows.

Scaling: both directions use the orthonormal DFT (``norm="ortho"``), so a subcarrier symbol of
energy 1 gives time samples of mean power (n_data + n_pilot) / n_fft, and complex white noise of
variance sigma^2 per time sample stays sigma^2 per subcarrier after the FFT.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from phy.params import OfdmParams

PILOT_BASE = np.array([1.0, 1.0, 1.0, -1.0])
"""802.11a pilot values on subcarriers -21, -7, 7, 21 before the per-symbol polarity."""


def lfsr_sequence(n: int, state: int = 0x7F) -> np.ndarray:
    """The 802.11 scrambler sequence (x^7 + x^4 + 1), ``n`` bits as uint8 (n,), from a 7-bit ``state``."""
    period = np.empty(127, dtype=np.uint8)
    for i in range(127):
        bit = ((state >> 6) ^ (state >> 3)) & 1
        period[i] = bit
        state = ((state << 1) | bit) & 0x7F
    return np.resize(period, n)


@lru_cache(maxsize=8)
def _pilot_polarity() -> np.ndarray:
    return 1.0 - 2.0 * lfsr_sequence(127).astype(np.float64)


def pilot_values(params: OfdmParams, first_symbol: int, n_symbols: int) -> np.ndarray:
    """Pilot symbols of OFDM symbols ``first_symbol``.. (802.11a base values times the 127-periodic
    polarity), float64 (n_symbols, n_pilot), in the order of ``params.pilot_subcarriers``."""
    pol = np.resize(np.roll(_pilot_polarity(), -(first_symbol % 127)), n_symbols)
    base = np.resize(PILOT_BASE, params.n_pilot)
    return pol[:, None] * base[None, :]


@lru_cache(maxsize=8)
def used_subcarriers(params: OfdmParams) -> np.ndarray:
    """Data and pilot subcarrier indices relative to DC, sorted ascending, int64 (n_used,)
    (read-only: cached)."""
    used = np.sort(np.array(params.data_subcarriers + params.pilot_subcarriers, dtype=np.int64))
    used.flags.writeable = False
    return used


@lru_cache(maxsize=8)
def layout(params: OfdmParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions inside the sorted used-subcarrier vector: (used FFT bins (n_used,),
    data positions (n_data,), pilot positions (n_pilot,))."""
    used = used_subcarriers(params)
    pos = {int(k): i for i, k in enumerate(used)}
    data = np.array([pos[k] for k in params.data_subcarriers], dtype=np.int64)
    pilots = np.array([pos[k] for k in params.pilot_subcarriers], dtype=np.int64)
    return params.bins(tuple(used)), data, pilots


def symbols_to_time(params: OfdmParams, used_grid: np.ndarray) -> np.ndarray:
    """OFDM-modulate a grid of used-subcarrier symbols.

    Args:
        used_grid: complex (n_symbols, n_used) in the order of ``used_subcarriers``.
    Returns:
        complex128 (n_symbols * (n_cp + n_fft),) time samples, each symbol preceded by its cyclic prefix.
    """
    bins, _, _ = layout(params)
    grid = np.zeros((used_grid.shape[0], params.n_fft), dtype=np.complex128)
    grid[:, bins] = used_grid
    t = np.fft.ifft(grid, axis=1, norm="ortho")
    return np.concatenate([t[:, -params.n_cp:], t], axis=1).reshape(-1)


@lru_cache(maxsize=8)
def _bin_runs(params: OfdmParams) -> tuple[tuple[int, int, int], ...]:
    """The used FFT bins (``layout``) as runs of consecutive bins: (first bin, one past the last,
    position of the first in ``used_subcarriers`` order) per run (two at 802.11a numerology: the
    negative and the positive subcarriers)."""
    bins, _, _ = layout(params)
    cuts = np.flatnonzero(np.diff(bins) != 1) + 1
    starts, stops = np.r_[0, cuts], np.r_[cuts, bins.size]
    return tuple((int(bins[a]), int(bins[b - 1]) + 1, int(a)) for a, b in zip(starts, stops))


def fft_windows(params: OfdmParams, x: np.ndarray, starts: np.ndarray, cfo_hz: float | np.ndarray = 0.0,
                time_offset: int = 0, *, dc: complex | np.ndarray = 0j) -> np.ndarray:
    """FFT the ``n_fft``-sample windows of ``x`` beginning at ``starts`` (int (n,)), after removing a
    DC offset ``dc`` (x's units; one for all windows, or complex (n,) one per window) and undoing a
    carrier offset of ``cfo_hz`` (Hz; one for all windows, or float (n,) one per window: the windows
    of several bursts in one call): sample i is multiplied by exp(-2 pi j cfo_hz (i + time_offset) / fs)
    (``time_offset``: stream index of x[0], samples), applied per window as one phase per window
    times one ramp over the window.

    Returns the used subcarriers, complex128 (n, n_used) in ``used_subcarriers`` order.
    """
    from phy.kernels import derotated_windows

    starts = np.asarray(starts, dtype=np.int64)
    # fresh writable arrays: one compiled signature for every call, so that a batch of bursts and the
    # same bursts one by one run the same machine code (a read-only broadcast would select another
    # specialisation, which need not round the same way)
    steps = np.empty(starts.shape)
    steps[...] = -2 * np.pi * np.asarray(cfo_hz, dtype=np.float64) / params.sample_rate_hz
    dcs = np.empty(starts.shape, np.complex128)
    dcs[...] = dc
    w = scipy.fft.fft(derotated_windows(x, starts, params.n_fft, steps, dcs, time_offset), axis=1, norm="ortho",
                      overwrite_x=True)
    out = np.empty((starts.size, len(used_subcarriers(params))), np.complex128)
    for lo, hi, at in _bin_runs(params):            # slices, not a gather: the used bins are two runs
        out[:, at: at + hi - lo] = w[:, lo: hi]
    return out
