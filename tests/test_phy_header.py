"""The frame header (fields, nonce, CRC, Golay coding) and the control frame that carries the
stream descriptor without Sionna."""
import binascii

import numpy as np
import pytest

from phy import Receiver, Transmitter
from phy.control import COPIES, control_symbols, decode_control, encode_control
from phy.header import (_FIELDS, _N_BITS, _transmitted_bits, Header, decode_header, decode_header_bits,
                        decode_headers_bits, encode_header, header_decisions, n_header_symbols)
from phy.params import OfdmParams

P = OfdmParams()


def _llr(bits, scale=8.0):
    return scale * (2.0 * bits - 1)


def test_header_is_eight_codewords_over_eight_symbols():
    assert sum(w for _, w in _FIELDS) + 16 == _N_BITS == 96
    assert n_header_symbols(P) == 8 and encode_header(Header("analog", 10), P).size == 8 * P.n_data


@pytest.mark.parametrize("h", [Header("digital", 1000, "64qam", 5 / 6, 65535, 7, 255, 0xFFFF),
                               Header("analog", 4608, frame_index=3, frame_count=4, stream_id=9, nonce=0x1234),
                               Header("control", 27, frame_index=0, frame_count=4, stream_id=1, nonce=1)])
def test_header_round_trip_with_nonce(h):
    assert decode_header(_llr(encode_header(h, P)), P) == h


def test_header_rejects_noise_and_bad_fields():
    rng = np.random.default_rng(2)
    n = n_header_symbols(P) * P.n_data
    assert all(decode_header(rng.normal(size=n) * 4, P) is None for _ in range(300))
    with pytest.raises(ValueError, match="length"):
        Header("analog", 70000)
    with pytest.raises(ValueError, match="nonce"):
        Header("analog", 7, nonce=1 << 16)
    with pytest.raises(ValueError, match="mode"):
        Header("pilot", 7)


def _message(mode, modulation=0, code_rate=0, length=100, level=0):
    """The 96 message bits of a header with raw field values and a valid CRC."""
    values = dict(mode=mode, modulation=modulation, code_rate=code_rate, length=length, frame_index=0,
                  frame_count=1, stream_id=0, nonce=0, level=level)
    info = 0
    for name, width in _FIELDS:
        info = (info << width) | values[name]
    crc = binascii.crc_hqx(info.to_bytes(10, "big"), 0xFFFF)
    return np.unpackbits(np.frombuffer(((info << 16) | crc).to_bytes(12, "big"), np.uint8))


def test_invalid_mode_or_level_is_rejected_despite_a_valid_crc():
    """The level field (reserved, zero, before control frames had levels) is only for control frames."""
    for msg in (_message(3), _message(0, level=1), _message(2, level=2), _message(2, level=3)):
        assert decode_header(_llr(_transmitted_bits(msg, P)), P) is None
    assert decode_header(_llr(_transmitted_bits(_message(2, level=1), P)), P).level == 1
    with pytest.raises(ValueError, match="level"):
        Header("analog", 7, level=1)


def test_control_levels_repeat_more_and_old_control_frames_read_as_level_0():
    from phy.control import LEVEL_COPIES
    from phy.header import CONTROL_LEVELS

    assert len(LEVEL_COPIES) == CONTROL_LEVELS and LEVEL_COPIES[0] == COPIES
    assert control_symbols(27, P, 1) == 60 and control_symbols(27, P, 0) == 20
    payload = bytes(range(27))
    bits = 2.0 * encode_control(payload, P, 1) - 1
    rng = np.random.default_rng(3)
    es = 10 ** (-5 / 10)                    # -5 dB per BPSK symbol: level 1 decodes, level 0 does not
    ok = [0, 0]
    for level in (0, 1):
        sent = 2.0 * encode_control(payload, P, level) - 1
        for _ in range(20):
            llr = 4 * es * (sent + rng.normal(size=sent.size) / np.sqrt(2 * es))
            ok[level] += decode_control(llr, 27) == (payload, True)
    assert ok[1] >= 19 and ok[0] <= 10 and bits.size == 60 * P.n_data


def test_header_decisions_give_the_transmitted_bits_and_whiten_them():
    """The decision-directed header pass uses the Golay decisions as known symbols: from LLRs with
    errors they must be the transmitted (whitened) bits; whitening keeps mostly-zero fields from
    giving mostly-equal BPSK symbols."""
    bits = encode_header(Header("analog", 0, frame_index=0, frame_count=0), P)
    assert 0.4 < bits.mean() < 0.6
    llr = 2.0 * bits - 1.0
    llr[np.random.default_rng(5).choice(bits.size, 40, replace=False)] *= -1
    np.testing.assert_array_equal(header_decisions(llr, P), bits)


def test_headers_decoded_together_are_those_decoded_one_at_a_time():
    """The receiver decodes a batch's headers in one call: each result must be that of its row
    alone (a header with errors, a clean one, noise that fails the CRC)."""
    rng = np.random.default_rng(3)
    rows = []
    for h in (Header("analog", 4608, frame_index=7, nonce=9), Header("digital", 1000, "16qam", 3 / 4, 12, 40, 3)):
        llr = 2.0 * encode_header(h, P) - 1.0
        llr[rng.choice(llr.size, 40, replace=False)] *= -1
        rows.append(llr * rng.uniform(0.5, 3.0, llr.size))
    rows.append(rng.normal(size=rows[0].size) * 4)
    together = decode_headers_bits(np.stack(rows), P)
    assert [h for h, _ in together][:2] != [None, None] and together[2][0] is None
    for llr, (header, bits) in zip(rows, together):
        alone = decode_header_bits(llr, P)
        assert header == alone[0]
        np.testing.assert_array_equal(bits, alone[1])


def test_decode_header_bits_are_the_encoded_header_or_the_decisions():
    """The receiver takes the payload's known header symbols from the header decoding itself: they
    must equal encode_header of a decoded header (also when its LLRs had errors), and the Golay
    decisions when the CRC fails; an analog or control header with non-zero unused fields keeps its
    canonical encoding."""
    rng = np.random.default_rng(8)
    for h in (Header("digital", 1000, "16qam", 3 / 4, 12, 40, 3, 77), Header("analog", 4608, frame_index=7)):
        bits = encode_header(h, P)
        llr = 2.0 * bits - 1.0
        llr[rng.choice(bits.size, 40, replace=False)] *= -1
        got, got_bits = decode_header_bits(llr, P)
        assert got == h
        np.testing.assert_array_equal(got_bits, bits)
    noise = rng.normal(size=bits.size) * 4
    got, got_bits = decode_header_bits(noise, P)
    assert got is None and decode_header(noise, P) is None
    np.testing.assert_array_equal(got_bits, header_decisions(noise, P))
    for mode, name in ((0, "analog"), (2, "control")):
        sent = _transmitted_bits(_message(mode, modulation=0b10, code_rate=0b01), P)
        got, got_bits = decode_header_bits(_llr(sent), P)
        assert got == Header(name, 100) and got == decode_header(_llr(sent), P)
        np.testing.assert_array_equal(got_bits, encode_header(got, P))
        assert not np.array_equal(got_bits, sent)


@pytest.mark.parametrize("n_bytes", [0, 1, 27, 100])
def test_control_round_trip_corrects_errors_and_rejects_noise(n_bytes):
    rng = np.random.default_rng(n_bytes)
    payload = rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    bits = encode_control(payload, P)
    assert bits.size == control_symbols(n_bytes, P) * P.n_data >= COPIES * 24 * ((8 * n_bytes + 16) // 12)
    assert 0.35 < bits.mean() < 0.65
    mu = 4.0     # LLR mean 4 Es/N0: Es/N0 = 0 dB, where 8 % of the hard decisions are wrong
    llr = (2.0 * bits - 1) * mu + np.sqrt(2 * mu) * rng.standard_normal(bits.size)
    assert np.mean((llr > 0) != bits) > 0.03
    assert decode_control(llr, n_bytes) == (payload, True)
    assert not decode_control(rng.normal(size=bits.size), n_bytes)[1]
    with pytest.raises(ValueError, match="control frame"):
        control_symbols(100_000, P)


def test_failed_control_copies_add_up():
    """Two copies too noisy to decode alone decode once their LLRs are added (chase combining)."""
    payload = bytes(range(27))
    bits = 2.0 * encode_control(payload, P) - 1
    rng = np.random.default_rng(3)
    mu = 1.2     # LLR mean per copy 4 Es/N0: Es/N0 ≈ -5.2 dB per BPSK symbol
    copies = [bits * mu + np.sqrt(2 * mu) * rng.standard_normal(bits.size) for _ in range(2)]
    assert not any(decode_control(c, 27)[1] for c in copies)
    assert decode_control(copies[0] + copies[1], 27) == (payload, True)


def test_control_burst_through_the_receiver_with_the_transmitters_nonce():
    tx = Transmitter(nonce=0xBEEF)
    payload = b"stream descriptor bytes"
    x = np.concatenate([np.zeros(300, np.complex64),
                        tx.control_burst(payload, frame_index=3, frame_count=4, stream_id=7)])
    x += 0.05 * (np.random.default_rng(1).standard_normal((x.size, 2)) @ [1, 1j]).astype(np.complex64)
    (frame,) = Receiver().receive(x)
    assert frame.header == Header("control", len(payload), frame_index=3, frame_count=4, stream_id=7,
                                  nonce=0xBEEF)
    assert frame.payload == payload and frame.crc_ok and frame.llr.size == control_symbols(len(payload), P) * 48
    assert Transmitter().nonce != Transmitter().nonce or Transmitter().nonce != Transmitter().nonce
