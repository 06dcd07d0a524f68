"""The result of a calibration: both sets' moments, the operator fitted to them, where they came from.

A :class:`Calibration` is what :meth:`~dot_core.calibration.fit.Calibrator.fit` returns, what a
calibration file holds (:mod:`.files`) and what the pipeline applies: the operator of eq. 2 (or
eq. 5 when the source covariance is singular) between the restored set's patch Gaussian and the
clean set's, the clean covariance moved by κ to the restored set's content in an unpaired
``match_content`` calibration (docs/method.md "Content and degradation").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..ot.gaussian_maps import GaussianOperator, fit_operator, gelbrich_w2
from ..ot.moments import PatchMoments
from .checks import MODES
from .content import ContentDifference, ContentStats, content_difference
from .merge import merge
from .reach import GaussianTarget
from .summary import describe

__all__ = ["Calibration"]


@dataclass
class Calibration:
    """Moments of both sets, the operator fitted to them, and where they came from.

    ``source`` is None in zero-shot mode, and then so are ``operator`` and ``w2``.

    Examples
    --------
    What :meth:`Calibrator.fit <dot_core.calibration.fit.Calibrator.fit>` returns:

    >>> import numpy as np
    >>> from dot_core import Calibrator, load_encoder
    >>> clean = np.random.default_rng(0).random((24, 24, 3))
    >>> cal = Calibrator(load_encoder("pixel", device="cpu"), patch_size=3, mode="paired")
    >>> cal.add_pair(clean ** 2, clean)
    >>> calibration = cal.fit()
    >>> calibration.encoder, calibration.dim, calibration.operator.stochastic
    ('pixel', 27, False)
    >>> round(calibration.w2, 2)  # Gelbrich W2 between the restored and clean patch Gaussians
    1.73
    >>> print(calibration.summary().splitlines()[0])
    latent space pixel, patch 3×3 (d = 27), paired
    """

    encoder: str  # latent space id, e.g. "sd-vae-ft-mse", "detail", a repo id or folder
    channels: int  # transported latent channels C
    factor: int  # latent down-sampling factor
    patch_size: int  # p; d = C·p²
    mode: str  # one of MODES
    target: PatchMoments
    source: PatchMoments | None = None
    method: str = "auto"  # operator choice, see ot.gaussian_maps.fit_operator
    eps: float = 1e-9
    info: dict = field(default_factory=dict)  # counts, sizes, warnings, provenance
    # per-bin content statistics of each set (dot_core.calibration.content); None in files written before them
    content_source: ContentStats | None = None
    content_target: ContentStats | None = None
    # unpaired: fit eq. 2 to the clean covariance moved to the restored set's content (κ·Σt)
    match_content: bool = False
    operator: GaussianOperator | None = field(default=None, init=False)
    w2: float | None = field(default=None, init=False)  # Gelbrich W2 between patch Gaussians

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        d = self.dim
        for label, m in (("target", self.target), ("source", self.source)):
            if m is not None and m.dim != d:
                raise ValueError(f"{label} moments have dimension {m.dim}, expected C·p² = {d}")
        if self.mode != "zero-shot":
            if self.source is None:
                raise ValueError(f"a {self.mode} calibration needs source (restored) moments")
            self.operator = self.operator_for(self.source)
            self.w2 = float(gelbrich_w2(self.source.mean, self.source.covariance, self.target.mean, self.target_covariance))

    @property
    def content(self) -> ContentDifference | None:
        """How far the restored and clean sets differ in content (None without content statistics)."""
        if self.content_source is None or self.content_target is None:
            return None
        if self.content_source.n == 0 or self.content_target.n == 0:
            return None
        return content_difference(self.content_source, self.content_target, self.target.mean)

    @property
    def content_factor(self) -> float:
        """κ, the factor the clean covariance is moved by (1 unless an unpaired ``match_content`` calibration)."""
        if not self.match_content or self.mode != "unpaired":
            return 1.0
        diff = self.content
        return 1.0 if diff is None else diff.kappa

    @property
    def target_covariance(self) -> torch.Tensor:
        """Σt the operator is fitted to: the clean covariance, times κ (:attr:`content_factor`)."""
        return self.target.covariance * self.content_factor

    @property
    def fitted_target(self) -> GaussianTarget:
        """N(μt, Σt) the operator aims at (Σt times κ with the content match): what the reach is measured to."""
        return GaussianTarget(self.target.mean, self.target_covariance)

    @property
    def dim(self) -> int:
        return self.channels * self.patch_size**2

    @property
    def restoration_lattice(self) -> int | None:
        """The restorer's lattice period in pixels (a ×4 upscaler: 4), or None when not known.

        Set when calibrating (:class:`Calibrator`, ``restoration_lattice=``; the ``sr-bicubic-x4``
        preset says 4) and kept in ``info``; the pipeline then keeps x*'s content around those
        frequencies (:func:`dot_core.colorfix.remove_lattice`, "Restorer's lattice").
        """
        return self.info.get("restoration_lattice")

    def operator_for(self, source: PatchMoments) -> GaussianOperator:
        """The operator from ``source`` moments to this calibration's target (eq. 2 / eq. 5)."""
        for label, m in (("restored", source), ("clean", self.target)):
            if m.n < 2:
                raise ValueError(f"the {label} set gave {m.n} patches; need at least 2 to fit")
        return fit_operator(
            source.mean, source.covariance, self.target.mean, self.target_covariance,
            method=self.method, eps=self.eps,
        )

    def merge(self, other: "Calibration") -> "Calibration":
        """One calibration over the images of both (moments add; the operator is refitted: :mod:`.merge`)."""
        return merge(self, other)

    def summary(self) -> str:
        """A few lines for people: W2, sample counts, the reach, the content readout, warnings (:mod:`.summary`)."""
        return describe(self)
