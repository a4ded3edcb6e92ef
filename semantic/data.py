"""Training and held-out photographs shipped inside scikit-image and scikit-learn.

No data set is downloaded: every photo below is a file inside the installed packages.

Training photos (``TRAIN_PHOTOS``): random 64x64 crops at several scales with flips and colour
jitter.  Held-out photos (``HELDOUT_PHOTOS``): whole images that training never sees, used by the
benchmark, the tests and the model card.  ``skimage.data.cat`` is the same file as ``chelsea`` and
is therefore not used at all.
"""
from __future__ import annotations

import numpy as np
import torch

#: Names of the photos used for training (grayscale ones are replicated to RGB).
TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
    "stereo_motorcycle", "sklearn:china", "camera", "brick", "grass", "gravel", "moon",
    "coins", "clock",
)
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


def train_photos() -> list[np.ndarray]:
    """All training photos, uint8 (H, W, 3) each."""
    return [load_photo(n) for n in TRAIN_PHOTOS]


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


class CropSampler:
    """Random augmented crops from a list of photos, as float tensors in [0, 1].

    Each photo is stored at scales ``scales`` (area-averaged downscaling, so crops see both fine
    texture and whole objects).  A batch draws photos with probability proportional to their area,
    a random ``tile`` x ``tile`` crop, a random horizontal/vertical flip, and colour jitter
    (brightness, contrast, saturation, each +-``jitter``).

    Args:
        photos: uint8 (H, W, 3) arrays.
        tile: crop size in pixels.
        scales: downscale factors applied to every photo (1 = original size).
        jitter: relative strength of the colour jitter.
    """

    def __init__(self, photos: list[np.ndarray], tile: int = 64,
                 scales: tuple[float, ...] = (1.0, 0.6, 0.35), jitter: float = 0.15):
        from skimage.transform import rescale
        self.tile, self.jitter = tile, jitter
        self.images: list[torch.Tensor] = []
        for p in photos:
            for s in scales:
                im = p.astype(np.float32) / 255.0
                if s != 1.0:
                    im = rescale(im, s, channel_axis=2, anti_aliasing=True).astype(np.float32)
                if min(im.shape[:2]) >= tile:
                    self.images.append(torch.from_numpy(im).permute(2, 0, 1).contiguous())
        areas = np.array([im.shape[1] * im.shape[2] for im in self.images], dtype=np.float64)
        self.weights = torch.from_numpy(areas / areas.sum())

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Draw a batch: float32 (batch, 3, tile, tile) in [0, 1]."""
        idx = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        out = torch.empty(batch, 3, self.tile, self.tile)
        for k, i in enumerate(idx.tolist()):
            im = self.images[i]
            y0 = int(torch.randint(0, im.shape[1] - self.tile + 1, (1,), generator=generator))
            x0 = int(torch.randint(0, im.shape[2] - self.tile + 1, (1,), generator=generator))
            out[k] = im[:, y0:y0 + self.tile, x0:x0 + self.tile]
        flip = torch.rand(batch, 2, generator=generator)
        out = torch.where((flip[:, 0] < 0.5)[:, None, None, None], out.flip(3), out)
        out = torch.where((flip[:, 1] < 0.2)[:, None, None, None], out.flip(2), out)
        j = (torch.rand(batch, 3, 1, 1, 1, generator=generator) * 2 - 1) * self.jitter
        gray = out.mean(1, keepdim=True)
        out = gray + (out - gray) * (1 + j[:, 2])                    # saturation
        mean = out.mean((1, 2, 3), keepdim=True)
        out = mean + (out - mean) * (1 + j[:, 1])                    # contrast
        out = out * (1 + j[:, 0])                                    # brightness
        return out.clamp_(0.0, 1.0)
