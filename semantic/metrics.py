"""Image quality metrics on uint8 (H, W, 3) images: PSNR (dB), MS-SSIM, VIF, GMSD and the
high-frequency energy ratio.

VIF (visual information fidelity, pixel domain, Sheikh & Bovik 2006) is the weight-free perceptual
metric: torchmetrics' implementation, computed on 0..255 values, nothing downloaded.  Higher is
better for these three (VIF is 1 for identical images).  GMSD (gradient magnitude similarity
deviation, Xue et al. 2014; lower is better, 0 for identical images) says whether the edges are
where the original has them; the high-frequency energy ratio says how much fine detail is there at
all (1 = as much as the original, below 1 = blur).  Neither needs network weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import (multiscale_structural_similarity_index_measure,
                                            structural_similarity_index_measure,
                                            visual_information_fidelity)

_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
VIF_MIN_SIDE = 41  # torchmetrics' VIF filters with a 41-tap Gaussian at its finest scale


def _pair(ref: np.ndarray, img: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    ref, img = np.asarray(ref), np.asarray(img)
    if ref.shape != img.shape or ref.ndim != 3 or ref.shape[2] != 3:
        raise ValueError(f"metric inputs must be two (H, W, 3) images of equal shape, got {ref.shape} and {img.shape}")
    to = lambda a: torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    return to(ref), to(img)


def psnr(ref: np.ndarray, img: np.ndarray) -> float:
    """PSNR in dB for 8-bit images (peak 255); inf for identical images."""
    r, i = _pair(ref, img)
    mse = float(((r - i) ** 2).mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ms_ssim(ref: np.ndarray, img: np.ndarray) -> float:
    """MS-SSIM in [0, 1] (torchmetrics, 11-tap Gaussian window, sigma 1.5).

    Small images use fewer scales (the first L of the standard five weights, renormalised) so that
    the coarsest scale still holds a window; images under 11 px per side fall back to a 3-tap
    window at one scale.
    """
    r, i = _pair(ref, img)
    win, w = msssim_scales(min(r.shape[-2:]))
    if len(w) == 1:
        return float(structural_similarity_index_measure(i, r, data_range=255.0, kernel_size=win))
    return float(multiscale_structural_similarity_index_measure(i, r, data_range=255.0, kernel_size=win,
                                                                betas=w, normalize="relu"))


def msssim_scales(side: int) -> tuple[int, tuple[float, ...]]:
    """(window taps, scale weights) of :func:`ms_ssim` for images whose shorter side is ``side`` pixels:
    the first L of the standard five weights, renormalised, L the most scales that still hold a window."""
    win, levels = 11, 5
    # torchmetrics also requires side // (levels-1)**2 > win-1 (stricter than 2**(levels-1) at 4 levels)
    while levels > 1 and (side <= (win - 1) * 2 ** (levels - 1) or side // (levels - 1) ** 2 <= win - 1):
        levels -= 1
    if side < win:
        win = 3 if side >= 3 else 1
    return win, tuple(x / sum(_MSSSIM_WEIGHTS[:levels]) for x in _MSSSIM_WEIGHTS[:levels])


def vif(ref: np.ndarray, img: np.ndarray) -> float:
    """Pixel-domain VIF (torchmetrics), averaged over the RGB channels; images need >= 41 px per side."""
    r, i = _pair(ref, img)
    if min(r.shape[-2:]) < VIF_MIN_SIDE:
        raise ValueError(f"VIF needs images of at least {VIF_MIN_SIDE}x{VIF_MIN_SIDE} pixels, got {tuple(r.shape[-2:])}; use a larger image")
    return float(visual_information_fidelity(i, r))


def _luminance(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of uint8 (H, W, 3), float64 in 0..255."""
    return np.asarray(img, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def gmsd(ref: np.ndarray, img: np.ndarray) -> float:
    """Gradient magnitude similarity deviation (Xue et al. 2014) on the luma: 2x2 average and
    downsampling, Prewitt gradient magnitudes m_r, m_d, GMS = (2 m_r m_d + c) / (m_r^2 + m_d^2 + c)
    with c = 170 (0..255 scale), GMSD = the standard deviation of GMS over the image.  Written here:
    the library that has it (piq) needs a torchvision that does not install beside the pinned torch."""
    from scipy.ndimage import convolve
    if np.shape(ref) != np.shape(img):
        raise ValueError(f"gmsd needs images of equal shape, got {np.shape(ref)} and {np.shape(img)}")
    prewitt = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0
    mags = []
    for im in (ref, img):
        y = _luminance(im)
        y = y[: y.shape[0] // 2 * 2, : y.shape[1] // 2 * 2]
        y = 0.25 * (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2])
        mags.append(np.hypot(convolve(y, prewitt, mode="nearest"), convolve(y, prewitt.T, mode="nearest")))
    c = 170.0
    gms = (2 * mags[0] * mags[1] + c) / (mags[0] ** 2 + mags[1] ** 2 + c)
    return float(gms.std())


#: Spatial frequency (cycles per pixel) above which luma energy counts as high-frequency detail.
HF_CUTOFF = 1.0 / 8.0


def hf_energy_ratio(ref: np.ndarray, img: np.ndarray) -> float:
    """Luma energy above ``HF_CUTOFF`` cycles per pixel (radial, Hann-windowed periodogram) of ``img``
    over that of ``ref``: 1 = fine detail kept, below 1 = blur, above 1 = added noise or detail."""
    if np.shape(ref) != np.shape(img):
        raise ValueError(f"hf_energy_ratio needs images of equal shape, got {np.shape(ref)} and {np.shape(img)}")
    h, w = np.shape(ref)[:2]
    window = np.outer(np.hanning(h), np.hanning(w))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    high = np.hypot(fy, fx) > HF_CUTOFF
    energy = [float((np.abs(np.fft.fft2(_luminance(im) * window)) ** 2)[high].sum()) for im in (ref, img)]
    return energy[1] / max(energy[0], 1e-12)


def colour_fidelity(ref: np.ndarray, img: np.ndarray) -> dict[str, float]:
    """Colour of ``img`` against ``ref`` (uint8 (H, W, 3) each) in CIELAB (scikit-image):
    'delta_e' = mean CIEDE2000 colour difference (about 2.3 is a just-noticeable difference),
    'chroma_ratio' = mean chroma sqrt(a*^2 + b*^2) of img / that of ref (1 = as saturated,
    below 1 = washed out, e.g. green turned grey)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    lab_ref, lab_img = rgb2lab(np.asarray(ref)), rgb2lab(np.asarray(img))
    chroma = [float(np.hypot(lab[..., 1], lab[..., 2]).mean()) for lab in (lab_ref, lab_img)]
    return {"delta_e": float(deltaE_ciede2000(lab_ref, lab_img).mean()),
            "chroma_ratio": chroma[1] / max(chroma[0], 1e-6)}


def all_metrics(ref: np.ndarray, img: np.ndarray) -> dict[str, float | None]:
    """{'psnr_db', 'ms_ssim', 'vif'} for one image pair; 'vif' is None (JSON null) for images under
    ``VIF_MIN_SIDE`` pixels a side, where VIF is not defined."""
    small = min(np.shape(ref)[:2]) < VIF_MIN_SIDE
    return {"psnr_db": psnr(ref, img), "ms_ssim": ms_ssim(ref, img),
            "vif": None if small else vif(ref, img)}
