"""The restorer's own grid, found from its restorations: no user has to know the upscaling factor.

A ×p upscaler (bicubic, or a learned network's stride-p transposed convolution) computes each
output pixel from its phase (y mod p, x mod p) in the low-resolution grid, and JPEG quantises 8×8
blocks: either way the local detail of the restoration depends on the position modulo p, which a
natural photograph's does not. That dependence is measured directly (:func:`phase_variation`) and
compared with what natural photographs show (the clean set's is quoted beside it);
:func:`find_restoration_lattice` decides, and the calibration records the period it found, so the
pipeline keeps x*'s content around that grid's frequencies (docs/method.md, "The restorer's
lattice"). :func:`grid_contrast` measures how visible such a grid is in an image (what the transport
must not grow).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from ..quality.metrics import LUMA_WEIGHTS

__all__ = ["PERIODS", "MIN_VARIATION", "FLOOR_PIXELS", "GRID_PERCENTILE", "LatticeFinding", "phase_variation",
           "find_restoration_lattice", "grid_contrast", "grid_ratio"]

PERIODS = (2, 3, 4, 8)  # ×2, ×3, ×4 upscalers; ×8 upscalers and JPEG's blocks
# a grid is found when the restored set's median phase variation at p is at least MIN_VARIATION[p],
# chosen above what natural photographs show (CBSD68 medians 0.01, 0.01, 0.02, 0.04 at 2, 3, 4, 8) and
# what smooth, edge-dominated restorations show (non-local means: up to 0.07 at 8) on CBSD68 and
# scikit-image photographs of ~150,000 pixels (docs/method.md, "The restorer's lattice"). The variation
# of a profile without a grid falls as 1/sqrt(pixels per phase), so smaller images get a higher floor.
MIN_VARIATION = {2: 0.03, 3: 0.06, 4: 0.06, 8: 0.15}
FLOOR_PIXELS = 150_000  # image size (pixels) at which MIN_VARIATION holds
# of the strongest passing variation among 2, 4, 8, the share a smaller period must reach to be the period
DIVISOR_SHARE = 0.8
_LUMA = np.array(LUMA_WEIGHTS)
GRID_PERCENTILE = 90  # grid_contrast reports this percentile over its windows: a grid on part of the image counts


def _profiles(luma: np.ndarray, p: int) -> list[np.ndarray]:
    """Mean squared second difference of the luma at each phase k = 0 … p−1, along x and along y,
    each divided by its mean: (2,) profiles of shape (p,)."""
    out = []
    for axis in (1, 0):
        d2 = np.diff(luma, n=2, axis=axis) ** 2  # sample j sits at pixel j + 1
        n = d2.shape[axis]
        prof = np.array([d2.take(np.arange(k, n, p), axis=axis).mean() for k in range(p)])
        out.append(prof / prof.mean() if prof.mean() > 0 else np.zeros(p))
    return out


def phase_variation(image: np.ndarray) -> dict[int, float]:
    """How much the local detail of ``image`` depends on the pixel position modulo each period.

    For the BT.601 luma ``y``, the squared second difference along x, :math:`e = (\\partial_x^2 y)^2`,
    is averaged over the pixels of each phase :math:`k = x \\bmod 8`, giving a profile
    :math:`m_k` normalised to mean 1; for a divisor q of 8 the profile is folded to period q
    (:math:`m^{(q)}_j = \\mathrm{mean}_i\\, m_{j + qi}`); the variation is its standard deviation,
    the mean of the x and y values. Period 3 uses its own 3-phase profile. A natural photograph
    gives a few hundredths (less on larger images); a bicubic ×4 restoration 0.6 at q = 4, JPEG
    q10 0.9 at q = 8.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), values in [0, 1], sides ≥ 3

    Returns
    -------
    dict
        ``{2: v2, 3: v3, 4: v4, 8: v8}``.
    """
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < 3:
        raise ValueError(f"image must be (H, W, 3) with sides ≥ 3, got shape {x.shape}")
    luma = x @ _LUMA
    eight = _profiles(luma, 8)
    out = {q: float(np.mean([np.std(m.reshape(8 // q, q).mean(0)) for m in eight])) for q in (2, 4, 8)}
    out[3] = float(np.mean([np.std(m) for m in _profiles(luma, 3)]))
    return {p: out[p] for p in PERIODS}


@dataclass(frozen=True)
class LatticeFinding:
    """What :func:`find_restoration_lattice` decided, with the evidence for the summary."""

    period: int | None  # the restorer's lattice period in pixels, None when none is found
    restored: dict[int, float]  # median phase variation of the restored set at each period
    clean: dict[int, float]  # ... of the clean set (the reference)

    def describe(self) -> str:
        """One phrase: the evidence at the period found (or at the strongest candidate)."""
        p = self.period or max(PERIODS, key=lambda q: self.restored[q] / MIN_VARIATION[q])
        return f"phase variation at {p} px: restored {self.restored[p]:.3f}, clean {self.clean[p]:.3f}"


def _median(values: list[dict[int, float]]) -> dict[int, float]:
    return {p: statistics.median(v[p] for v in values) for p in PERIODS}


def find_restoration_lattice(restored: list[dict[int, float]], clean: list[dict[int, float]], *,
                             pixels: int = FLOOR_PIXELS) -> LatticeFinding:
    """The restorer's lattice period from :func:`phase_variation` of each restored and clean image.

    A period passes when the restored set's median variation is at least :data:`MIN_VARIATION`
    there, raised by :math:`\\sqrt{N_0 / N}` for images of N < N_0 = :data:`FLOOR_PIXELS` pixels
    (``pixels``: the restored images' median size). Among 2, 4, 8 (one family: a 4-pixel pattern
    also repeats every 8) the period is the smallest passing one whose variation is at least
    :data:`DIVISOR_SHARE` of the strongest passing one's; 3 stands alone; if both families pass,
    the one farther above its floor wins. The clean set's median is the reference the summary
    quotes; it does not decide, since clean photographs saved as JPEG carry an 8-pixel grid of
    their own (scikit-image's immunohistochemistry: 0.28 at 8) that would hide the restorer's.
    """
    if not restored or not clean:
        raise ValueError(f"need phase variations of restored and clean images, got {len(restored)} and {len(clean)}")
    r, c = _median(restored), _median(clean)
    scale = max(1.0, (FLOOR_PIXELS / max(int(pixels), 1)) ** 0.5)
    floor = {p: MIN_VARIATION[p] * scale for p in PERIODS}
    passing = [p for p in PERIODS if r[p] >= floor[p]]
    family = [q for q in (2, 4, 8) if q in passing]
    if family:  # a 4-pixel pattern shows at 8 too: the smallest period that carries most of it
        strongest = max(r[q] for q in family)
        family = [min(q for q in family if r[q] >= DIVISOR_SHARE * strongest)]
    found = family + ([3] if 3 in passing else [])
    period = max(found, key=lambda p: r[p] / floor[p]) if found else None
    return LatticeFinding(period, r, c)


def _grid_windows(luma: np.ndarray, p: int) -> np.ndarray:
    """(n,) contrast of a period-p grid in each 16p × 16p window of ``luma`` (grey levels)."""
    t = 16 * p
    box = np.ones(p) / p  # a cell side: steps along one boundary line add up, texture's cancel
    along = lambda a, axis: np.apply_along_axis(lambda r: np.convolve(r, box, mode="same"), axis, a)
    gx = np.abs(along(np.diff(luma, axis=1), 0))  # column j: the step from pixel j to j + 1, phase j mod p
    gy = np.abs(along(np.diff(luma, axis=0), 1))
    n_y, n_x = gy.shape[0] // t, gx.shape[1] // t
    wx = gx[: n_y * t, : n_x * t].reshape(n_y, t, n_x, t // p, p).mean(axis=(1, 3))  # (n_y, n_x, p)
    wy = gy[: n_y * t, : n_x * t].reshape(n_y, t // p, p, n_x, t).mean(axis=(1, 4))  # (n_y, p, n_x)
    return 0.5 * (wx.std(axis=2) + wy.std(axis=1)).reshape(-1)


def grid_contrast(image: np.ndarray, *, period: int) -> float:
    r"""How visible a ``period``-pixel grid is in ``image``: the restorer's cells, in 8-bit grey levels.

    A ×p upscaler builds every p × p cell of its output from one low-resolution pixel, so the luma
    steps between cells differ from the steps inside them: the cells show as blocks or a dot grid
    when the image is sharpened (a transport that adds detail sharpens). For the BT.601 luma y in
    grey levels (0–255), the steps :math:`s_{ij} = y_{i, j+1} - y_{i, j}` are averaged over p rows
    along the line they lie on (a cell's side: the steps of one cell boundary add up, those of
    texture cancel, which is why a boundary shows as a line), and the mean of :math:`|\bar s|`
    over the steps of phase :math:`k = j \bmod p` is taken in each window of side 16p, giving
    :math:`b_k` (the same along y); the window's contrast is the standard deviation of :math:`b_0 \dots b_{p-1}`,
    the mean of the two axes, and the result is the :data:`GRID_PERCENTILE`-th percentile over the
    windows, so a grid on one flat region counts. Natural photographs give a few tenths of a grey
    level (their edges fall at every phase alike); FSRCNN ×4 about 1, sharpened 2.

    Unlike :func:`dot_core.quality.metrics.lattice_energy` it does not look at spectral lines: a grid
    whose sign follows the content (the cells' own brightness) has its energy spread over the
    whole spectrum, not on the lattice frequencies, and a band that keeps x*'s content there
    (``remove_lattice``) leaves it in place.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W), values in [0, 1], sides > 16·period
    period : int, ≥ 2

    Returns
    -------
    float
        Grey levels, ≥ 0; 0 for a flat image. Compare with the restoration (:func:`grid_ratio`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cells = np.kron(rng.random((32, 32)), np.ones((4, 4)))  # blocks of 4 × 4 pixels
    >>> grid_contrast(cells, period=4) > 10 * grid_contrast(rng.random((128, 128)), period=4)
    True
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise ValueError(f"period: must be an integer number of pixels ≥ 2, got {period!r}")
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 3 and x.shape[2] == 3:
        x = x @ _LUMA
    if x.ndim != 2 or min(x.shape) <= 16 * period:
        raise ValueError(f"image: grid_contrast with period {period} needs an (H, W, 3) or (H, W) image with "
                         f"sides over {16 * period} pixels, got shape {np.shape(image)}")
    if not np.isfinite(x).all():
        raise ValueError("image: contains NaN or Inf values")
    return float(np.percentile(_grid_windows(255.0 * x, period), GRID_PERCENTILE))


def grid_ratio(image: np.ndarray, reference: np.ndarray, *, period: int) -> float:
    """:func:`grid_contrast` of ``image`` over that of ``reference`` (the restoration, or the truth).

    1: the grid as visible as in the reference; sharpening FSRCNN ×4's output until its cells show
    gives about 2. Sizes may differ.
    """
    ref = grid_contrast(reference, period=period)
    if ref == 0.0:
        raise ValueError("reference: has no steps at all (a flat image); use a textured reference")
    return grid_contrast(image, period=period) / ref
