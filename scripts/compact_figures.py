"""Rewrite plot figures (PNG) as 256-colour palette PNGs, in place, to keep the repository small.

A matplotlib plot holds a few flat colours and their anti-aliased edges: a palette of 256 colours
without dithering keeps it visually unchanged at a third of the bytes. Do not use it on figures
that show photos (banding); those are JPEGs (``sweep_grid.jpg``, ``classic_images.jpg``). A file
that is already a palette PNG is left as it is; a missing or unreadable file is one error line.

Usage: python scripts/compact_figures.py docs/figures/decoder_metrics.png [...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from diffradio.images import atomic_target


def compact(path: Path) -> tuple[int, int]:
    """Rewrite ``path`` as a palette PNG; returns (bytes before, bytes after)."""
    before = path.stat().st_size
    with Image.open(path) as im:
        if im.format != "PNG":
            raise ValueError(f"{path} is {im.format}, not a PNG plot")
        if im.mode == "P":
            return before, before
        palette = im.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    with atomic_target(path) as tmp:
        palette.save(tmp, format="PNG", optimize=True)
    return before, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python scripts/compact_figures.py FIGURE.png [...]", file=sys.stderr)
        return 2
    for path in paths:
        try:
            before, after = compact(path)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            return 2
        print(f"{path}: {before} -> {after} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
