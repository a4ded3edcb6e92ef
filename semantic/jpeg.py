"""JPEG source coding for the separation-based digital baseline (JPEG + 5G LDPC + QAM).

The baseline gets the same channel uses as the semantic stream: ``fit_jpeg`` picks the largest JPEG
quality (and, if even quality 5 does not fit, a 1/2 or 1/4 downscale) whose file fits a byte budget.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

_SCALES = (1, 2, 4)
_MIN_QUALITY = 5


@dataclass(frozen=True)
class JpegFit:
    """A JPEG that fits the budget: ``data`` (bytes), ``quality`` (5..95) and ``downscale`` (1, 2 or 4)."""

    data: bytes
    quality: int
    downscale: int


def _encode(image: np.ndarray, quality: int, downscale: int) -> bytes:
    img = Image.fromarray(image)
    if downscale > 1:
        w, h = img.size
        img = img.resize((max(1, w // downscale), max(1, h // downscale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def fit_jpeg(image: np.ndarray, max_bytes: int) -> JpegFit | None:
    """Best JPEG of ``image`` (uint8, shape (H, W, 3)) no larger than ``max_bytes``; None if none fits.

    Binary search over quality at full size, then at 1/2 and 1/4 size.
    """
    for downscale in _SCALES:
        if len(_encode(image, _MIN_QUALITY, downscale)) > max_bytes:
            continue
        lo, hi = _MIN_QUALITY, 95
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(_encode(image, mid, downscale)) <= max_bytes:
                lo = mid
            else:
                hi = mid - 1
        return JpegFit(_encode(image, lo, downscale), lo, downscale)
    return None


def decode_jpeg(data: bytes, image_shape: tuple[int, int]) -> np.ndarray:
    """Decode JPEG ``data`` to uint8 (H, W, 3) at ``image_shape`` = (H, W), upsampling a downscaled one.

    Raises ValueError when the bytes are not a decodable JPEG.
    """
    try:
        img = Image.open(io.BytesIO(data))
        img = img.convert("RGB")
    except Exception as exc:  # Pillow raises several types for corrupt data
        raise ValueError(f"received JPEG does not decode: {exc}") from exc
    h, w = image_shape
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)
