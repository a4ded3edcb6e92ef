"""Learned semantic codec: DeepJSCC-style encoder/direct decoder, diffusion prior, few-step decoders.

Public API: :class:`SemanticCodec` (``from_pretrained``, ``save_pretrained``, ``encode``, ``decode``),
:class:`CodecLoadError`, and the modules ``semantic.metrics`` (psnr, ms_ssim, vif),
``semantic.data`` (training / held-out photos), ``semantic.train`` (``train``, ``main``) and
``semantic.bench`` (``run_decoder_bench``). ``SemanticCodec`` and ``CodecLoadError`` are imported on
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
