"""Learned semantic codec on the pretrained TAEF2 latent space, with a channel-aware decoder.

Public API: :class:`SemanticCodec` (``from_pretrained``, ``save_pretrained``, ``encode``, ``decode``),
:class:`CodecLoadError`, and the modules ``semantic.taef2`` (the pretrained autoencoder's modules),
``semantic.latent_codec`` (projection, LMMSE estimate, restorer), ``semantic.metrics`` (psnr,
ms_ssim, vif, gmsd, hf_energy_ratio), ``semantic.data`` (held-out photos, photo folders),
``semantic.train`` (``finetune``, ``main``), ``semantic.allocator`` (malloc settings that keep torch
out of the kernel), ``semantic.prior_train`` (a diffusion prior over the
latent maps) and ``semantic.bench`` (``run_decoder_bench``). ``SemanticCodec`` and ``CodecLoadError`` are imported on
first use.
"""
from __future__ import annotations

__all__ = ["SemanticCodec", "CodecLoadError"]


def __getattr__(name: str):
    """``SemanticCodec`` and ``CodecLoadError`` load ``semantic.codec`` (torch, diffusers: seconds to
    import) on first use, so that ``semantic.source_codec`` or ``semantic.metrics`` alone do not pay for it."""
    if name in __all__:
        from semantic import codec
        return getattr(codec, name)
    raise AttributeError(f"module 'semantic' has no attribute {name!r}")
