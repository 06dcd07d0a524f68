"""How much of an image sits on the frequencies of a p-pixel lattice: the grid a ×p upscaler,
a p-pixel block codec or an f-pixel decoder prints, measured against a reference.

:func:`lattice_mask` names the FFT bins, :func:`lattice_energy` the share of high-pass luma
energy on them (tiled, so a grid in one region is not diluted by the rest), :func:`lattice_ratio`
that share over a reference's (e.g. the ground truth's).
"""

from __future__ import annotations

import torch

from .metrics import LUMA_WEIGHTS, as_image

__all__ = ["lattice_mask", "lattice_energy", "lattice_ratio"]


def lattice_mask(height: int, width: int, period: int) -> torch.Tensor:
    """(H, W) bool mask of the FFT bins of a period-p lattice: (k·H/p, l·W/p) ± 1 bin, (k, l) ≠ (0, 0).

    The 3×3 bins around each lattice frequency (k/p, l/p) cycles/pixel, rounded to the nearest
    bin when p does not divide the side; the mean and its neighbours are never on it.
    """
    rows = sorted({(round(k * height / period) + d) % height for k in range(period) for d in (-1, 0, 1)})
    cols = sorted({(round(k * width / period) + d) % width for k in range(period) for d in (-1, 0, 1)})
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[torch.tensor(rows)[:, None], torch.tensor(cols)[None, :]] = True
    near_zero = torch.tensor([height - 1, 0, 1]) % height, torch.tensor([width - 1, 0, 1]) % width
    mask[near_zero[0][:, None], near_zero[1][None, :]] = False  # the mean and its neighbours: no lattice
    return mask


def lattice_energy(x, *, period: int) -> float:
    """Share of the high-pass luma energy that sits on the frequencies of a ``period``-pixel lattice,
    averaged over tiles so that a grid on a flat wall or sky counts as much as anywhere else.

    A pattern that repeats every p pixels along both axes (the interpolation phase of a ×p
    upscaler, JPEG's 8×8 blocks, a transport that amplifies either) puts its energy at the
    frequencies :math:`(k/p, l/p)` cycles/pixel, :math:`k, l \\in \\{0, \\dots, p - 1\\}` not both 0.
    The BT.601 luma is cut into square tiles of side 16p from the top-left (every lattice
    frequency is then a DFT bin); each tile, multiplied by a 2-D Hann window, gives a power
    spectrum P and a share

    .. math:: s = \\frac{\\sum_{f \\in N(\\Lambda_p)} P(f)}{\\sum_{f \\in B} P(f)},
              \\qquad B = \\{f : \\max(|f_x|, |f_y|) \\ge \\tfrac{1}{2p}\\}

    where :math:`N(\\Lambda_p)` holds the 3×3 bins around each lattice frequency (the window and a
    grid that fades in and out spread a line to its neighbours) and B is the high-pass band above
    half the lattice's fundamental, so the strong low frequencies of a photograph do not set the
    scale; the band energy of 8-bit rounding noise through the same window is added to the
    denominator, so a tile whose detail is below what anyone can see does not count as a grid.
    The result is the plain mean of s over the tiles.
    Averaging shares, not energies, is what makes a grid on a flat region visible: there it is
    most of the tile's high-pass energy, while one global spectrum would drown it in the
    energy of the textured regions. White noise gives the share of bins (≈ 9(p² − 1)/(256 p²)
    of the band), a visible grid several times more. Compare with the ground truth
    (:func:`lattice_ratio`), not with a fixed number.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (H, W, 3) or (H, W), values in [0, 1], H, W ≥ 16·period
    period : int
        Lattice period p in pixels, ≥ 2 (4 for ×4 super-resolution, 8 for JPEG blocks).

    Returns
    -------
    float
        The mean share, in [0, 1].
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise ValueError(f"period: must be an integer number of pixels ≥ 2, got {period!r}")
    img = as_image(x, "x")
    t = 16 * period  # tile side
    n_y, n_x = img.shape[0] // t, img.shape[1] // t
    if n_y == 0 or n_x == 0:
        raise ValueError(f"x: lattice_energy with period {period} needs at least {t} pixels per side, "
                         f"got {tuple(img.shape)}")
    lum = img[: n_y * t, : n_x * t, 0] if img.shape[2] == 1 else img[: n_y * t, : n_x * t] @ torch.tensor(LUMA_WEIGHTS, dtype=torch.float64)
    tiles = lum.reshape(n_y, t, n_x, t).permute(0, 2, 1, 3).reshape(-1, t, t)  # (n, t, t)
    tiles = tiles - tiles.mean(dim=(1, 2), keepdim=True)
    hann = torch.hann_window(t, periodic=True, dtype=torch.float64)
    power = torch.fft.fft2(tiles * torch.outer(hann, hann)).abs() ** 2  # (n, t, t)
    f = torch.fft.fftfreq(t, dtype=torch.float64).abs()
    band = torch.maximum(f[:, None], f[None, :]) >= 1.0 / (2 * period)
    on_lattice = lattice_mask(t, t, period) & band  # the bins around k/p (bin k·t/p = 16k)
    total = power[:, band].sum(1)
    # the band energy of 8-bit rounding noise (variance 1/(12·255²)) through the same window:
    # below it nothing is visible, so a tile's own energy never counts for less than this
    floor = t * t * (torch.outer(hann, hann) ** 2).sum() * band.double().mean() / (12 * 255.0**2)
    total = total + floor
    live = total > 1e-20 * t * t
    if not live.any():
        return 0.0
    return float((power[:, on_lattice].sum(1)[live] / total[live]).mean())


def lattice_ratio(x, reference, *, period: int) -> float:
    """:func:`lattice_energy` of ``x`` over that of ``reference`` (e.g. the ground truth).

    1 means no more lattice than the reference; a visible grid is typically ≥ 3. Sizes may differ.
    """
    ref = lattice_energy(reference, period=period)
    if ref == 0.0:
        raise ValueError("reference: has no high-pass energy (a flat image); use a textured reference")
    return lattice_energy(x, period=period) / ref

