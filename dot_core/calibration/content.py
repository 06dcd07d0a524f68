"""What a calibration set's scenes hold, measured where the restorer keeps the image, and the
correction of the clean set's statistics for a difference in it (docs/method.md "Content and
degradation").

Σs and Σt are meant to differ only by what the restorer does, but with a few photographs they
also differ by what the scenes hold: textured scenes carry many times the fine detail of smooth
ones. A restorer keeps the coarse scales of the image (a ×4 upscaler everything below about
1/8 cycle per pixel), so the energy there, the same in a restoration and in its original, says
how much content a set has. Each patch gets a *content* value c: the local energy of the luma
band between Gaussians of :data:`BAND` pixels (about 0.05–0.13 cycle per pixel), pooled over
the patch's footprint. Natural images' detail grows with that energy as a power law,

.. math:: \\mathbb E[\\,\\lVert v - \\mu \\rVert^2 \\mid c\\,] \\approx a\\, c^{\\beta},

and the clean set teaches β (its spectral slope) whatever its scenes. The clean covariance is
then moved to the restored set's content:

.. math:: \\Sigma_t' = \\kappa\\,\\Sigma_t, \\qquad
          \\kappa = \\frac{\\mathbb E_{\\text{restored}}[c^{\\beta}]}{\\mathbb E_{\\text{clean}}[c^{\\beta}]},

the covariate-shift correction of the target's energy under that model (the paper's eq. 2 is
then fitted to Σs and Σt'). Everything is kept as sums per bin of log10 c with fixed edges
(:data:`EDGES`), so two sets of statistics merge by adding, like :class:`~dot_core.ot.moments.PatchMoments`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..latents.detail import gaussian_blur
from ..quality.metrics import LUMA_WEIGHTS

__all__ = [
    "BAND", "EDGES", "POOL_SIGMA", "ContentStats", "ContentDifference", "band_energy", "patch_content",
    "spectral_slope", "content_ratio", "content_difference",
]

BAND = (1.5, 3.0)  # pixels: the difference of these two Gaussians is the band a ×4 restorer keeps
POOL_SIGMA = 3.0  # pixels: the band's energy is averaged over a Gaussian neighbourhood of this σ
# log10 of c (luma in [0, 1]): fixed edges, 0.25 decade apart, so that every set bins alike and
# sums merge; values beyond them count in the end bins
EDGES = tuple(np.round(np.linspace(-7.0, -1.0, 25), 6).tolist())
N_BINS = len(EDGES) + 1
MIN_BIN_PATCHES = 100  # a clean bin with fewer patches does not enter the fit of β
BETA_RANGE = (0.0, 2.0)  # β is clamped here: a slope outside it is a broken fit, not an image
_LUMA = torch.tensor(LUMA_WEIGHTS)


def band_energy(image: np.ndarray) -> torch.Tensor:
    """Local energy of the luma band ``G_{1.5} − G_3`` of an (H, W, 3) image in [0, 1]: (1, 1, H, W).

    .. math:: e = G_{\\rho} * \\big((G_{\\sigma_1} - G_{\\sigma_2}) * Y\\big)^2,
              \\quad (\\sigma_1, \\sigma_2) = \\text{BAND},\\ \\rho = \\text{POOL\\_SIGMA}
    """
    x = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {tuple(x.shape)}")
    y = (x @ _LUMA)[None, None]  # (1, 1, H, W)
    band = gaussian_blur(y, BAND[0]) - gaussian_blur(y, BAND[1])
    return gaussian_blur(band * band, POOL_SIGMA)


def patch_content(image: np.ndarray, factor: int, patch_size: int, latent_hw: tuple[int, int]) -> torch.Tensor:
    """c of every valid latent patch (n,), in the order of :func:`dot_core.ot.patches.iter_valid_patches`.

    The band energy is averaged over each latent pixel's f×f footprint (the image padded to the
    latent's size by replicating its border, as encoders pad), then over each p×p patch.
    """
    e = band_energy(image)
    h, w = latent_hw
    f = int(factor)
    e = F.pad(e, (0, w * f - e.shape[-1], 0, h * f - e.shape[-2]), mode="replicate")
    e = F.avg_pool2d(e, f) if f > 1 else e
    return F.avg_pool2d(e, patch_size, stride=1).reshape(-1).double()


def bin_index(c: torch.Tensor) -> torch.Tensor:
    """Bin of each content value (n,) → int64 (n,) in [0, N_BINS)."""
    edges = torch.tensor(EDGES, dtype=torch.float64)
    return torch.bucketize(torch.log10(c.double().clamp_min(1e-300)), edges, right=True)


def bin_centres() -> torch.Tensor:
    """c at the centre of each bin (the end bins half a width beyond the edges), (N_BINS,)."""
    e = torch.tensor(EDGES, dtype=torch.float64)
    step = float(e[1] - e[0])
    logs = torch.cat([e[:1] - step / 2, (e[:-1] + e[1:]) / 2, e[-1:] + step / 2])
    return 10.0**logs


@dataclass
class ContentStats:
    """Per bin of content c: patch counts, Σ v and Σ‖v‖² (float64); merge by adding."""

    dim: int
    counts: torch.Tensor = field(default=None)  # (B,) patches per bin
    s1: torch.Tensor = field(default=None)  # (B, d) Σ v per bin
    sq: torch.Tensor = field(default=None)  # (B,) Σ ‖v‖² per bin

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"dim must be a positive int, got {self.dim!r}")
        zeros = {"counts": (N_BINS,), "s1": (N_BINS, self.dim), "sq": (N_BINS,)}
        for name, shape in zeros.items():
            value = getattr(self, name)
            value = torch.zeros(shape, dtype=torch.float64) if value is None else value.to(torch.float64)
            if tuple(value.shape) != shape:
                raise ValueError(f"content {name} must have shape {shape}, got {tuple(value.shape)}")
            setattr(self, name, value)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def update(self, v: torch.Tensor, c: torch.Tensor) -> "ContentStats":
        """Add patches ``v`` (n, d) with content values ``c`` (n,); returns self."""
        if v.ndim != 2 or v.shape[1] != self.dim or c.shape != (v.shape[0],):
            raise ValueError(f"expected patches (n, {self.dim}) and content (n,), got {tuple(v.shape)}, {tuple(c.shape)}")
        b = bin_index(c)
        v64 = v.to(torch.float64)
        self.counts.index_add_(0, b, torch.ones_like(b, dtype=torch.float64))
        self.s1.index_add_(0, b, v64)
        self.sq.index_add_(0, b, (v64 * v64).sum(1))
        return self

    def copy(self) -> "ContentStats":
        """An independent copy: later updates of either leave the other as it was."""
        return ContentStats(self.dim, self.counts.clone(), self.s1.clone(), self.sq.clone())

    def merge(self, other: "ContentStats") -> "ContentStats":
        if other.dim != self.dim:
            raise ValueError(f"cannot merge content statistics of dimension {self.dim} and {other.dim}")
        return ContentStats(self.dim, self.counts + other.counts, self.s1 + other.s1, self.sq + other.sq)

    def shares(self) -> torch.Tensor:
        """Share of the patches in each bin, (B,)."""
        return self.counts / self.counts.sum().clamp_min(1.0)

    def energy(self, mu: torch.Tensor) -> torch.Tensor:
        """Mean ‖v − μ‖² per bin (B,), 0 where a bin is empty."""
        n = self.counts.clamp_min(1.0)
        e = (self.sq - 2.0 * self.s1 @ mu.to(torch.float64) + self.counts * float(mu.double() @ mu.double())) / n
        return torch.where(self.counts > 0, e.clamp_min(0.0), torch.zeros_like(e))


def spectral_slope(clean: ContentStats, mu: torch.Tensor) -> float | None:
    """β of E[‖v − μ‖² | c] ≈ a·c^β: least squares of log energy on log c over the clean bins.

    Bins are weighted by their patch counts; those with fewer than :data:`MIN_BIN_PATCHES` are
    left out. None when fewer than two bins are left (the set spans no range of content).
    """
    e = clean.energy(mu)
    keep = (clean.counts >= MIN_BIN_PATCHES) & (e > 0)
    if int(keep.sum()) < 2:
        return None
    x, y, w = torch.log(bin_centres()[keep]), torch.log(e[keep]), clean.counts[keep]
    xm, ym = (w * x).sum() / w.sum(), (w * y).sum() / w.sum()
    var = (w * (x - xm) ** 2).sum()
    if float(var) <= 0:
        return None
    beta = float((w * (x - xm) * (y - ym)).sum() / var)
    return min(max(beta, BETA_RANGE[0]), BETA_RANGE[1])


def content_ratio(restored: ContentStats, clean: ContentStats, beta: float) -> float:
    """κ = E_restored[c^β] / E_clean[c^β] over the bins (1 when either set is empty)."""
    cb = bin_centres() ** beta
    den = float((clean.shares() * cb).sum())
    if restored.n == 0 or clean.n == 0 or den <= 0:
        return 1.0
    return float((restored.shares() * cb).sum()) / den


@dataclass(frozen=True)
class ContentDifference:
    """How far two sets differ in content c (the band energy a restorer keeps)."""

    energy_ratio: float  # geometric mean c of the clean set over the restored set's
    overlap: float  # Σ_b min(p_restored, p_clean): 1 for the same distribution of c, 0 for disjoint
    beta: float | None  # the clean set's spectral slope (None: it spans no range of c)
    kappa: float  # the factor the clean covariance is moved by (1 when β is None)

    @property
    def reliable(self) -> bool:
        """Whether an unpaired calibration between these sets can be trusted: the two sets'
        content overlaps by at least half and their mean content is within 2× of each other."""
        return self.overlap >= 0.5 and 0.5 <= self.energy_ratio <= 2.0 and self.beta is not None


def _mean_log10(stats: ContentStats) -> float:
    """Mean log10 c over the patches (bin centres)."""
    return float((stats.shares() * torch.log10(bin_centres())).sum())


def content_difference(restored: ContentStats, clean: ContentStats, mu: torch.Tensor) -> ContentDifference:
    """Compare the content of a restored and a clean set; ``mu`` (d,) centres the clean energy for β."""
    if restored.n == 0 or clean.n == 0:
        raise ValueError("content_difference needs patches in both sets")
    beta = spectral_slope(clean, mu)
    kappa = 1.0 if beta is None else content_ratio(restored, clean, beta)
    overlap = float(torch.minimum(restored.shares(), clean.shares()).sum())
    ratio = 10.0 ** (_mean_log10(clean) - _mean_log10(restored))
    if not math.isfinite(kappa) or kappa <= 0:
        kappa = 1.0
    return ContentDifference(energy_ratio=ratio, overlap=overlap, beta=beta, kappa=kappa)
