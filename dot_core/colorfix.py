"""Colour fix: keep the restoration's colour and low frequencies, take x̂0's detail.

With unpaired few-shot sets, a learned latent's patch mean and covariance carry the palette of
the calibration photos, and the transported image x̂0 takes it on (measured with taef2, bicubic
×4: about −11 dB PSNR at α = 0, visible casts). Applied to x̂0 before eq. (4) of Adrai et al.
2023, so x̂α = α·x* + (1 − α)·fix(x̂0, x*):

* ``wavelet`` (StableSR's and SUPIR's "wavelet colour fix" [1, 2]): the low-pass of x* plus the
  high-pass of x̂0,

  .. math:: \\mathrm{fix}(\\hat x_0, x^*) = G_\\sigma * x^* + (\\hat x_0 - G_\\sigma * \\hat x_0)

  with G_σ the Gaussian of :data:`WAVELET_SIGMA` pixels (:func:`dot_core.latents.detail.gaussian_blur`,
  border replicated). StableSR sums the high bands of a five-level à-trous decomposition, whose
  low band is a single wider Gaussian; one blur computes the same split in one pass. A colour
  cast of x̂0 (any constant offset per channel) is removed exactly.
* ``adain`` (adaptive instance normalisation [3]): each channel of x̂0 shifted and scaled to the
  mean and standard deviation of that channel of x*.
* ``none``: x̂0 as the paper computes it.

``auto`` is resolved in one place, :func:`resolve_color_fix`: the encoder's own default
(``wavelet`` for learned latents, ``none`` for ``pixel`` and ``detail``, which keep colour by
construction).

Restorer's lattice
------------------
A ×p upscaler (bicubic ×4, p = 4) leaves its interpolation phase on the lattice frequencies
(k/p, l/p) of the restoration, faint and modulated by the content. Transport learns nothing
trustworthy there (the restored patches' variance in those directions is mostly that residue) and
amplifies it into a visible grid on flat walls and sky. When the calibration names the
restorer's lattice (:attr:`dot_core.calibration.result.Calibration.restoration_lattice`, e.g. the
``sr-bicubic-x4`` preset: 4), the pipeline keeps x*'s content in a band of
:data:`RESTORATION_LATTICE_BAND` cycles per pixel around each lattice frequency
(``remove_lattice(x̂0, x*, p, band=RESTORATION_LATTICE_BAND)``), so x̂α equals x* there for
every α and the grid cannot grow at any α. The band is p² − 1 squares of side 2·band: about
1.5 % of the spectrum at p = 4.

Decoder lattice
---------------
A ×f decoder built from nearest up-sampling (TAESD, taef2: f = 8) prints an f-pixel lattice
when its input leaves the latents it was trained on, as transported latents do.
:func:`remove_lattice` puts x*'s content back on exactly those frequencies (k/f cycles per pixel
on both axes) and leaves every other frequency of x̂0 as it was. It is opt-in
(``TransportConfig(lattice_fix=True)``, CLI ``--lattice-fix``): on the reporting photographs with
taef2 the tiled lattice measure (:func:`dot_core.quality.lattice.lattice_ratio`, p = 8) moves only from
1.02× to 1.01× the ground truth's, and the decoder's 8-pixel blocks on edges stay in the crops.

References
----------
[1] Wang, Yue, Zhou, Chan & Loy, "Exploiting Diffusion Prior for Real-World Image
    Super-Resolution" (StableSR), IJCV 2024, colour correction.
[2] Yu et al., "Scaling Up to Excellence: Practicing Model Scaling for Photo-Realistic Image
    Restoration In the Wild" (SUPIR), CVPR 2024.
[3] Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization", ICCV 2017.
"""

from __future__ import annotations

import numpy as np
import torch

from .latents.detail import gaussian_blur
from .quality.lattice import lattice_mask  # the bins the lattice measure counts, re-exported here

__all__ = [
    "COLOR_FIXES", "WAVELET_SIGMA", "apply_color_fix", "resolve_color_fix", "wavelet_color_fix",
    "adain_color_fix", "lattice_mask", "lattice_band_mask", "remove_lattice", "resolve_lattice_fix",
    "RESTORATION_LATTICE_BAND",
]

COLOR_FIXES = ("none", "wavelet", "adain")
# Pixels: the widest split within 2 dB of the restoration with taef2 (docs/method.md "Colour fix")
WAVELET_SIGMA = 1.25
# Cycles per pixel on each side of a restorer's lattice frequency kept from x* (see "Restorer's
# lattice"): the narrowest band that keeps the grid down (docs/method.md "The restorer's lattice")
RESTORATION_LATTICE_BAND = 1 / 64


def _as_batch(img, name: str) -> torch.Tensor:
    """(H, W, 3) array or tensor → float32 (1, 3, H, W) tensor."""
    t = torch.as_tensor(np.asarray(img, dtype=np.float32)) if not torch.is_tensor(img) else img.float()
    if t.ndim != 3 or t.shape[2] != 3:
        raise ValueError(f"{name}: expected an (H, W, 3) image, got shape {tuple(t.shape)}")
    return t.permute(2, 0, 1)[None]


def wavelet_color_fix(x0: np.ndarray, x_star: np.ndarray, *, sigma: float = WAVELET_SIGMA) -> np.ndarray:
    """G_σ * x* + (x̂0 − G_σ * x̂0) for (H, W, 3) float images; float32, not clipped."""
    a, b = _as_batch(x0, "x0"), _as_batch(x_star, "x_star")
    out = gaussian_blur(b - a, sigma) + a  # = G*x* + (x0 − G*x0): the blur is linear
    return out[0].permute(1, 2, 0).numpy()


def adain_color_fix(x0: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    """(x̂0 − μ(x̂0)) · σ(x*) / σ(x̂0) + μ(x*) per channel; float32, not clipped."""
    a = np.asarray(x0, dtype=np.float64)
    b = np.asarray(x_star, dtype=np.float64)
    mu_a, mu_b = a.mean(axis=(0, 1)), b.mean(axis=(0, 1))
    sd_a, sd_b = a.std(axis=(0, 1)), b.std(axis=(0, 1))
    gain = np.where(sd_a > 1e-6, sd_b / np.maximum(sd_a, 1e-6), 1.0)  # a flat channel is only shifted
    return ((a - mu_a) * gain + mu_b).astype(np.float32)


def apply_color_fix(method: str, x0: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    """x̂0 after the colour fix ``method`` ("none", "wavelet" or "adain"), clipped to [0, 1].

    Examples
    --------
    A transported image with a red cast and less contrast gets x*'s mean colour back:

    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import apply_color_fix
    >>> x_star = data.astronaut()[100:164, 180:244] / 255.0
    >>> x0 = np.clip(0.8 * x_star + np.array([0.15, 0.0, 0.0]), 0, 1)
    >>> print(x_star.mean(axis=(0, 1)).round(2), x0.mean(axis=(0, 1)).round(2))
    [0.8  0.67 0.58] [0.79 0.53 0.46]
    >>> for method in ("none", "wavelet", "adain"):
    ...     print(method, apply_color_fix(method, x0, x_star).mean(axis=(0, 1)).round(2))
    none [0.79 0.53 0.46]
    wavelet [0.8  0.67 0.58]
    adain [0.8  0.67 0.58]
    """
    if np.shape(x0) != np.shape(x_star):
        raise ValueError(f"x0 and x_star must have one shape, got {np.shape(x0)} and {np.shape(x_star)}")
    if method == "none":
        return np.asarray(x0, dtype=np.float32)
    if method == "wavelet":
        out = wavelet_color_fix(x0, x_star)
    elif method == "adain":
        out = adain_color_fix(x0, x_star)
    else:
        raise ValueError(f"color_fix must be one of {COLOR_FIXES}, got {method!r}")
    return np.clip(out, 0.0, 1.0)


def lattice_band_mask(height: int, width: int, period: int, band: float) -> torch.Tensor:
    """(H, W) bool mask of the FFT bins within ``band`` cycles/pixel of a lattice frequency.

    Both coordinates of a bin must be within ``band`` of a multiple of 1/p; the band around the
    mean (k = l = 0) is never in it. Always holds :func:`lattice_mask` (the ±1 bins).
    """
    if not 0.0 <= band < 0.5 / period:
        raise ValueError(f"band must be in [0, 1/(2·period)), got {band!r}")

    def near(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.fft.fftfreq(n, dtype=torch.float64)
        k = torch.round(f * period)
        return (f - k / period).abs() <= band + 1e-12, k.remainder(period) == 0

    (ny, zy), (nx, zx) = near(height), near(width)
    band_mask = (ny[:, None] & nx[None, :]) & ~(zy[:, None] & zx[None, :])
    return band_mask | lattice_mask(height, width, period)


def remove_lattice(x0: np.ndarray, x_star: np.ndarray, period: int, *, band: float = 0.0) -> np.ndarray:
    """x̂0 with x*'s content on a period-p lattice's frequencies; float32, not clipped.

    .. math:: \\mathrm{out} = \\hat x_0 - \\mathcal F^{-1}\\big(M \\cdot \\mathcal F(\\hat x_0 - x^*)\\big)

    per channel, M the lattice mask: :func:`lattice_mask` (the decoder's lattice, ``band = 0``), or
    :func:`lattice_band_mask` with ``band`` cycles/pixel around each lattice frequency (a
    restorer's lattice, whose content-modulated residue spreads around it). Every other frequency
    of x̂0 is kept exactly.
    """
    a = np.asarray(x0, dtype=np.float32)
    H, W = a.shape[:2]
    mask = lattice_band_mask(H, W, period, band) if band > 0 else lattice_mask(H, W, period)
    out = np.empty_like(a)
    for c in range(a.shape[2]):  # one channel at a time bounds the complex buffer
        d = torch.fft.fft2(torch.from_numpy(a[..., c] - np.asarray(x_star[..., c], dtype=np.float32)))
        d[~mask] = 0
        out[..., c] = a[..., c] - torch.fft.ifft2(d).real.numpy()
    return out


def resolve_color_fix(choice: str, encoder) -> str:
    """"auto" → the encoder's ``default_color_fix``; any of :data:`COLOR_FIXES` as it is."""
    if choice == "auto":
        return encoder.default_color_fix
    if choice not in COLOR_FIXES:
        raise ValueError(f"color_fix must be 'auto' or one of {COLOR_FIXES}, got {choice!r}")
    return choice


def resolve_lattice_fix(choice: bool, encoder) -> int | None:
    """The lattice period to remove from x̂0, or None: ``True`` means the encoder's factor when it
    up-samples (f > 1, a learned decoder); ``False``, the default, never."""
    if not isinstance(choice, bool):
        raise ValueError(f"lattice_fix must be True or False, got {choice!r}")
    return encoder.factor if choice and encoder.factor > 1 else None
