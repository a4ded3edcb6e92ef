"""Source coding for the separation-based digital baseline: AVIF, WebP or JPEG (Pillow) under a byte budget.

The baseline gets the same channel uses as the semantic stream; ``fit`` spends the bytes they carry
at the chosen MCS as well as the codec can: for each downscale factor in ``SCALES`` it finds the
highest quality whose payload fits (binary search), and keeps the (scale, quality) with the best
PSNR against the original — an encoder-side rate–distortion choice the sender can make because it
holds the image. The receiver upsamples a downscaled image back (bicubic).

What is sent (``SourceFit.data``): one header byte (codec and scale index), then only what the
receiver cannot rebuild. AVIF: the AV1 bitstream of the ``mdat`` box; its HEIF container (~280 bytes
of ``ftyp``/``meta`` boxes: item, size, colour and codec properties, a fixed function of the image
size and the encoder settings) is rebuilt at the receiver from a template encoded at the same size
and settings, with the item length patched (``_rebuild_avif``; checked byte-exact in the tests).
WebP: the VP8 chunk without the 20-byte RIFF/chunk header. JPEG: the whole file (its Huffman and
quantisation tables depend on the image and the quality).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, features

CODECS = ("avif", "webp", "jpeg")
"""Source codecs in the order ``default_codec`` prefers them (the first one Pillow supports); a codec's index
here is its code in the sent header byte. At equal bytes AVIF beats JPEG (``tests/test_source_codec.py``,
``docs/results/digital_vs_jpeg.json``); WebP's place between them is not measured in this project."""
SCALES = (1.0, 1.5, 2.0, 3.0, 4.0)
"""Downscale factors tried (image side divided by the factor)."""
_SAVE_ARGS = {"avif": dict(format="AVIF", speed=6), "webp": dict(format="WEBP", method=6),
              "jpeg": dict(format="JPEG", optimize=True)}
_FEATURE = {"avif": "avif", "webp": "webp", "jpeg": "jpg"}
_QUALITY = (0, 95)


@dataclass(frozen=True)
class SourceFit:
    """An encoded image that fits the budget.

    Attributes:
        data: the bytes sent (header byte + payload), ``len(data)`` = source_bytes.
        codec: 'avif', 'webp' or 'jpeg'.
        quality: the codec's quality setting (0..95).
        downscale: factor the image sides were divided by before coding (one of ``SCALES``).
        psnr_db: PSNR of the decoded image against the original, dB.
    """

    data: bytes
    codec: str
    quality: int
    downscale: float
    psnr_db: float


def available_codecs() -> tuple[str, ...]:
    """The codecs this Pillow can write, in ``CODECS`` order."""
    return tuple(c for c in CODECS if features.check(_FEATURE[c]))


def default_codec() -> str:
    """The strongest available codec (AVIF with Pillow ≥ 11.2)."""
    return available_codecs()[0]


def check_codec(codec: str) -> str:
    """``codec`` if Pillow can write it; ValueError naming the alternatives otherwise."""
    if codec not in CODECS:
        raise ValueError(f"unknown source codec {codec!r}; use one of {', '.join(CODECS)}")
    if codec not in available_codecs():
        raise ValueError(f"this Pillow cannot write {codec.upper()}; use one of {', '.join(available_codecs())} "
                         "or install a Pillow built with it")
    return codec


def _scaled_size(shape: tuple[int, int], downscale: float) -> tuple[int, int]:
    """(width, height) of an (H, W) image divided by ``downscale``."""
    h, w = shape
    return max(1, round(w / downscale)), max(1, round(h / downscale))


def _file(img: Image.Image, codec: str, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, quality=quality, **_SAVE_ARGS[codec])
    return buf.getvalue()


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """ISO-BMFF boxes at one level: {type: (offset of the box, offset after it)} (32-bit sizes only)."""
    end = len(data) if end is None else end
    found, pos = {}, start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8:
            raise ValueError("AVIF container with an unsupported box size")
        found[kind] = (pos, pos + size)
        pos += size
    return found


def _iloc_length_field(data: bytes) -> int:
    """Offset of the extent_length field of the one item in an AVIF's ``iloc`` box."""
    meta = _boxes(data)[b"meta"]
    iloc_at, _ = _boxes(data, meta[0] + 12, meta[1])[b"iloc"]  # meta is a full box: 4 bytes version/flags
    version = data[iloc_at + 8]
    sizes = data[iloc_at + 12:iloc_at + 14]
    offset_size, length_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    index_size = (sizes[1] & 15) if version in (1, 2) else 0
    id_size = 4 if version == 2 else 2
    pos = iloc_at + 14
    n_items = struct.unpack(">I" if version == 2 else ">H", data[pos:pos + id_size])[0]
    pos += id_size + id_size + (2 if version in (1, 2) else 0) + 2 + base_size  # item id, method, ref index, base
    n_extents = struct.unpack(">H", data[pos:pos + 2])[0]
    if n_items != 1 or n_extents != 1 or length_size != 4:
        raise ValueError("AVIF container with several items or extents; cannot strip it")
    return pos + 2 + index_size + offset_size


def _strip_avif(data: bytes) -> bytes:
    """The AV1 bitstream of a single-image AVIF file (its ``mdat`` payload)."""
    start, end = _boxes(data)[b"mdat"]
    return data[start + 8:end]


@lru_cache(maxsize=64)
def _avif_template(size: tuple[int, int]) -> bytes:
    """The container bytes (everything before the mdat payload) of an AVIF of ``size`` (W, H); the
    same at every quality (checked in the tests)."""
    data = _file(Image.new("RGB", size, (128, 128, 128)), "avif", 50)
    start, _ = _boxes(data)[b"mdat"]
    return data[:start + 8]


def _rebuild_avif(bitstream: bytes, size: tuple[int, int]) -> bytes:
    """An AVIF file around ``bitstream`` (AV1 OBUs) for an image of ``size`` (W, H)."""
    head = bytearray(_avif_template(size))
    field = _iloc_length_field(bytes(head))
    head[field:field + 4] = struct.pack(">I", len(bitstream))
    head[-8:-4] = struct.pack(">I", len(bitstream) + 8)
    return bytes(head) + bitstream


_WEBP_HEADER = 20  # 'RIFF' size 'WEBP' 'VP8 ' size


def _payload(file: bytes, codec: str) -> bytes:
    if codec == "avif":
        return _strip_avif(file)
    if codec == "webp":
        if file[12:16] != b"VP8 ":
            raise ValueError("WebP file is not simple lossy VP8; cannot strip it")
        return file[_WEBP_HEADER:]
    return file


def _unpayload(payload: bytes, codec: str, size: tuple[int, int]) -> bytes:
    if codec == "avif":
        return _rebuild_avif(payload, size)
    if codec == "webp":
        chunk = b"VP8 " + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
        return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    return payload


def encode(image: np.ndarray, codec: str, quality: int, downscale: float) -> bytes:
    """The bytes sent for ``image`` (uint8 (H, W, 3)): header byte, then the stripped payload."""
    img = Image.fromarray(image)
    size = _scaled_size(image.shape[:2], downscale)
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    header = CODECS.index(codec) | SCALES.index(downscale) << 2
    return bytes([header]) + _payload(_file(img, codec, quality), codec)


def sent_format(data: bytes) -> tuple[str, float]:
    """(codec, downscale) that sent bytes announce in their header byte; ValueError if it is not one."""
    if not data or data[0] & 3 >= len(CODECS) or data[0] >> 2 >= len(SCALES):
        raise ValueError("received source bytes do not start with a valid header byte")
    return CODECS[data[0] & 3], SCALES[data[0] >> 2]


def decode(data: bytes, image_shape: tuple[int, int]) -> np.ndarray:
    """Decode sent bytes to uint8 (H, W, 3) at ``image_shape`` = (H, W), upsampling a downscaled image.

    Raises ValueError when the bytes do not decode.
    """
    try:
        codec, downscale = sent_format(data)
        file = _unpayload(data[1:], codec, _scaled_size(image_shape, downscale))
        img = Image.open(io.BytesIO(file)).convert("RGB")
    except Exception as exc:  # Pillow raises several types for corrupt data
        raise ValueError(f"received source bytes do not decode: {exc}") from exc
    h, w = image_shape
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def fit(image: np.ndarray, max_bytes: int, codec: str) -> SourceFit | None:
    """Best encoding of ``image`` (uint8 (H, W, 3)) in ``codec`` with at most ``max_bytes`` sent bytes;
    None if not even the lowest quality at the smallest scale fits."""
    from semantic.metrics import psnr

    best = None
    for downscale in SCALES:
        lo, hi = _QUALITY
        if len(encode(image, codec, lo, downscale)) > max_bytes:
            continue
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(encode(image, codec, mid, downscale)) <= max_bytes:
                lo = mid
            else:
                hi = mid - 1
        data = encode(image, codec, lo, downscale)
        candidate = SourceFit(data, codec, lo, downscale, psnr(image, decode(data, image.shape[:2])))
        if best is None or candidate.psnr_db > best.psnr_db:
            best = candidate
        if lo == _QUALITY[1]:  # the top quality fits: a smaller image cannot do better
            break
    return best
