"""Photos: the held-out photos shipped inside scikit-image and scikit-learn, and folders of your own.

No data set is downloaded.  Held-out photos (``HELDOUT_PHOTOS``): whole images that training never
sees (the codec is fine-tuned on a folder of photos, ``diffradio train --photo-dir``), used by the
demo, the sweep, the tests and the model card.  ``photos_in_dirs`` and ``split_train_val`` read a
folder of photos and hold a fixed part of it out for validation.
"""
from __future__ import annotations

import numpy as np

#: Names of the held-out photos (never cropped for training).
HELDOUT_PHOTOS: tuple[str, ...] = ("chelsea", "coffee", "sklearn:flower")


def load_photo(name: str) -> np.ndarray:
    """Load one named photo as uint8 (H, W, 3).

    ``name`` is a ``skimage.data`` function name or ``sklearn:china`` / ``sklearn:flower``.
    Raises ValueError for an unknown name.
    """
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(name.split(":", 1)[1] + ".jpg")
    else:
        import skimage.data
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise ValueError(f"unknown photo {name!r}; use a skimage.data name or sklearn:china/sklearn:flower")
        img = loader()
        if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
            img = img[0]
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def centre_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The central ``height`` x ``width`` pixels of uint8 (H, W, 3) ``image`` (contiguous);
    ValueError when the image is smaller."""
    h, w = image.shape[:2]
    if h < height or w < width:
        raise ValueError(f"image is {w}x{h}, smaller than the {width}x{height} crop")
    top, left = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(image[top:top + height, left:left + width])


def photos_in_dirs(paths: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """Every PNG/JPEG/BMP/TIFF image directly inside the folders ``paths``, as uint8 (H, W, 3).

    Returns {'<folder name>/<file name>': image} in sorted order (folder by folder), so that a split
    by position is the same on every machine.  Raises ValueError when a folder does not exist or
    holds no such image.
    """
    from pathlib import Path

    from PIL import Image
    out: dict[str, np.ndarray] = {}
    for path in paths:
        folder = Path(path)
        files = sorted(f for f in folder.glob("*") if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}) \
            if folder.is_dir() else []
        if not files:
            raise ValueError(f"no PNG/JPEG/BMP/TIFF images in {str(path)!r}; point --photo-dir at a folder of photos")
        for f in files:
            out[f"{folder.name}/{f.name}"] = np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8)
    return out


def split_train_val(photos: dict[str, np.ndarray], every: int) -> tuple[dict, dict]:
    """Hold out every ``every``-th photo (positions every//2, every//2 + every, ...) for validation.

    Returns (train, val) dicts; ``every`` < 2 keeps everything for training (empty validation set).
    """
    names = list(photos)
    val = {n for i, n in enumerate(names) if every >= 2 and i % every == every // 2}
    return ({n: photos[n] for n in names if n not in val}, {n: photos[n] for n in names if n in val})


def heldout_photos() -> dict[str, np.ndarray]:
    """Held-out photos by name, uint8 (H, W, 3) each."""
    return {n: load_photo(n) for n in HELDOUT_PHOTOS}
