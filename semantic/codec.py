"""SemanticCodec: image <-> per-tile latents, with direct and diffusion decoders.

A codec directory (``save_pretrained`` / ``from_pretrained``) holds diffusers-format sub-folders:
``jscc/`` (:class:`semantic.jscc.GdnJSCC` or the first model's :class:`semantic.jscc.JSCC`),
``prior/`` (``UNet2DModel``), ``scheduler/`` (``DDPMScheduler``), ``codec_config.json`` (default
diffusion decoder) and, from ``diffradio train``, ``data_split.json`` (its training photos).  A hub id
(``owner/name``) loads the same layout through diffusers' hub code (needs network access).

Tiling: the image is padded by mirror reflection (``numpy.pad(mode='symmetric')``) to a multiple of
the tile size (64 px by default) and split into tiles in row-major order; each tile's latent is
power-normalised on its own and sent on its own (one tile's latents can be lost without affecting
the others).  The encoder, the diffusion prior and the direct decoder are fully convolutional and
run on the whole padded image / the stitched latent map, so a tile border sees its neighbours on
both sides, the decoded image has no seams, and a lost tile is regenerated from its neighbours.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

from semantic import samplers
from semantic.jscc import JSCC_CLASSES, GdnJSCC, JSCC
from semantic.refine import DEFAULT_LR, refine_latents

#: Sub-folders of a codec directory.
JSCC_DIR, PRIOR_DIR, SCHEDULER_DIR = "jscc", "prior", "scheduler"
CONFIG_NAME = "codec_config.json"
#: Shipped default weights.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default"
METHODS = ("diffusion", "snr-matched", "posterior", "direct")


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
        jscc: encoder + direct decoder.
        prior: diffusion prior UNet over the stitched latent map of an image.
        scheduler: its DDPM training schedule.
        diffusion_method: what ``method='diffusion'`` means: ``'posterior'`` or ``'snr-matched'``.
        fusion_scale: the posterior decoder's trust in y relative to the prior (see
            ``semantic.samplers.posterior``).
        realism: the posterior decoder's default blend between its posterior-mean estimate (0) and
            its posterior sample (1).  ``fusion_scale`` and ``realism`` are chosen on the validation
            split (the model card says how).
        prior_scope: ``'map'``: the prior runs on the stitched latent map of the whole image (a lost
            tile is generated from its neighbours); ``'tile'``: on each tile's latent on its own
            (the first shipped model); a tile of which nothing arrived is then decoded as by
            ``method='direct'`` (a per-tile prior has nothing to draw it from).
    """

    def __init__(self, jscc: JSCC, prior: UNet2DModel, scheduler: DDPMScheduler,
                 diffusion_method: str = "posterior", fusion_scale: float = 10.0, realism: float = 1.0,
                 prior_scope: str = "map"):
        if diffusion_method not in ("posterior", "snr-matched"):
            raise ValueError(f"diffusion_method={diffusion_method!r}; use 'posterior' or 'snr-matched'")
        if not 0.0 <= realism <= 1.0:
            raise ValueError(f"realism={realism} must be in [0, 1]")
        if prior_scope not in ("map", "tile"):
            raise ValueError(f"prior_scope={prior_scope!r}; use 'map' or 'tile'")
        self.jscc, self.prior, self.scheduler = jscc.eval(), prior.eval(), scheduler
        self.prior_scope = prior_scope
        self.diffusion_method, self.fusion_scale, self.realism = diffusion_method, float(fusion_scale), float(realism)

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
        if not (path / JSCC_DIR).is_dir():
            raise CodecLoadError(f"no semantic codec at {str(src)!r} (missing {JSCC_DIR}/ sub-folder); {fix}")
        try:
            # float32 on load: the shipped weights are stored as float16 to keep the package small
            jscc_cls = JSCC_CLASSES[GdnJSCC.load_config(path, subfolder=JSCC_DIR).get("_class_name", "JSCC")]
            jscc = jscc_cls.from_pretrained(path, subfolder=JSCC_DIR, torch_dtype=torch.float32)
            prior = UNet2DModel.from_pretrained(path, subfolder=PRIOR_DIR, torch_dtype=torch.float32)
            sched = DDPMScheduler.from_pretrained(path, subfolder=SCHEDULER_DIR)
            cfg = json.loads((path / CONFIG_NAME).read_text()) if (path / CONFIG_NAME).exists() else {}
            return cls(jscc, prior, sched, **cfg)
        except Exception as e:  # noqa: BLE001 - every loader failure becomes one clear line
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise CodecLoadError(f"cannot load semantic codec from {str(src)!r} "
                                 f"({type(e).__name__}: {reason}); {fix}") from e

    def save_pretrained(self, path: str | Path, dtype: torch.dtype = torch.float32) -> None:
        """Write the codec directory (safetensors weights + configs); ``dtype`` of the stored weights
        (``torch.float16`` halves the files; ``from_pretrained`` loads them as float32 either way)."""
        path = Path(path)
        for model, sub in ((self.jscc, JSCC_DIR), (self.prior, PRIOR_DIR)):
            (copy.deepcopy(model).to(dtype) if dtype != torch.float32 else model).save_pretrained(path / sub)
        self.scheduler.save_pretrained(path / SCHEDULER_DIR)
        (path / CONFIG_NAME).write_text(json.dumps({"diffusion_method": self.diffusion_method,
                                                      "fusion_scale": self.fusion_scale,
                                                      "realism": self.realism,
                                                      "prior_scope": self.prior_scope}, indent=1))

    # ------------------------------------------------------------------ tiling
    @property
    def tile(self) -> int:
        """Tile size in pixels."""
        return self.jscc.config.tile

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one tile's latent."""
        return self.jscc.latent_shape

    def tile_grid(self, image_shape: tuple[int, ...]) -> tuple[int, int]:
        """(rows, cols) of tiles covering an image of shape (H, W[, 3])."""
        h, w = image_shape[:2]
        if h < 1 or w < 1:
            raise ValueError(f"image shape {tuple(image_shape)} is empty; give an (H, W, 3) image")
        return -(-h // self.tile), -(-w // self.tile)

    def values_per_image(self, image_shape: tuple[int, ...]) -> int:
        """Real latent values sent for an image (two per complex channel use)."""
        r, c = self.tile_grid(image_shape)
        return r * c * int(np.prod(self.latent_shape))

    # ------------------------------------------------------------------ encode / decode
    @torch.no_grad()
    def encode(self, image: np.ndarray, refine_steps: int = 0,
               refine_snr_db: float | tuple[float, float] = (0.0, 15.0), refine_lr: float = DEFAULT_LR) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 latents (n_tiles, C, h, w), each tile unit mean square.

        ``refine_steps`` > 0 refines the encoder's latents for this image at the transmitter
        (``semantic.refine``): that many decoder forward/backward passes, for AWGN at
        ``refine_snr_db`` (dB per real latent value; a (low, high) range when the SNR is not known),
        Adam step size ``refine_lr``.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"encode needs a uint8 (H, W, 3) RGB image, got {image.dtype} {image.shape}; "
                             "convert it first (e.g. PIL Image.convert('RGB'))")
        rows, cols = self.tile_grid(image.shape)
        t = self.tile
        pad = np.pad(image, ((0, rows * t - image.shape[0]), (0, cols * t - image.shape[1]), (0, 0)),
                     mode="symmetric")
        x = torch.from_numpy(pad.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        zmap = self.jscc.encode(x)                                           # (1, C, rows*h, cols*w)
        zmap = refine_latents(self.jscc, x, zmap, refine_snr_db, refine_steps, lr=refine_lr,
                              valid=image.shape[:2])[0]
        c, h, w = self.latent_shape
        tiles = zmap.reshape(c, rows, h, cols, w).permute(1, 3, 0, 2, 4).reshape(rows * cols, c, h, w)
        return tiles.numpy().astype(np.float32)

    @torch.no_grad()
    def decode(self, received: np.ndarray, noise_var: np.ndarray, image_shape: tuple[int, ...],
               method: str = "diffusion", steps: int = 10, seed: int = 0,
               realism: float | None = None) -> np.ndarray:
        """Reconstruct an image from received latents.

        Args:
            received: float (n_tiles, C, h, w) equalised estimates of the sent latents.
            noise_var: float, same shape, each value's noise variance; inf marks a missing value.
            image_shape: (H, W[, 3]) of the original image.
            method: 'diffusion' (the default diffusion decoder, ``self.diffusion_method``),
                'snr-matched', 'posterior' or 'direct'.
            steps: diffusion solver steps (ignored by 'direct').
            seed: seed of the sampler's noise (same inputs + seed -> same image).
            realism: posterior decoder only: 0 = posterior-mean-like (smooth), 1 = sampled detail;
                None = the codec's default (``self.realism``).
        Returns:
            uint8 (H, W, 3).
        """
        if method not in METHODS:
            raise ValueError(f"unknown decoder method {method!r}; use one of {', '.join(METHODS)}")
        rows, cols = self.tile_grid(image_shape)
        want = (rows * cols, *self.latent_shape)
        y = torch.as_tensor(np.asarray(received, dtype=np.float32))
        var = torch.as_tensor(np.asarray(noise_var, dtype=np.float32))
        if tuple(y.shape) != want or tuple(var.shape) != want:
            raise ValueError(f"received {tuple(y.shape)} / noise_var {tuple(var.shape)} do not match the "
                             f"{want} latents of a {tuple(image_shape[:2])} image; pass what encode() produced")
        if int(steps) < 1:
            raise ValueError(f"steps={steps} must be >= 1")
        if method == "diffusion":
            method = self.diffusion_method
        gen = torch.Generator().manual_seed(int(seed))
        realism = self.realism if realism is None else float(realism)

        def sample(y: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if method == "posterior":
                return samplers.posterior(self.prior, self.scheduler, y, var, steps=int(steps), generator=gen,
                                          fusion_scale=self.fusion_scale, realism=realism)
            return samplers.snr_matched(self.prior, self.scheduler, y, var, steps=int(steps), generator=gen)

        if method == "direct":
            z, zvar = self._stitch(y, rows, cols), self._stitch(var, rows, cols)
        elif self.prior_scope == "tile":
            # A per-tile prior samples tile by tile and knows nothing of a tile of which nothing
            # arrived: a random draw there would be content unrelated to the image, so such a tile
            # keeps what the direct decoder makes of it (the mean), and only heard tiles are sampled.
            heard = torch.isfinite(var).flatten(1).any(1)
            z, zvar = y.clone(), var.clone()
            if bool(heard.any()):
                z[heard], zvar[heard] = sample(y[heard], var[heard])
            z, zvar = self._stitch(z, rows, cols), self._stitch(zvar, rows, cols)
        else:
            z, zvar = sample(self._stitch(y, rows, cols), self._stitch(var, rows, cols))
        img = self.jscc.decode(z, zvar)[0]
        img = (img.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
        return img[: image_shape[0], : image_shape[1]]

    def _stitch(self, tiles: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """(rows*cols, C, h, w) tiles in row-major order -> the latent map (1, C, rows*h, cols*w)."""
        c, h, w = self.latent_shape
        return tiles.reshape(rows, cols, c, h, w).permute(2, 0, 3, 1, 4).reshape(1, c, rows * h, cols * w)
