"""A copy of the restoration without the restorer's grid, for the transport to work on.

A ×p upscaler builds each p × p cell of its output from one low-resolution pixel, so the output is
not stationary: its steps between cells differ from those inside a cell (FSRCNN ×4: the mean
absolute step at the cell boundary is about twice the one at the cell's centre). The transport
(eq. 2 on patches, then the fold) is the same at every position, so it sharpens those cells
together with the detail and the restorer's grid grows with every unit of detail added
(:func:`dot_core.calibration.restorer_grid.grid_contrast`: 1.9× the restoration's at α = 0 on the
tuning photographs), even with x*'s content kept on the lattice frequencies, because the cells'
brightness follows the content and their pattern spreads over the whole spectrum.

So the pipeline transports a de-gridded copy x̃ = degrid(x*) and builds x̂0 on that copy:

.. math:: \\hat x_0 = \\tilde x + Q\\big(D(T(E(\\tilde x))) - \\tilde x\\big)

(then eq. 4 as usual), Q the same equalisation of steps applied to what the transport changed. x̂0
carries none of the restorer's grid (the transport, the same at every pixel, rebuilds a little of
the cells from what x̃ keeps of them, and Q takes that out again), so eq. 4 brings x*'s grid back in
proportion to α: all of it at α = 1, none at α = 0. Adding the difference to x* itself instead
kept x*'s whole grid at every α, and the sharpened detail beside it made the cells show more on
flat regions (tuning photographs, FSRCNN ×4, 8 + 8: the largest grid at α = 0 1.25× the
restoration's unpaired, 1.34× paired; on x̃, 0.92× and 0.98×; docs/method.md, "The restorer's lattice").
The copy :math:`\\tilde x` has, per channel, the steps of x* with their energy made equal
across the p phases: for the steps :math:`v = \\partial_x x^*` of column phase
:math:`k = j \\bmod p`,

.. math:: v'_{ij} = v_{ij} \\sqrt{\\frac{\\bar D_{ij} + \\varepsilon}{D_{k, ij} + \\varepsilon}},
          \\qquad \\bar D = \\frac1p \\sum_k D_k

where :math:`D_{k, ij}` is the local mean (Gaussian of :data:`DEGRID_SIGMA` pixels) of
:math:`v^2` over the steps of phase k near (i, j) (likewise along y with the row phase); x̃ is the
least-squares image with those steps (Poisson, Neumann border), its content below the scale of
:data:`_ANCHOR_SIGMA` pixels put back to x*'s (the sum of scaled steps drifts).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .latents.base import Encoder
from .latents.detail import gaussian_blur
from .latents.tiling import run_in_tiles
from .ot.gaussian_taps import gaussian_radius, gaussian_taps

__all__ = ["CELL_PERIODS", "DEGRID_SIGMA", "degrid", "degrid_period", "transported_copy"]

DEGRID_SIGMA = 8.0  # pixels: the neighbourhood over which each phase's step energy is averaged
_STEP_FLOOR = 1e-8  # squared step (intensity² in [0, 1] units): flat regions are not amplified
_MAX_GAIN = 4.0  # no step is scaled by more than this, or by less than its inverse
_ANCHOR_SIGMA = 4.0  # pixels: below this scale the rebuilt image keeps the original's content (a ×4 grid is above)
CELL_PERIODS = (2, 3, 4)  # the grids of ×2, ×3, ×4 upscalers' cells: the ones the copy is made without
TILE = 1024  # larger images are equalised in overlapping tiles of this side (bounded memory)
_MARGIN = 64  # tiles overlap by twice this (≫ 3σ of the statistics), blended linearly


def _blur_1d(x: torch.Tensor, sigma: float, dim: int) -> torch.Tensor:
    """Gaussian of ``sigma`` samples along ``dim`` of a 2-D tensor, border replicated."""
    if sigma < 0.3:
        return x
    r = gaussian_radius(sigma)
    taps = gaussian_taps(2 * r + 1, sigma, dtype=x.dtype)
    y = x.movedim(dim, 1).unsqueeze(1)  # (rows, 1, n)
    y = F.pad(y, (r, r), mode="replicate")
    return F.conv1d(y, taps.view(1, 1, -1))[:, 0].movedim(1, dim)


def _phase_energy(v: torch.Tensor, period: int) -> torch.Tensor:
    """(p, H, W): at every entry, the local mean of v² (H, W) over the entries of column phase k = j mod p.

    Each phase's columns form an (H, ⌈W/p⌉) grid, blurred by σ along the height and σ/p along its
    width (the same neighbourhood in pixels), then spread back to every column of its cell.
    """
    H, W = v.shape
    cells = torch.arange(W) // period
    out = torch.empty(period, H, W, dtype=v.dtype)
    for k in range(period):
        e = (v[:, k::period] ** 2)
        e = _blur_1d(_blur_1d(e, DEGRID_SIGMA, 0), DEGRID_SIGMA / period, 1)
        out[k] = e[:, cells.clamp(max=e.shape[1] - 1)]
    return out


def _equalise_steps(v: torch.Tensor, period: int) -> torch.Tensor:
    """Steps v (H, W) along the width scaled so that every column phase carries the same local energy."""
    D = _phase_energy(v, period)  # (p, H, W)
    own = D.gather(0, (torch.arange(v.shape[1]) % period).expand(1, *v.shape))[0]
    gain = torch.sqrt((D.mean(0) + _STEP_FLOOR) / (own + _STEP_FLOOR))
    return v * gain.clamp(1.0 / _MAX_GAIN, _MAX_GAIN)


def _integrate(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """The (H, W) image f, mean 0, whose forward steps best fit gx (H, W−1) and gy (H−1, W) in least squares.

    The normal equations are the Neumann Poisson problem Δf = div g; mirroring the divergence makes
    it periodic, so one FFT solves it (the DCT-II solution).
    """
    H, W = gy.shape[0] + 1, gx.shape[1] + 1
    div = torch.zeros(H, W, dtype=gx.dtype)
    div[:, :-1] += gx
    div[:, 1:] -= gx
    div[:-1, :] += gy
    div[1:, :] -= gy
    ext = torch.cat([div, div.flip(0)], 0)
    ext = torch.cat([ext, ext.flip(1)], 1)  # (2H, 2W), even about both borders
    ky = 2 * torch.cos(torch.pi * torch.arange(2 * H, dtype=gx.dtype) / H) - 2
    kx = 2 * torch.cos(torch.pi * torch.arange(2 * W, dtype=gx.dtype) / W) - 2
    den = ky[:, None] + kx[None, :]
    den[0, 0] = 1.0
    spec = torch.fft.fft2(-ext) / den
    spec[0, 0] = 0.0
    return -torch.fft.ifft2(spec).real[:H, :W]


def _equalised_whole(x: torch.Tensor, period: int) -> torch.Tensor:
    """(H, W, C) float64: each channel rebuilt from its steps with the phases' energy equalised, mean kept."""
    out = torch.empty_like(x)
    for c in range(x.shape[2]):
        xc = x[..., c]
        gx = _equalise_steps(torch.diff(xc, dim=1), period)
        gy = _equalise_steps(torch.diff(xc, dim=0).T.contiguous(), period).T
        out[..., c] = _integrate(gx, gy) + xc.mean()
    # the rebuilt image keeps x's own low frequencies (the scaled steps only differ at the grid's scale,
    # but their sum drifts over a large image or tile)
    drift = gaussian_blur((out - x).permute(2, 0, 1)[None], _ANCHOR_SIGMA)[0].permute(1, 2, 0)
    return out - drift


def _equalised(x: torch.Tensor, period: int) -> torch.Tensor:
    """:func:`_equalised_whole`, in overlapping tiles when a side exceeds :data:`TILE` (the statistics are
    local, and the Poisson solve's memory grows with the image: 4 complex copies of it); the tiles
    start on the grid's phases (:func:`dot_core.latents.tiling.run_in_tiles`)."""
    if max(x.shape[:2]) <= TILE:
        return _equalised_whole(x, period)

    def whole(tile: torch.Tensor) -> torch.Tensor:  # (1, C, h, w) ↔ (h, w, C)
        return _equalised_whole(tile[0].permute(1, 2, 0), period).permute(2, 0, 1)[None]

    tiled = run_in_tiles(whole, x.permute(2, 0, 1)[None], TILE, scale=1, overlap=2 * _MARGIN, align=period,
                         dtype=x.dtype)
    return tiled[0].permute(1, 2, 0)


def _check(image, period: int, name: str) -> torch.Tensor:
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise ValueError(f"period: must be an integer number of pixels ≥ 2, got {period!r}")
    x = torch.as_tensor(np.asarray(image, dtype=np.float64))
    if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < 2:
        raise ValueError(f"{name} must be (H, W, 3) with sides ≥ 2, got shape {tuple(x.shape)}")
    return x


def degrid(image: np.ndarray, period: int) -> np.ndarray:
    """x̃: ``image`` (H, W, 3) in [0, 1] with the energy of its steps equal across the ``period``
    phases (module docstring); float32, in [0, 1].

    Examples
    --------
    >>> cells = np.kron(np.random.default_rng(0).random((20, 20, 1)), np.ones((4, 4, 3))) * 0.02 + 0.5
    >>> from dot_core.calibration.restorer_grid import grid_contrast
    >>> grid_contrast(degrid(cells, 4), period=4) < 0.5 * grid_contrast(cells, period=4)
    True
    """
    return _equalised(_check(image, period, "image"), period).clamp(0.0, 1.0).numpy().astype(np.float32)


def transported_copy(x_tilde: np.ndarray, x_tilde_0: np.ndarray, period: int, *,
                     base: np.ndarray | None = None) -> np.ndarray:
    """x̂0 = x̃ + Q(Δ), clipped to [0, 1]: Δ = x̃0 − x̃, what the transport changed in x̃, with the energy
    of its steps equalised across the phases as x̃'s were (the transport, the same at every pixel,
    still rebuilds a little of the cells from what x̃ keeps of them; module docstring). ``base``: the
    image Q(Δ) is added to instead of x̃ (the latent blend's α·x* + (1 − α)·x̃).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x_tilde = rng.random((80, 80, 3)) * 0.1 + 0.45
    >>> cells = np.kron(rng.random((20, 20, 1)), np.ones((4, 4, 3))) * 0.05  # a change with 4-pixel cells
    >>> from dot_core.calibration.restorer_grid import grid_contrast
    >>> out = transported_copy(x_tilde, x_tilde + cells, 4)
    >>> bool(grid_contrast(out - x_tilde, period=4) < 0.5 * grid_contrast(cells, period=4))
    True
    """
    delta = _check(x_tilde_0, period, "x_tilde_0") - _check(x_tilde, period, "x_tilde")
    base = x_tilde if base is None else base
    if np.shape(base) != np.shape(x_tilde):
        raise ValueError(f"base must have the shape of x_tilde {np.shape(x_tilde)}, got {np.shape(base)}")
    out = np.asarray(base, dtype=np.float32) + _equalised(delta, period).numpy().astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def degrid_period(choice: bool, encoder: Encoder, restoration_lattice: int | None) -> int | None:
    """The restorer's grid period the transport works without (:mod:`dot_core.degrid`), or None.

    Only for a latent whose factor is not a multiple of the period (``detail``, ``pixel``: f = 1):
    its transport is the same at every pixel, so it sharpens the cells with the detail. A latent of
    stride f = k·p (taef2, ×8, on a ×4 grid) sees every cell at the same place of its own grid; on the
    tuning photographs its transport leaves the grid as it was (0.98× the restoration's at α = 0) and
    degridding it would only cost texture (bench/results/fsrcnn.md).

    Only for the periods of upscalers' cells (:data:`CELL_PERIODS`). At 8 px the grid found is
    usually JPEG's blocks (the finder cannot tell them from a ×8 upscaler's cells), whose inside
    is flat: equalising the steps there deblocks x̃ but amplifies what is left inside each block,
    and on JPEG q10 restorations of the tuning photographs (CBSD68, 8 + 8, auto grid) the texture
    at α = 0 went from 0.89× to 1.06× the restoration's and ΔPSNR from −0.21 to −0.49 dB, with
    smears at α = −1; the lattice band alone keeps their blocks from growing (docs/method.md).
    """
    if not choice or restoration_lattice not in CELL_PERIODS or encoder.factor % restoration_lattice == 0:
        return None
    return restoration_lattice
