"""The known symbols of a received frame: both LTF symbols, the pilots of every OFDM symbol and, once
decoded, the header. Their positions depend only on the frame's size, so they are built once per
size and reused; only the header's values change from frame to frame."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phy.frame import window_offsets
from phy.ofdm import layout, pilot_values
from phy.params import OfdmParams
from phy.preamble import ltf_freq


@dataclass(frozen=True)
class KnownEntries:
    """Known entries of a frame's grid of 2 + n_sym symbols (LTF, LTF, header, payload) by n_used
    used subcarriers (``used_subcarriers`` order), row-major.

    Attributes:
        rows: int (n_known,) symbol index of each known entry; cols: int (n_known,) its
            used-subcarrier index (entries in row-major grid order).
        row_start: int (2 + n_sym + 1,) index of each symbol's first entry (every symbol has pilots),
            then n_known (the bounds of each symbol's entries, as ``phy.kernels.KnownArrays`` reads them).
        x: float (n_known,) or (B, n_known) the known values (all ±1: LTF, pilots, BPSK header),
            per frame of a batch when the headers are known.
        n_full: the first n_full symbols are known on every subcarrier (the LTF, and the header
            when given).
        x_full: float (n_full, n_used) or (B, n_full, n_used) their values.
        t: float (2 + n_sym,) FFT window start of each symbol relative to the first LTF window, samples.
    """

    rows: np.ndarray
    cols: np.ndarray
    row_start: np.ndarray
    x: np.ndarray
    n_full: int
    x_full: np.ndarray
    t: np.ndarray


@lru_cache(maxsize=32)
def _template(params: OfdmParams, n_sym: int, n_hdr: int, with_header: bool) -> tuple[KnownEntries, np.ndarray]:
    """(entries with the header's values zero, index into the entries of each header bit (empty
    without header))."""
    _, data_pos, pilot_pos = layout(params)
    ltf = ltf_freq(params)
    grid = np.zeros((2 + n_sym, ltf.size))
    mask = np.zeros(grid.shape, dtype=bool)
    grid[:2], mask[:2] = ltf, True
    grid[2:, pilot_pos], mask[2:, pilot_pos] = pilot_values(params, 0, n_sym), True
    n_full = 2 + (n_hdr if with_header else 0)
    mask[:n_full] = True
    flat = np.flatnonzero(mask)
    rows, cols = np.divmod(flat, ltf.size)
    entry = np.full(grid.size, -1, dtype=np.int64)
    entry[flat] = np.arange(flat.size)
    hdr_slots = entry.reshape(grid.shape)[2:n_full][:, data_pos].reshape(-1)
    row_start = np.searchsorted(rows, np.arange(grid.shape[0] + 1))
    t = window_offsets(params, n_sym).astype(np.float64)
    entries = KnownEntries(rows, cols, row_start, grid.reshape(-1)[flat], n_full, grid[:n_full].copy(), t)
    for a in (rows, cols, row_start, entries.x, entries.x_full, entries.t, hdr_slots):
        a.flags.writeable = False
    return entries, hdr_slots


def known_entries(params: OfdmParams, n_sym: int, n_hdr: int, header_bits: np.ndarray | None) -> KnownEntries:
    """Known entries of frames with ``n_sym`` OFDM symbols after the LTF, the first ``n_hdr`` of them
    the header. Without ``header_bits`` only the LTF and the pilots are known (x: (n_known,),
    x_full: (2, n_used)); with the transmitted header bits of B frames (uint8 (B, n_hdr * n_data))
    their headers are known too (x: (B, n_known), x_full: (B, 2 + n_hdr, n_used))."""
    entries, hdr_slots = _template(params, n_sym, n_hdr, header_bits is not None)
    if header_bits is None:
        return entries
    _, data_pos, _ = layout(params)
    bpsk = 2.0 * np.asarray(header_bits, dtype=np.float64) - 1.0
    b = bpsk.shape[0]
    x = np.repeat(entries.x[None], b, axis=0)
    x[:, hdr_slots] = bpsk
    x_full = np.repeat(entries.x_full[None], b, axis=0)
    x_full[:, 2:, data_pos] = bpsk.reshape(b, n_hdr, params.n_data)
    return KnownEntries(entries.rows, entries.cols, entries.row_start, x, entries.n_full, x_full, entries.t)
