"""SemanticCodec: image <-> per-tile latents of the pretrained TAEF2 latent space, and their decoders.

A codec directory (``save_pretrained`` / ``from_pretrained``) holds ``latent_codec/`` (a
:class:`semantic.latent_codec.ProjectedLatentCodec` in diffusers format, float16 safetensors when
shipped), ``codec_config.json`` (the default decoder and realism), optionally ``prior/`` and
``scheduler/`` (a conditional diffusion prior over the latent space, ``semantic.prior_train``: it enables the
``diffusion`` decoder, ``semantic.posterior``) and, from ``diffradio train``, ``data_split.json``
(its training photos).  A hub id (``owner/name``) loads the same layout from the
Hugging Face hub's local cache (downloaded once where there is network access).

Tiling: the image is padded by mirror reflection (``numpy.pad(mode='symmetric')``) to a multiple of
the tile (64 px) and encoded whole (fully convolutional: no per-tile encoding, no seams); the sent
map (k values per 8x8-pixel position: 32, 16 or 8 for bandwidth ratio 1/12, 1/24 or 1/48) is cut into
tiles of 8x8 positions in row-major order, each sent on its own, so one tile can be lost without the
others.  The receiver stitches the tiles back into one map and decodes it whole, so a lost tile is
filled from its neighbours.
"""
from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from semantic.latent_codec import RATIO_DIMS, ProjectedLatentCodec
from semantic.posterior import posterior_latents
from semantic.refine import DEFAULT_LR, RefineSettings, refine_latents

#: Sub-folder of a codec directory holding the network.
MODEL_DIR = "latent_codec"
#: Sub-folders of a codec directory holding a diffusion prior (optional).
PRIOR_DIR, SCHEDULER_DIR = "prior", "scheduler"
CONFIG_NAME = "codec_config.json"
#: Shipped default weights.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default"
#: Decoders: 'direct' (LMMSE + restorer + decoder); 'diffusion' needs a diffusion prior in the codec.
METHODS = ("direct", "diffusion")
#: Bandwidth ratios (complex channel uses per real image value) one model serves.
RATIOS = tuple(RATIO_DIMS)
DEFAULT_RATIO = "1/24"


def ratio_name(bandwidth_ratio: str | float | Fraction | None) -> str:
    """'1/12', '1/24' or '1/48' from a name or a number (None = the default 1/24); ValueError naming the
    supported ratios for anything else."""
    if bandwidth_ratio is None:
        return DEFAULT_RATIO
    try:
        frac = Fraction(str(bandwidth_ratio).strip()).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        frac = None
    name = f"{frac.numerator}/{frac.denominator}" if frac is not None else str(bandwidth_ratio)
    if name not in RATIO_DIMS:
        raise ValueError(f"bandwidth ratio {bandwidth_ratio!r} is not supported; use one of {', '.join(RATIOS)}")
    return name


class CodecLoadError(OSError):
    """A codec directory or hub id could not be loaded (message: one line naming path and fix)."""


def _hub_snapshot(hub_id: str) -> Path:
    """The local folder of hub model ``hub_id`` (downloaded on first use, then from the cache).

    One request, no retries: offline, a hub id that is not in the cache fails at once with a
    CodecLoadError that says so, rather than after diffusers' per-file retries.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError
    try:
        return Path(snapshot_download(hub_id))
    except RepositoryNotFoundError as e:
        raise CodecLoadError(f"no model {hub_id!r} on the Hugging Face hub (or it is private: log in with "
                             "`hf auth login`); check the id, or pass a local codec directory") from e
    except LocalEntryNotFoundError as e:
        raise CodecLoadError(f"cannot fetch {hub_id!r}: the Hugging Face hub cannot be reached (no network, or "
                             "HF_HUB_OFFLINE) and the model is not in the local cache; download it where there is network "
                             f"(`hf download {hub_id} --local-dir DIR`) and pass DIR") from e
    except Exception as e:  # noqa: BLE001 - any other hub failure (HTTP error, bad revision) is one line too
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise CodecLoadError(f"cannot fetch {hub_id!r} from the Hugging Face hub ({type(e).__name__}: {reason}); "
                             "pass a local codec directory") from e


class SemanticCodec:
    """Learned image codec for the link.

    Args:
        model: the network (frozen TAEF2 encoder, nested projection, channel-aware decoder).
        default_method: what ``decode`` does when no method is named (``'direct'`` unless the codec
            holds a diffusion prior).
        prior, scheduler: a diffusers ``UNet2DModel`` over the standardised latents, conditioned on
            the received values, and its ``DDPMScheduler`` (``semantic.prior_train``), or None: the
            ``diffusion`` decoder.
        default_realism: the diffusion decoder's realism when ``decode`` is given none (0 =
            posterior-mean estimate, 1 = posterior sample; ``semantic.posterior``).
    """

    def __init__(self, model: ProjectedLatentCodec, default_method: str = "direct", prior=None, scheduler=None,
                 default_realism: float = 1.0):
        if default_method not in METHODS:
            raise ValueError(f"default_method={default_method!r}; use one of {', '.join(METHODS)}")
        if (prior is None) != (scheduler is None):
            raise ValueError("a diffusion prior needs both its UNet and its scheduler")
        if default_method == "diffusion" and prior is None:
            raise ValueError("default_method='diffusion' needs a diffusion prior (prior=, scheduler=)")
        self.model = model.eval()
        self.default_method = default_method
        self.prior = prior.eval() if prior is not None else None
        self.scheduler = scheduler
        self.default_realism = default_realism

    # ------------------------------------------------------------------ loading / saving
    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path | None = None) -> "SemanticCodec":
        """Load a codec directory, a Hugging Face hub id ("owner/name", fetched once into the hub's local
        cache with ``huggingface_hub.snapshot_download``), or (None) the shipped default weights.

        Raises CodecLoadError (an OSError) with a one-line message on a missing path, an unreachable
        or unknown hub id, or corrupt files.
        """
        src = DEFAULT_WEIGHTS if path_or_hub_id is None else path_or_hub_id
        fix = ("pass a directory written by SemanticCodec.save_pretrained / `diffradio train`, "
               "or no path for the shipped default weights")
        # "owner/name" is a hub id unless it (or its first component) exists here
        is_local = (Path(src).exists() or Path(src).parent.exists() or str(src).startswith((".", "/", "~"))
                    or str(src).count("/") != 1)
        path = Path(src) if is_local else _hub_snapshot(str(src))
        if not (path / MODEL_DIR).is_dir():
            raise CodecLoadError(f"no semantic codec at {str(src)!r} (missing {MODEL_DIR}/ sub-folder); {fix}")
        try:
            # float32 on load: the shipped weights are stored as float16 to keep the package small
            model = ProjectedLatentCodec.from_pretrained(path, subfolder=MODEL_DIR, torch_dtype=torch.float32)
            cfg = json.loads((path / CONFIG_NAME).read_text()) if (path / CONFIG_NAME).exists() else {}
            if (path / PRIOR_DIR).is_dir():
                from diffusers import DDPMScheduler, UNet2DModel
                cfg["prior"] = UNet2DModel.from_pretrained(path / PRIOR_DIR, torch_dtype=torch.float32)
                cfg["scheduler"] = DDPMScheduler.from_pretrained(path / SCHEDULER_DIR)
            return cls(model, **cfg)
        except Exception as e:  # noqa: BLE001 - every loader failure becomes one clear line
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise CodecLoadError(f"cannot load semantic codec from {str(src)!r} "
                                 f"({type(e).__name__}: {reason}); {fix}") from e

    def save_pretrained(self, path: str | Path, dtype: torch.dtype = torch.float32) -> None:
        """Write the codec directory (safetensors weights + configs); ``dtype`` of the stored weights
        (``torch.float16`` halves the files; ``from_pretrained`` loads them as float32 either way)."""
        path = Path(path)
        model = copy.deepcopy(self.model).to(dtype) if dtype != torch.float32 else self.model
        model.save_pretrained(path / MODEL_DIR)
        if self.prior is not None:
            (copy.deepcopy(self.prior).to(dtype) if dtype != torch.float32 else self.prior).save_pretrained(
                path / PRIOR_DIR)
            self.scheduler.save_pretrained(path / SCHEDULER_DIR)
        (path / CONFIG_NAME).write_text(json.dumps({"default_method": self.default_method,
                                                    "default_realism": self.default_realism}, indent=1))

    def fingerprint(self) -> int:
        """CRC-32 of what fixes the meaning of the sent values (the encoder and the projection): a
        receiver with another fingerprint would decode a wrong image."""
        import zlib
        crc = 0
        state = {**{f"encoder.{k}": v for k, v in self.model.encoder.state_dict().items()},
                 "basis": self.model.basis, "latent_mean": self.model.latent_mean, "latent_cov": self.model.latent_cov}
        for name, tensor in sorted(state.items()):
            crc = zlib.crc32(name.encode(), crc)
            crc = zlib.crc32(tensor.detach().cpu().to(torch.float16).numpy().tobytes(), crc)
        return crc

    @property
    def methods(self) -> tuple[str, ...]:
        """The decoders this codec has: ('direct',), and 'diffusion' when it holds a diffusion prior."""
        return METHODS if self.prior is not None else ("direct",)

    # ------------------------------------------------------------------ tiling
    @property
    def tile(self) -> int:
        """Tile size in pixels."""
        return self.model.config.tile

    def latent_shape(self, bandwidth_ratio: str | float | None = None) -> tuple[int, int, int]:
        """(C, h, w) of one tile's sent values at ``bandwidth_ratio`` (None = 1/24)."""
        return self.model.latent_shape(RATIO_DIMS[ratio_name(bandwidth_ratio)])

    @staticmethod
    def ratio_of(latent_shape: tuple[int, ...]) -> str:
        """The bandwidth ratio of tiles of shape (..., C, h, w) (ValueError for an unknown C)."""
        dims = {v: k for k, v in RATIO_DIMS.items()}
        c = int(latent_shape[-3])
        if c not in dims:
            raise ValueError(f"latents with {c} values per position match no bandwidth ratio "
                             f"({', '.join(f'{k}: {v}' for k, v in RATIO_DIMS.items())}); pass what encode() produced")
        return dims[c]

    def tile_grid(self, image_shape: tuple[int, ...]) -> tuple[int, int]:
        """(rows, cols) of tiles covering an image of shape (H, W[, 3])."""
        h, w = image_shape[:2]
        if h < 1 or w < 1:
            raise ValueError(f"image shape {tuple(image_shape)} is empty; give an (H, W, 3) image")
        return -(-h // self.tile), -(-w // self.tile)

    def values_per_image(self, image_shape: tuple[int, ...], bandwidth_ratio: str | float | None = None) -> int:
        """Real values sent for an image (two per complex channel use)."""
        r, c = self.tile_grid(image_shape)
        return r * c * int(np.prod(self.latent_shape(bandwidth_ratio)))

    # ------------------------------------------------------------------ encode / decode
    @torch.no_grad()
    def encode(self, image: np.ndarray, bandwidth_ratio: str | float | None = None, refine_steps: int = 0,
               refine_snr_db: float | tuple[float, float] = (0.0, 15.0), refine_lr: float = DEFAULT_LR) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 sent values (n_tiles, C, 8, 8), tiles in row-major order, two reals
        per complex channel use; C = 32, 16 or 8 for ``bandwidth_ratio`` 1/12, 1/24 (None) or 1/48.
        Unit mean power per value over the training photos (an image's own power varies with it).

        ``refine_steps`` > 0 refines the values for this image at the transmitter (``semantic.refine``):
        that many decoder forward/backward passes, for AWGN at ``refine_snr_db`` (dB per real value; a
        (low, high) range when the SNR is not known), Adam step size ``refine_lr``.
        """
        dims = RATIO_DIMS[ratio_name(bandwidth_ratio)]
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"encode needs a uint8 (H, W, 3) RGB image, got {image.dtype} {image.shape}; "
                             "convert it first (e.g. PIL Image.convert('RGB'))")
        rows, cols = self.tile_grid(image.shape)
        t = self.tile
        pad = np.pad(image, ((0, rows * t - image.shape[0]), (0, cols * t - image.shape[1]), (0, 0)),
                     mode="symmetric")
        x = torch.from_numpy(pad.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        smap = self.model.project(self.model.encode_latents(x), dims)       # (1, C, rows*h, cols*w)
        c, h, w = self.model.latent_shape(dims)
        refine = RefineSettings(steps=refine_steps, snr_db=refine_snr_db, lr=refine_lr)
        smap = refine_latents(self.model, x, smap, refine, block=(h, w), valid=image.shape[:2])[0]
        tiles = smap.reshape(c, rows, h, cols, w).permute(1, 3, 0, 2, 4).reshape(rows * cols, c, h, w)
        return tiles.numpy().astype(np.float32)

    @torch.no_grad()
    def decode(self, received: np.ndarray, noise_var: np.ndarray, image_shape: tuple[int, ...],
               method: str | None = None, steps: int = 10, seed: int = 0,
               realism: float | None = None) -> np.ndarray:
        """Reconstruct an image from received values.

        Args:
            received: float (n_tiles, C, 8, 8) equalised estimates of the sent values (C gives the ratio).
            noise_var: float, same shape, each value's noise variance; inf marks a missing value.
            image_shape: (H, W[, 3]) of the original image.
            method: 'direct' or 'diffusion' (needs a codec with a diffusion prior); None = the codec's
                default (``default_method``).
            steps, seed, realism: the diffusion decoder's UNet evaluations, noise seed and realism
                (0..1, None = ``default_realism``; ``semantic.posterior``); unused by 'direct'.
        Returns:
            uint8 (H, W, 3).
        """
        method = self.default_method if method is None else method
        if method not in METHODS:
            raise ValueError(f"unknown decoder method {method!r}; use one of {', '.join(METHODS)}")
        if method == "diffusion" and self.prior is None:
            raise ValueError("this codec has no diffusion prior over its latent space yet; decode with "
                             "method='direct' (--decoder direct)")
        y = torch.as_tensor(np.asarray(received, dtype=np.float32))
        var = torch.as_tensor(np.asarray(noise_var, dtype=np.float32))
        rows, cols = self.tile_grid(image_shape)
        c = y.shape[1] if y.ndim == 4 else -1
        want = (rows * cols, c, *self.model.latent_shape(1)[1:])
        if y.ndim != 4 or tuple(y.shape) != want or tuple(var.shape) != want or c not in RATIO_DIMS.values():
            raise ValueError(f"received {tuple(y.shape)} / noise_var {tuple(var.shape)} do not match the latents "
                             f"of a {tuple(image_shape[:2])} image ({rows * cols} tiles of (C, 8, 8), C in "
                             f"{sorted(RATIO_DIMS.values())}); pass what encode() produced")
        y, var = self._stitch(y, rows, cols), self._stitch(var, rows, cols)
        if method == "diffusion":
            z = posterior_latents(self.model, self.prior, self.scheduler, y, var, steps=steps, seed=seed,
                                  realism=self.default_realism if realism is None else realism)
            return self.image_from_latents(z, image_shape)
        return self._to_uint8(self.model.decode(y, var)[0], image_shape)

    @torch.no_grad()
    def image_from_latents(self, z: torch.Tensor, image_shape: tuple[int, ...]) -> np.ndarray:
        """The latent map z (1, 32, h, w) (all tiles stitched, e.g. ``semantic.posterior``'s) through the
        codec's decoder: uint8 (H, W, 3), cropped to ``image_shape`` (H, W[, 3])."""
        return self._to_uint8(self.model.decoder(z).clamp(0.0, 1.0)[0], image_shape)

    @staticmethod
    def _to_uint8(img: torch.Tensor, image_shape: tuple[int, ...]) -> np.ndarray:
        """(3, H', W') in [0, 1] -> uint8 (H, W, 3), cropped to ``image_shape``."""
        img = (img.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
        return img[: image_shape[0], : image_shape[1]]

    @staticmethod
    def _stitch(tiles: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """(rows*cols, C, h, w) tiles in row-major order -> the map (1, C, rows*h, cols*w)."""
        _, c, h, w = tiles.shape
        return tiles.reshape(rows, cols, c, h, w).permute(2, 0, 3, 1, 4).reshape(1, c, rows * h, cols * w)
