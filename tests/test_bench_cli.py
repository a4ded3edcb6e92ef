"""``diffradio bench``: the JSON keys of the contract in docs/cli.md, from a quick run of each benchmark."""
import json

from diffradio.cli import main


def test_bench_phy_quick_has_the_contract_keys(tmp_path, capsys):
    assert main(["bench", "phy", "--quick", "--out", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # --json: one JSON object on stdout, the bench's table went to stderr
    result = json.loads(out[0])
    for key in ("rx_msps", "realtime_factor", "gnuradio_rx_msps", "ber_gap_db", "detect_rate_0db",
                "false_alarms_per_1e6", "rx_msps_dc", "rx_msps_spur", "rx_cpu_ms_per_frame",
                "capture_dc_spur_time_ratio", "speed_ratio_vs_gnuradio"):
        assert key in result, key
    assert result["frames_decoded_dc_spur"] == result["frames_sent"]
    assert result["rx_msps"] > 0 and abs(result["realtime_factor"] - result["rx_msps"] / 2.0) < 1e-9
    assert set(result["ber_gap_db"]) >= {"bpsk", "qpsk", "16qam"}
    assert 0 <= result["detect_rate_0db"] <= 1


def test_bench_decoder_quick_reports_time_per_tile(tmp_path, capsys):
    assert main(["bench", "decoder", "--quick", "--bandwidth-ratio", "1/48", "--snr", "10", "--latent-channel", "awgn",
                 "--seeds", "1", "--out", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["s_per_tile"] and all(v > 0 for per_steps in result["s_per_tile"].values()
                                        for v in (per_steps.values() if isinstance(per_steps, dict) else [per_steps]))
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())
    assert set(result["quality"]) == {"1/48 awgn 10 dB", "1/48 lost 25% tiles, awgn 5 dB"}
    assert set(result["quality"]["1/48 awgn 10 dB"]["direct"]) == {"psnr_db", "ms_ssim", "gmsd", "hf_ratio"}
