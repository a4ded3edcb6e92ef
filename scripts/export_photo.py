"""Write a held-out photo (one that training never saw) as a PNG, resized for a quick link run.

Usage: python scripts/export_photo.py [NAME] OUT.png [--size PIXELS]
NAME is one of semantic.data.HELDOUT_PHOTOS (default: coffee); --size is the short side (default 128).
"""
from __future__ import annotations

import argparse
import sys

from diffradio.images import write_image
from diffradio.sweep import sweep_photo
from semantic.data import HELDOUT_PHOTOS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", default="coffee", choices=HELDOUT_PHOTOS)
    p.add_argument("out", help="output PNG path")
    p.add_argument("--size", type=int, default=128, help="short side in pixels (default 128)")
    args = p.parse_args(argv)
    path = write_image(args.out, sweep_photo(args.name, args.size))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
