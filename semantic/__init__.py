"""Learned semantic codec: DeepJSCC-style encoder/direct decoder, diffusion prior, few-step decoders.

Public API: :class:`SemanticCodec` (``from_pretrained``, ``save_pretrained``, ``encode``, ``decode``),
:class:`CodecLoadError`, and the modules ``semantic.metrics`` (psnr, ms_ssim, vif),
``semantic.data`` (training / held-out photos), ``semantic.train`` (``train``, ``main``) and
``semantic.bench`` (``run_decoder_bench``).
"""
from semantic.codec import CodecLoadError, SemanticCodec

__all__ = ["SemanticCodec", "CodecLoadError"]
