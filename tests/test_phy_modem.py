"""Unit tests of the PHY building blocks: constellations, soft demapping, Golay, header, LDPC."""
import numpy as np
import pytest

from phy import golay
from phy.header import Header, _N_BITS, _transmitted_bits, decode_header, decode_header_bits, encode_header, header_decisions
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


def test_header_round_trip_and_crc_rejection():
    p = OfdmParams()
    h = Header("digital", 1000, "64qam", 5 / 6, 65535, 7, 255)
    assert decode_header(8.0 * (2.0 * encode_header(h, p) - 1), p) == h
    a = Header("analog", 4608, frame_index=3, frame_count=4, stream_id=9)
    assert decode_header(8.0 * (2.0 * encode_header(a, p) - 1), p) == a
    rng = np.random.default_rng(2)
    assert all(decode_header(rng.normal(size=336) * 4, p) is None for _ in range(300))
    with pytest.raises(ValueError, match="length"):
        Header("analog", 70000)


def test_header_decisions_give_the_transmitted_bits_and_whiten_them():
    """The decision-directed header pass uses the Golay decisions as known symbols: from LLRs with
    errors they must be the transmitted (whitened) bits; whitening keeps mostly-zero fields from
    giving mostly-equal BPSK symbols."""
    p = OfdmParams()
    bits = encode_header(Header("analog", 0, frame_index=0, frame_count=0), p)
    assert 0.4 < bits.mean() < 0.6
    llr = 2.0 * bits - 1.0
    llr[np.random.default_rng(5).choice(bits.size, 40, replace=False)] *= -1
    np.testing.assert_array_equal(header_decisions(llr, p), bits)



def test_decode_header_bits_are_the_encoded_header_or_the_decisions():
    """The receiver takes the payload's known header symbols from the header decoding itself: they
    must equal encode_header of a decoded header (also when its LLRs had errors), and the Golay
    decisions when the CRC fails; an analog header with non-zero unused fields keeps its canonical
    encoding."""
    p = OfdmParams()
    rng = np.random.default_rng(8)
    for h in (Header("digital", 1000, "16qam", 3 / 4, 12, 40, 3), Header("analog", 4608, frame_index=7)):
        bits = encode_header(h, p)
        llr = 2.0 * bits - 1.0
        llr[rng.choice(bits.size, 40, replace=False)] *= -1
        got, got_bits = decode_header_bits(llr, p)
        assert got == h
        np.testing.assert_array_equal(got_bits, bits)
    noise = rng.normal(size=bits.size) * 4
    got, got_bits = decode_header_bits(noise, p)
    assert got is None and decode_header(noise, p) is None
    np.testing.assert_array_equal(got_bits, header_decisions(noise, p))
    # analog (mode 0) with modulation bits set and a valid CRC: decoded as analog, bits re-encoded
    import binascii
    info = (0 << 67) | (0b10 << 65) | (0b01 << 63) | (100 << 47) | (0 << 31) | (1 << 15) | (0 << 7)
    crc = binascii.crc_hqx((info << 4).to_bytes(9, "big"), 0xFFFF)
    msg = np.unpackbits(np.frombuffer((((info << 16) | crc) << 4).to_bytes(11, "big"), np.uint8))[:_N_BITS]
    sent = _transmitted_bits(msg, p)
    got, got_bits = decode_header_bits(8.0 * (2.0 * sent - 1), p)
    assert got == Header("analog", 100) and got == decode_header(8.0 * (2.0 * sent - 1), p)
    np.testing.assert_array_equal(got_bits, encode_header(got, p))
    assert not np.array_equal(got_bits, sent)

def test_ldpc_round_trip_and_crc_failure():
    payload = bytes(range(200))
    for mod in BITS_PER_SYMBOL:
        bits = encode_payload(payload, mod, 2 / 3, 2400)
        data, ok = decode_payload(6.0 * (2.0 * bits - 1), len(payload), mod, 2 / 3)
        assert ok and data == payload
    data, ok = decode_payload(np.random.default_rng(3).normal(size=2400), len(payload), "qpsk", 2 / 3)
    assert not ok
