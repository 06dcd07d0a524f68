"""Image quality measures: PSNR, SSIM, and two distribution distances (texture, spectrum).

All functions take float images of shape (H, W, 3) (or (H, W) gray) in [0, 1], as numpy arrays
or torch tensors, compute in float64 on the CPU and return Python floats. PSNR and SSIM compare
aligned pairs; the two distances compare image statistics and accept different sizes.

References
----------
.. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
   error visibility to structural similarity", IEEE Trans. Image Processing 13(4), 2004.
.. [2] T. Karras, T. Aila, S. Laine, J. Lehtinen, "Progressive Growing of GANs for Improved
   Quality, Stability, and Variation", ICLR 2018 (sliced Wasserstein distance, appendix D).
.. [3] J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein Barycenter and its Application to
   Texture Mixing", SSVM 2011.
.. [4] A. van der Schaaf, J. H. van Hateren, "Modelling the power spectra of natural images:
   statistics and information", Vision Research 36(17), 1996.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..ot.gaussian_taps import gaussian_taps

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights, shared by every luma this engine takes
_POWER_FLOOR = 1e-10  # below 8-bit quantisation noise (~1e-6): keeps log10 finite on flat spectra


def as_image(x, name: str) -> torch.Tensor:
    """numpy array or tensor (H, W) / (H, W, C) -> float64 CPU tensor (H, W, C), C in {1, 3}."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float64)
    else:
        t = torch.from_numpy(np.array(x, dtype=np.float64))
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim != 3 or t.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected an (H, W, 3) or (H, W) image, got shape "
                         f"{tuple(t.shape)}; move channels last")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or Inf values")
    return t


def _as_pair(x, y, *, same_size: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = as_image(x, "x"), as_image(y, "y")
    if (x.shape if same_size else x.shape[2]) != (y.shape if same_size else y.shape[2]):
        raise ValueError(f"x and y must have the same {'shape' if same_size else 'channels'}, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def psnr(x, y, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB.

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{R^2}{\\mathrm{mean}((x - y)^2)}

    Parameters
    ----------
    x, y : array_like or torch.Tensor, shape (H, W, 3)
        Images in [0, ``data_range``].
    data_range : float, optional
        Peak value R.

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the images are identical.

    Examples
    --------
    >>> import numpy as np
    >>> from dot_core import psnr
    >>> y = np.full((8, 8, 3), 0.5)
    >>> round(psnr(y + 0.1, y), 3), psnr(y, y)  # mean squared error 0.01: 20 dB
    (20.0, inf)
    """
    x, y = _as_pair(x, y, same_size=True)
    return psnr_from_mse(torch.mean((x - y) ** 2).item(), data_range=data_range)


def psnr_from_mse(mse: float, *, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error ``mse`` (``inf`` for 0): :func:`psnr`'s formula, for a
    caller that computes the error itself (the page's α curve, on float32 images).

    Examples
    --------
    >>> psnr_from_mse(0.01), psnr_from_mse(0.0)
    (20.0, inf)
    """
    return float("inf") if mse == 0.0 else 10.0 * math.log10(data_range ** 2 / mse)


def _filter_separable(img: torch.Tensor, k: torch.Tensor, pad: str | None = None) -> torch.Tensor:
    """Depthwise separable filter of (1, C, H, W) by the 1-D kernel k; 'valid' unless pad given."""
    c, r = img.shape[1], (k.numel() - 1) // 2
    if pad is not None:
        img = F.pad(img, (r, r, r, r), mode=pad)
    img = F.conv2d(img, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(img, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ssim(x, y, *, data_range: float = 1.0) -> float:
    """Structural similarity index (Wang et al. 2004 [1]_), averaged over channels.

    .. math:: \\mathrm{SSIM} = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
              {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
              \\quad C_1 = (0.01 R)^2,\\; C_2 = (0.03 R)^2

    Local moments use an 11×11 Gaussian window (σ = 1.5, population covariance); the map is
    averaged over the 'valid' region, where the window lies inside the image. This matches
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    Parameters
    ----------
    x, y : array_like or torch.Tensor, shape (H, W, 3), H, W >= 11
    data_range : float, optional
        Dynamic range R of the images.

    Returns
    -------
    float
        Mean SSIM, at most 1 (identical images).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> y = data.astronaut()[100:164, 180:244] / 255.0  # (64, 64, 3) in [0, 1]
    >>> noisy = np.clip(y + np.random.default_rng(0).normal(0, 0.1, y.shape), 0, 1)
    >>> blurred = (y + np.roll(y, 1, axis=0) + np.roll(y, 1, axis=1) + np.roll(y, (1, 1), axis=(0, 1))) / 4
    >>> from dot_core import ssim
    >>> ssim(y, y), round(ssim(blurred, y), 3), round(ssim(noisy, y), 3)
    (1.0, 0.902, 0.396)
    """
    x, y = _as_pair(x, y, same_size=True)
    if min(x.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11×11 pixels, got {tuple(x.shape)}")
    c = x.shape[2]
    x, y = x.permute(2, 0, 1)[None], y.permute(2, 0, 1)[None]  # (1, C, H, W)
    stats = _filter_separable(torch.cat([x, y, x * x, y * y, x * y], dim=1),
                              gaussian_taps(11, 1.5))
    mu_x, mu_y, xx, yy, xy = stats.split(c, dim=1)
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
         / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))  # (1, C, H-10, W-10)
    return s.mean(dim=(0, 2, 3)).mean().item()


# The 5-tap binomial low-pass of the Laplacian pyramid (Burt & Adelson), shared with dot_core.quality.pd_curve
BINOMIAL_KERNEL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16


def _laplacian_pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(1, C, H, W) -> band-pass levels (finest first), the last one the low-pass residual."""
    gauss = [img]
    for _ in range(levels - 1):
        gauss.append(_filter_separable(gauss[-1], BINOMIAL_KERNEL, "reflect")[..., ::2, ::2])
    bands = []
    for fine, coarse in zip(gauss[:-1], gauss[1:]):
        up = torch.zeros_like(fine)
        up[..., ::2, ::2] = coarse  # zero insertion; ×4 restores the mean after the blur
        bands.append(fine - 4 * _filter_separable(up, BINOMIAL_KERNEL, "reflect"))
    return bands + [gauss[-1]]


def seeded_generator(*seeds: int) -> torch.Generator:
    """A CPU generator seeded from the integers ``seeds`` mixed by NumPy's ``SeedSequence``, so
    ``(seed, level, 0)`` and ``(seed, level, 1)`` give unrelated streams (the texture distance's
    neighbourhoods and projections), the same on every run."""
    state = int(np.random.SeedSequence(list(seeds)).generate_state(1)[0])
    return torch.Generator().manual_seed(state)


def _sample_neighbourhoods(band: torch.Tensor, n: int, patch: int,
                           gen: torch.Generator) -> torch.Tensor:
    """n random patch×patch neighbourhoods of a (1, C, H, W) level -> (n, C, patch²)."""
    h, w = band.shape[-2:]
    top = torch.randint(0, h - patch + 1, (n,), generator=gen)
    left = torch.randint(0, w - patch + 1, (n,), generator=gen)
    offsets = torch.arange(patch)
    rows = (top[:, None] + offsets)[:, :, None]  # (n, p, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (n, 1, p)
    return band[0][:, rows, cols].permute(1, 0, 2, 3).reshape(n, band.shape[1], patch * patch)


def texture_levels(x_shape: tuple, y_shape: tuple, *, levels: int, patch: int, n_patches: int,
                   n_projections: int, what: str) -> int:
    """Check the texture distance's settings and sizes; the number of pyramid levels it uses
    (at most ``levels``, while the coarsest band keeps a ``patch`` neighbourhood)."""
    for arg, value in (("levels", levels), ("patch", patch), ("n_patches", n_patches),
                       ("n_projections", n_projections)):
        if int(value) < 1:
            raise ValueError(f"{arg}: must be a positive integer, got {value!r}")
    side = min(*x_shape[:2], *y_shape[:2])
    if side < max(patch, 3):
        raise ValueError(f"{what} images of at least {max(patch, 3)} pixels per side, "
                         f"got {tuple(x_shape)} and {tuple(y_shape)}")
    n_levels = 1
    while n_levels < levels and math.ceil(side / 2 ** n_levels) >= max(patch, 3):
        n_levels += 1
    return n_levels


def texture_distance(x, y, *, levels: int = 4, patch: int = 7, n_patches: int = 4096,
                     n_projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein distance between Laplacian-pyramid neighbourhoods (Karras 2018 [2]_).

    Each image is decomposed into a Laplacian pyramid (5-tap binomial blur, 2× decimation).
    At every level, ``n_patches`` random patch×patch×C neighbourhoods are drawn from each image,
    normalised per channel by the mean and standard deviation pooled over both sets, and
    projected on ``n_projections`` random unit directions. The sliced Wasserstein-1 distance [3]_

    .. math:: \\mathrm{SW}(A, B) = \\frac{1}{P} \\sum_{j=1}^{P} \\frac{1}{n} \\sum_{i=1}^{n}
              \\left| (A\\theta_j)_{(i)} - (B\\theta_j)_{(i)} \\right|

    (sorted projections) is averaged over levels. Unlike [2]_ it is not multiplied by 1000.

    Parameters
    ----------
    x, y : array_like or torch.Tensor, shape (H, W, 3)
        Images in [0, 1]; sizes may differ.
    levels : int, optional
        Pyramid levels; fewer are used when a level would be smaller than ``patch``.
    patch : int, optional
        Neighbourhood side.
    n_patches, n_projections : int, optional
        Neighbourhoods per image and level; random directions per level.
    seed : int, optional
        Seeds the positions and directions: the result is deterministic, exactly 0 for
        identical inputs and symmetric in x and y.

    Returns
    -------
    float
        Distance >= 0; lower means more similar local texture statistics.

    Notes
    -----
    Cost O(levels · n_patches · C · patch² · n_projections), about 0.1 s with the defaults.

    Examples
    --------
    Noise changes local texture more than a slight blur does (fewer samples here, for speed):

    >>> import numpy as np
    >>> from skimage import data
    >>> y = data.astronaut()[100:164, 180:244] / 255.0  # (64, 64, 3) in [0, 1]
    >>> noisy = np.clip(y + np.random.default_rng(0).normal(0, 0.1, y.shape), 0, 1)
    >>> blurred = (y + np.roll(y, 1, axis=0) + np.roll(y, 1, axis=1) + np.roll(y, (1, 1), axis=(0, 1))) / 4
    >>> from dot_core import texture_distance
    >>> fast = dict(n_patches=1024, n_projections=64)
    >>> texture_distance(y, y, **fast)
    0.0
    >>> round(texture_distance(blurred, y, **fast), 3), round(texture_distance(noisy, y, **fast), 3)
    (0.094, 0.238)
    """
    x, y = _as_pair(x, y, same_size=False)
    n_levels = texture_levels(tuple(x.shape), tuple(y.shape), levels=levels, patch=patch, n_patches=n_patches,
                              n_projections=n_projections, what="texture_distance needs")
    pyr_x = _laplacian_pyramid(x.permute(2, 0, 1)[None], n_levels)
    pyr_y = _laplacian_pyramid(y.permute(2, 0, 1)[None], n_levels)
    distances = []
    for level, (band_x, band_y) in enumerate(zip(pyr_x, pyr_y)):
        # the same positions for both images, so swapping x and y swaps the two sets exactly
        a = _sample_neighbourhoods(band_x, n_patches, patch, seeded_generator(seed, level, 0))
        b = _sample_neighbourhoods(band_y, n_patches, patch, seeded_generator(seed, level, 0))
        # statistics pooled symmetrically, so that d(x, y) == d(y, x) exactly
        mean = (a.mean(dim=(0, 2), keepdim=True) + b.mean(dim=(0, 2), keepdim=True)) / 2
        var = (((a - mean) ** 2).mean(dim=(0, 2), keepdim=True)
               + ((b - mean) ** 2).mean(dim=(0, 2), keepdim=True)) / 2
        std = var.sqrt().clamp_min(1e-12)
        a, b = ((a - mean) / std).flatten(1), ((b - mean) / std).flatten(1)  # (n, C·p²)
        theta = torch.randn(a.shape[1], n_projections, dtype=torch.float64,
                            generator=seeded_generator(seed, level, 1))
        theta = theta / theta.norm(dim=0, keepdim=True)  # (C·p², P) unit directions
        # numpy sorts these (n, P) columns several times faster than torch on CPU
        proj_a = np.sort((a @ theta).numpy(), axis=0)
        proj_b = np.sort((b @ theta).numpy(), axis=0)
        distances.append(float(np.abs(proj_a - proj_b).mean()))
    return float(np.mean(distances))


def radial_power_spectrum(x, *, n_bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of the luminance (cf. van der Schaaf 1996 [4]_).

    The BT.601 luminance minus its mean is multiplied by a 2-D Hann window; the power
    :math:`|\\mathcal{F}|^2 / \\sum w^2` is averaged over rings of radial frequency
    :math:`\\sqrt{f_x^2 + f_y^2}` in ``n_bins`` equal bins over (0, 0.5] cycles/pixel (DC and the
    corners beyond 0.5 are left out), so images of different sizes share one axis. Empty bins
    (small images) are interpolated.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (H, W, 3) or (H, W), H, W >= 8
    n_bins : int, optional

    Returns
    -------
    freqs : numpy.ndarray, shape (n_bins,)
        Bin centres in cycles/pixel.
    log_power : numpy.ndarray, shape (n_bins,)
        log10 of the mean power in each bin (floored at 1e-10).
    """
    img = as_image(x, "x")
    if min(img.shape[:2]) < 8:
        raise ValueError(f"x: radial_power_spectrum needs at least 8×8 pixels, got "
                         f"{tuple(img.shape)}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins: must be a positive integer, got {n_bins!r}")
    lum = img[..., 0] if img.shape[2] == 1 else img @ torch.tensor(LUMA_WEIGHTS, dtype=torch.float64)
    h, w = lum.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=torch.float64),
                         torch.hann_window(w, periodic=False, dtype=torch.float64))
    power = torch.fft.fft2((lum - lum.mean()) * window).abs() ** 2 / (window ** 2).sum()
    fy, fx = torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.fftfreq(w, dtype=torch.float64)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)  # (H, W) cycles/pixel
    inside = (radius > 0) & (radius <= 0.5)
    index = (radius[inside] / 0.5 * n_bins).ceil().long().clamp(1, n_bins) - 1  # (0, 0.5]
    sums = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, power[inside])
    counts = torch.bincount(index, minlength=n_bins)
    freqs = (np.arange(n_bins) + 0.5) * 0.5 / n_bins
    filled = (counts > 0).numpy()
    log_filled = np.log10((sums / counts.clamp_min(1)).numpy()[filled] + _POWER_FLOOR)
    return freqs, np.interp(freqs, freqs[filled], log_filled)


def spectrum_distance(x, y, *, n_bins: int = 64) -> float:
    """Mean absolute difference of the log radial power spectra of two images.

    .. math:: d(x, y) = \\frac{1}{B} \\sum_{b=1}^{B} \\left| \\log_{10} P_x(f_b) -
              \\log_{10} P_y(f_b) \\right|

    with :math:`P` from :func:`radial_power_spectrum`. Sensitive to lost high frequencies
    (blur) and to added ones (noise, ringing); sizes may differ.

    Returns
    -------
    float
        Distance >= 0 in decades of power; 0 for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> y = data.astronaut()[100:164, 180:244] / 255.0  # (64, 64, 3) in [0, 1]
    >>> noisy = np.clip(y + np.random.default_rng(0).normal(0, 0.1, y.shape), 0, 1)
    >>> blurred = (y + np.roll(y, 1, axis=0) + np.roll(y, 1, axis=1) + np.roll(y, (1, 1), axis=(0, 1))) / 4
    >>> from dot_core import spectrum_distance
    >>> spectrum_distance(y, y), round(spectrum_distance(blurred, y), 3), round(spectrum_distance(noisy, y), 3)
    (0.0, 0.484, 0.428)
    """
    x, y = as_image(x, "x"), as_image(y, "y")
    _, log_x = radial_power_spectrum(x, n_bins=n_bins)
    _, log_y = radial_power_spectrum(y, n_bins=n_bins)
    return float(np.mean(np.abs(log_x - log_y)))
