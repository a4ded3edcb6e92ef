"""MCS choice per channel family from the calibrated thresholds."""
import json

import pytest

from phy.mcs import CANDIDATES, THRESHOLDS_PATH, load_table, select_mcs


@pytest.fixture()
def table(tmp_path):
    awgn = {c.name: 2.0 * i for i, c in enumerate(CANDIDATES)}
    tdl_c = {c.name: 10.0 + 4.0 * i for i, c in enumerate(CANDIDATES)}
    tdl_a = {c.name: 12.0 + 3.0 * i for i, c in enumerate(CANDIDATES)}
    tdl_a[CANDIDATES[-1].name] = None  # never reached FER 1e-2
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"channels": {n: {"required_snr_db": t} for n, t in
                                             (("awgn", awgn), ("tdl-c", tdl_c), ("tdl-a", tdl_a))}}))
    return path


def test_the_named_channel_family_sets_the_mcs(table):
    assert select_mcs(8.0, "awgn", load_table("awgn", table)).name == CANDIDATES[4].name
    assert select_mcs(8.0, "tdl-c", load_table("tdl-c", table)).name == CANDIDATES[0].name  # below all
    assert select_mcs(14.0, "tdl-c", load_table("tdl-c", table)).name == CANDIDATES[1].name


def test_an_uncalibrated_channel_uses_the_worst_fading_threshold(table):
    rayleigh = {m.name: m.required_snr_db for m in load_table("rayleigh", table)}
    assert rayleigh[CANDIDATES[0].name] == 12.0 and rayleigh[CANDIDATES[5].name] == 30.0
    assert CANDIDATES[-1].name not in rayleigh  # unreachable on one family: left out


def test_the_shipped_table_covers_awgn_and_tdl_c():
    for channel in ("awgn", "tdl-c"):
        table = load_table(channel, THRESHOLDS_PATH)
        assert table[0].name == "bpsk r0.5"
    assert load_table("tdl-c")[0].required_snr_db > load_table("awgn")[0].required_snr_db + 3
