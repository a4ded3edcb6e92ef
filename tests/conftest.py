"""Shared fixtures: the shipped codec (loaded once) and a small held-out photo."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def codec():
    from semantic import SemanticCodec
    return SemanticCodec.from_pretrained()


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A held-out photo (never trained on), 64×96 pixels: 2 tiles, one analog frame, fast to decode."""
    from diffradio.sweep import sweep_photo
    return sweep_photo("coffee", 64)


@pytest.fixture()
def photo_png(tmp_path, photo):
    from diffradio.images import write_image
    return str(write_image(tmp_path / "in.png", photo))
