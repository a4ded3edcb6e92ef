"""``diffradio broadcast``: one transmission, one simulated receiver per SNR, semantic and digital."""
import json

from diffradio.cli import main


def test_broadcast_reports_every_receiver_and_writes_the_figure(tmp_path, photo_png, capsys):
    out = tmp_path / "bc"
    assert main(["broadcast", "--image", photo_png, "--snr", "25", "0", "--steps", "2", "--seed", "1",
                 "--digital-target-snr", "25", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["snr_db"] for r in result["receivers"]] == [25.0, 0.0]
    assert result["digital_target_snr_db"] == 25.0 and result["source_codec"] == "avif"
    assert result["channel_uses"]["digital"] <= result["channel_uses"]["semantic"]
    high, low = result["receivers"]
    for rx in result["receivers"]:
        for scheme in ("semantic", "digital"):
            assert {"psnr_db", "ms_ssim", "frames_lost", "out"} <= set(rx[scheme])
            assert (out / rx[scheme]["out"].split("/")[-1]).exists()
    assert high["digital"]["frames_lost"] == 0 and high["semantic"]["frames_lost"] == 0
    # the digital stream was sized for 25 dB: at 0 dB it is lost, the semantic one degrades
    assert low["digital"]["frames_lost"] > 0
    assert low["semantic"]["psnr_db"] > low["digital"]["psnr_db"]
    assert high["semantic"]["psnr_db"] > low["semantic"]["psnr_db"]
    assert (out / "broadcast.png").stat().st_size > 10_000
    assert json.loads((out / "broadcast.json").read_text())["digital_mcs"] == result["digital_mcs"]


def test_broadcast_target_defaults_to_the_median_receiver(tmp_path, photo_png, capsys):
    assert main(["broadcast", "--image", photo_png, "--snr", "30", "20", "25", "--decoder", "direct",
                 "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["digital_target_snr_db"] == 25.0


def test_broadcast_bad_codec_is_one_line(tmp_path, photo_png, capsys):
    assert main(["broadcast", "--image", photo_png, "--source-codec", "png", "--out", str(tmp_path)]) == 2
    assert "unknown source codec 'png'" in capsys.readouterr().err
