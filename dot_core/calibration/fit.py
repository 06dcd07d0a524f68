"""Calibrating: collect patch moments of restored and clean images, fit the operator.

A :class:`Calibrator` streams images one at a time (encode → valid patches → moments), so
memory does not grow with the number of images; :meth:`Calibrator.fit` turns the moments into
a :class:`~dot_core.calibration.result.Calibration`, which holds both sets of moments and the
fitted operator (eq. 2 of Adrai et al. 2023, or its degenerate form when the source covariance
is singular).

Modes
-----
``unpaired``  restored and clean images are unrelated sets (the paper's setting).
``paired``    restored[i] is a restoration of clean[i]: the same statistics (OT needs only the
              marginals), plus a check that each pair has one size and the restorer's PSNR.
``zero-shot`` only clean images are collected; the source moments come from the image being
              enhanced, as the official code offers.

Content
-------
Both sets also keep, per bin of content (the energy of a band the restorer keeps,
:mod:`dot_core.calibration.content`), their patch counts and energies. An unpaired calibration with
``match_content`` (its default) fits eq. 2 to the clean covariance moved to the restored set's
content, Σt' = κ·Σt (docs/method.md "Content and degradation"), and its summary says how far the
two sets differ.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import torch

from ..latents.base import Encoder
from ..latents.cache import LatentCache, encode_image
from ..ot.gaussian_maps import check_eps
from ..ot.moments import PatchMoments
from ..ot.patches import count_valid_patches, iter_valid_patches
from .checks import (
    LATTICE_AUTO,
    MIN_GRID_SIDE,
    MODES,
    check_restoration_lattice,
    psnr_db,
    sample_warnings,
    skip_warnings,
)
from .content import ContentStats, patch_content
from .restorer_grid import find_restoration_lattice, phase_variation
from .result import Calibration

__all__ = ["Calibrator", "latent_patch_moments"]


def latent_patch_moments(z: torch.Tensor, patch_size: int, moments: PatchMoments,
                         content: tuple[torch.Tensor, ContentStats] | None = None) -> int:
    """Add every valid patch of latent ``z`` (1, C, h, w) to ``moments``; returns the count.

    ``content``, when given, is ``(c, stats)``: each patch's content value (n,) in the order of
    :func:`iter_valid_patches`, and the per-bin statistics it is added to as well.

    Examples
    --------
    A latent of 3 channels and 5×6 pixels holds (5 − 2)·(6 − 2) = 12 valid 3×3 patches:

    >>> import torch
    >>> from dot_core import PatchMoments, latent_patch_moments
    >>> moments = PatchMoments(dim=3 * 3 * 3)
    >>> latent_patch_moments(torch.ones(1, 3, 5, 6), 3, moments)
    12
    >>> moments.n, moments.mean[:3].tolist()
    (12, [1.0, 1.0, 1.0])
    """
    n = 0
    for v in iter_valid_patches(z, patch_size):
        moments.update(v)
        if content is not None:
            content[1].update(v, content[0][n : n + v.shape[0]])
        n += v.shape[0]
    return n


class Calibrator:
    """Accumulates patch moments image by image; :meth:`fit` returns a :class:`Calibration`.

    ``restoration_lattice``: the restorer's grid period in pixels (given), None (none), or ``"auto"``:
    found from the restored images against the clean ones (:mod:`dot_core.calibration.restorer_grid`).

    Examples
    --------
    A paired calibration in the ``pixel`` latent: each restoration comes with its ground truth.

    >>> import numpy as np
    >>> from dot_core import Calibrator, load_encoder
    >>> clean = np.random.default_rng(0).random((24, 24, 3))
    >>> cal = Calibrator(load_encoder("pixel", device="cpu"), patch_size=3, mode="paired")
    >>> cal.add_pair(clean ** 2, clean)  # a "restoration" that darkened the image
    >>> cal.source.n, cal.target.n, cal.warnings()  # 22 × 22 patches each, enough for d = 27
    (484, 484, [])
    >>> calibration = cal.fit()
    >>> calibration.mode, calibration.dim, round(calibration.info["pair_psnr_db"], 2)
    ('paired', 27, 14.81)
    """

    def __init__(
        self, encoder: Encoder, patch_size: int, *, mode: str = "unpaired", method: str = "auto", eps: float | None = None,
        cache: LatentCache | None = None, restoration_lattice: int | str | None = None,
        match_content: bool | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not isinstance(patch_size, int) or isinstance(patch_size, bool) or not 1 <= patch_size <= 16:
            raise ValueError(f"patch_size must be an integer in [1, 16], got {patch_size!r}")
        self.encoder, self.patch_size, self.mode = encoder, patch_size, mode
        # "auto": found from the restored set at fit (dot_core.calibration.restorer_grid); None: none; an int: given
        self.find_lattice = restoration_lattice == LATTICE_AUTO
        self.restoration_lattice = None if self.find_lattice else check_restoration_lattice(restoration_lattice)
        self._phases: dict[str, list[dict[int, float]]] = {"restored": [], "clean": []}
        # eps None: the encoder's own regularisation (Encoder.default_eps; ``detail`` sets its own)
        if method not in ("auto", "deterministic", "stochastic"):
            raise ValueError(f"method must be 'auto', 'deterministic' or 'stochastic', got {method!r}")
        self.method, self.eps = method, encoder.default_eps if check_eps(eps) is None else float(eps)
        self.cache = cache  # latents of images seen before are not encoded again
        d = encoder.ot_channels * patch_size**2
        self.source = PatchMoments(d)
        self.target = PatchMoments(d)
        # per-bin content statistics of both sets; match_content None: on for unpaired calibrations
        self.content = {"restored": ContentStats(d), "clean": ContentStats(d)}
        if match_content is not None and not isinstance(match_content, bool):
            raise ValueError(f"match_content must be True, False or None, got {match_content!r}")
        self.match_content = (mode == "unpaired") if match_content is None else match_content
        self.sizes: dict[str, list[tuple[int, int]]] = {"restored": [], "clean": []}
        self.skipped: dict[str, int] = {"restored": 0, "clean": 0}
        self._pair_sq_err: list[float] = []

    def encode(self, image: np.ndarray) -> torch.Tensor:
        """Image (H, W, 3) in [0, 1] → transported latent channels (1, C, h, w)."""
        return encode_image(self.encoder, image, self.cache)[:, : self.encoder.ot_channels]

    def _add(self, role: str, image: np.ndarray, latent: torch.Tensor | None) -> int:
        H, W = image.shape[:2]
        z = self.encode(image) if latent is None else latent[:, : self.encoder.ot_channels]
        if not torch.isfinite(z).all():  # refuse it before it poisons the running sums
            raise ValueError(
                f"this {role} image's {self.encoder.name} latent contains NaN or Inf; "
                "check the image (values must be finite, in [0, 1]) and use dtype float32"
            )
        if count_valid_patches(z.shape[-2], z.shape[-1], self.patch_size) == 0:
            self.skipped[role] += 1
            return 0
        self.sizes[role].append((H, W))
        if self.find_lattice and min(H, W) >= MIN_GRID_SIDE:
            self._phases[role].append(phase_variation(image))
        c = patch_content(image, self.encoder.factor, self.patch_size, tuple(z.shape[-2:]))
        return latent_patch_moments(z, self.patch_size, self.source if role == "restored" else self.target,
                                    (c, self.content[role]))

    def add_restored(self, image: np.ndarray, *, latent: torch.Tensor | None = None) -> int:
        """Add one restored image (H, W, 3) in [0, 1]; returns its patch count (0 if too small).

        ``latent`` (1, C, h, w), when given, is used instead of encoding ``image`` again.
        """
        if self.mode == "zero-shot":
            raise ValueError("a zero-shot calibration takes only clean images")
        return self._add("restored", image, latent)

    def add_clean(self, image: np.ndarray, *, latent: torch.Tensor | None = None) -> int:
        """Add one clean image; returns its patch count (0 if too small)."""
        return self._add("clean", image, latent)

    def add_pair(self, restored: np.ndarray, clean: np.ndarray) -> None:
        """Paired mode: a restoration and its ground truth, of the same size."""
        if self.mode != "paired":
            raise ValueError(f"add_pair needs mode='paired', this calibrator is {self.mode!r}")
        if restored.shape != clean.shape:
            raise ValueError(
                f"pair {len(self._pair_sq_err) + 1}: restored image is {restored.shape[1]}×{restored.shape[0]} "
                f"but its clean image is {clean.shape[1]}×{clean.shape[0]}; pairs must have one size"
            )
        self.add_restored(restored)
        self.add_clean(clean)
        self._pair_sq_err.append(float(np.mean((restored.astype(np.float64) - clean) ** 2)))

    def warnings(self) -> list[str]:
        """What a user should know about the statistics collected so far."""
        out = []
        d = self.source.dim
        sets = [("clean", self.target)] + ([] if self.mode == "zero-shot" else [("restored", self.source)])
        for role, m in sets:
            out += sample_warnings(role, m.n, d) + skip_warnings(role, self.skipped[role])
        px = {r: statistics.median(h * w for h, w in s) for r, s in self.sizes.items() if s}
        if len(px) == 2:
            ratio = math.sqrt(max(px.values()) / min(px.values()))
            if ratio > 2:
                out.append(
                    f"restored and clean images differ in resolution by {ratio:.1f}× per side (median); "
                    "texture statistics depend on scale: use images of similar resolution"
                )
        return out

    def _found_lattice(self) -> dict:
        """The ``info`` entries of the restorer's grid looked for in the images seen (``"auto"``)."""
        if not self._phases["restored"] or not self._phases["clean"]:
            return {"restoration_lattice_search": f"no restored and clean images of at least {MIN_GRID_SIDE} px "
                                                  "a side to look at"}
        pixels = statistics.median(h * w for h, w in self.sizes["restored"])
        found = find_restoration_lattice(self._phases["restored"], self._phases["clean"], pixels=int(pixels))
        out = {"restoration_lattice_search": found.describe()}
        if found.period is not None:
            out.update(restoration_lattice=found.period, restoration_lattice_origin="found")
        return out

    def fit(self) -> Calibration:
        """Fit the operator to the moments collected so far."""
        for role, m in (("clean", self.target), ("restored", self.source)):
            if role == "restored" and self.mode == "zero-shot":
                continue
            if m.n < 2:
                raise ValueError(
                    f"no usable {role} images: {len(self.sizes[role])} added, {self.skipped[role]} skipped as "
                    "smaller than one latent patch; add larger images"
                )
        info = {
            "n_restored_images": len(self.sizes["restored"]),
            "n_clean_images": len(self.sizes["clean"]),
            "warnings": self.warnings(),
            "encoder_config": self.encoder.describe(),  # e.g. detail's σ: checked when applied
        }
        info.update({f"n_skipped_{role}": k for role, k in self.skipped.items() if k})  # read by merge
        if self.restoration_lattice is not None:
            info["restoration_lattice"] = self.restoration_lattice  # given (no origin recorded: the files before)
        elif self.find_lattice and self.mode != "zero-shot":
            info.update(self._found_lattice())
        if self._pair_sq_err:
            info["pair_psnr_db"] = psnr_db(statistics.fmean(self._pair_sq_err))
            if len(self._pair_sq_err) != info["n_restored_images"]:  # pairs too small to encode still count
                info["n_pairs"] = len(self._pair_sq_err)
        return Calibration(  # copies: images added after fit() change the calibrator, not this calibration
            encoder=self.encoder.name, channels=self.encoder.ot_channels, factor=self.encoder.factor,
            patch_size=self.patch_size, mode=self.mode, target=self.target.copy(),
            source=None if self.mode == "zero-shot" else self.source.copy(),
            method=self.method, eps=self.eps, info=info,
            content_source=None if self.mode == "zero-shot" else self.content["restored"].copy(),
            content_target=self.content["clean"].copy(), match_content=self.match_content,
        )
