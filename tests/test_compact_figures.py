"""scripts/compact_figures.py: plots rewritten as palette PNGs in place; bad input is one error line."""
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compact_main():
    return runpy.run_path(str(ROOT / "scripts" / "compact_figures.py"))["main"]


def _plot(path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.linspace(0, 10, 200)
    for k in range(6):
        ax.plot(x, np.sin(x + k), label=f"curve {k}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def test_a_plot_becomes_a_smaller_palette_png_that_looks_the_same(tmp_path, compact_main, capsys):
    from PIL import Image
    path = tmp_path / "plot.png"
    _plot(path)
    before = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    size = path.stat().st_size
    assert compact_main([str(path)]) == 0
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "P"
        after = np.asarray(im.convert("RGB"), dtype=float)
    assert path.stat().st_size < 0.7 * size
    assert after.shape == before.shape and np.abs(after - before).mean() < 1.0   # grey levels of 0..255
    assert compact_main([str(path)]) == 0   # already a palette PNG: left as it is
    assert "plot.png" in capsys.readouterr().out


def test_a_jpeg_or_a_missing_file_is_one_error_line(tmp_path, compact_main, capsys):
    from PIL import Image
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(jpeg)
    assert compact_main([str(jpeg)]) == 2
    assert compact_main([str(tmp_path / "none.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "not a PNG plot" in err[0] and jpeg.read_bytes()[:2] == b"\xff\xd8"
