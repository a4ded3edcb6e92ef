"""Unit tests of the PHY building blocks: constellations, soft demapping, Golay, LDPC (the header:
test_phy_header.py)."""
import numpy as np
import pytest

from phy import golay
from phy.ldpc import decode_payload, encode_payload
from phy.modulation import BITS_PER_SYMBOL, bits_per_symbol, demap_llr, map_bits
from phy.params import OfdmParams


@pytest.mark.parametrize("mod", list(BITS_PER_SYMBOL))
def test_constellation_unit_energy_gray_and_exact_demap(mod):
    b = bits_per_symbol(mod)
    labels = np.arange(1 << b)
    bits = ((labels[:, None] >> np.arange(b - 1, -1, -1)) & 1).astype(np.uint8)
    pts = map_bits(bits.reshape(-1), mod)
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(1.0)
    assert np.unique(np.round(pts, 9)).size == 1 << b
    # Gray: nearest neighbours differ in exactly one bit
    d = np.abs(pts[:, None] - pts[None, :])
    np.fill_diagonal(d, np.inf)
    for i in range(pts.size):
        for j in np.flatnonzero(np.isclose(d[i], d[i].min())):
            assert np.sum(bits[i] != bits[j]) == 1
    llr = demap_llr(pts, 1e-3, mod)
    np.testing.assert_array_equal((llr > 0).astype(np.uint8), bits.reshape(-1))


def test_llr_matches_bruteforce_posterior():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50) + 1j * rng.normal(size=50)
    labels = np.arange(16)
    bits = ((labels[:, None] >> np.arange(3, -1, -1)) & 1).astype(np.uint8)
    pts = map_bits(bits.reshape(-1), "16qam")
    nv = 0.3
    like = np.exp(-np.abs(y[:, None] - pts[None, :]) ** 2 / nv)
    ref = np.log(np.stack([like[:, bits[:, j] == 1].sum(1) / like[:, bits[:, j] == 0].sum(1)
                           for j in range(4)], axis=1)).reshape(-1)
    np.testing.assert_allclose(demap_llr(y, nv, "16qam"), ref, rtol=1e-9, atol=1e-9)


def test_golay_minimum_distance_and_correction():
    rng = np.random.default_rng(1)
    msg = rng.integers(0, 2, 120).astype(np.uint8)
    cw = golay.encode(msg)
    llr = 2.0 * cw - 1.0
    for blk in range(10):                     # three hard errors per block are corrected
        llr[blk * 24 + rng.choice(24, 3, replace=False)] *= -1
    np.testing.assert_array_equal(golay.decode(llr), msg)


def test_golay_soft_decoding_is_the_codeword_of_highest_correlation():
    """On noisy soft blocks (almost none a codeword as hard decisions) the compiled half-by-half
    decoder picks what correlating with the whole codebook picks."""
    rng = np.random.default_rng(2)
    msg = rng.integers(0, 2, 12 * 2000).astype(np.uint8)
    llr = (2.0 * golay.encode(msg) - 1.0 + rng.normal(0, 1.2, 24 * 2000)).astype(np.float32)
    msgs, signs = golay.decoder_tables()[1:3]
    blocks = llr.reshape(-1, 24)
    best = msgs[np.argmax(blocks @ signs, axis=1)].reshape(-1)
    hard_ok = ((blocks[:, :12] > 0).astype(int) @ golay.generator()[:, 12:] % 2 == (blocks[:, 12:] > 0)).all(1)
    assert hard_ok.mean() < 0.2
    np.testing.assert_array_equal(golay.decode(llr), best)


def test_ldpc_round_trip_and_crc_failure():
    payload = bytes(range(200))
    for mod in BITS_PER_SYMBOL:
        bits = encode_payload(payload, mod, 2 / 3, 2400)
        data, ok = decode_payload(6.0 * (2.0 * bits - 1), len(payload), mod, 2 / 3)
        assert ok and data == payload
    data, ok = decode_payload(np.random.default_rng(3).normal(size=2400), len(payload), "qpsk", 2 / 3)
    assert not ok
