"""Reading and writing the images users hand to and get from the link."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_SIDE = 16


def read_image(path: str | Path) -> np.ndarray:
    """Load an image file as uint8 RGB, shape (H, W, 3); ValueError with one line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image {path} does not exist; give a PNG or JPEG file with --image")
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path} is not a readable image ({exc}); give a PNG or JPEG file") from exc
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image {path} is {arr.shape[1]}x{arr.shape[0]} pixels; at least "
                         f"{MIN_SIDE}x{MIN_SIDE} is needed")
    return arr


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The file gets the permissions a plain ``open(path, 'w')`` would give it: those of the file it
    replaces, else 0o666 less the umask (``mkstemp`` alone would leave it 0o600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write uint8 (H, W, 3) ``image`` atomically; the format comes from the suffix (.png, .jpg)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format of {path}; use a .png or .jpg name for --out")
    with atomic_target(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt)
    return path
