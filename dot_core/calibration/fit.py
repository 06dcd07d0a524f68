"""Calibration: collect patch moments of restored and clean images, fit the operator.

A :class:`Calibrator` streams images one at a time (encode → valid patches → moments), so
memory does not grow with the number of images; :meth:`Calibrator.fit` turns the moments into
a :class:`Calibration`, which holds both sets of moments and the fitted operator (eq. 2 of
Adrai et al. 2023, or its degenerate form when the source covariance is singular).

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
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..latents.base import Encoder
from ..latents.cache import LatentCache, encode_image
from ..ot.gaussian import GaussianOperator, check_eps, fit_operator, gelbrich_w2
from ..ot.moments import PatchMoments
from ..ot.patches import count_valid_patches, iter_valid_patches
from .content import ContentDifference, ContentStats, content_difference, patch_content
from .reach import GaussianTarget, calibration_reach
from .restorer_grid import find_restoration_lattice, phase_variation

__all__ = ["MODES", "LATTICE_AUTO", "Calibration", "Calibrator", "check_restoration_lattice", "latent_patch_moments"]

MODES = ("unpaired", "paired", "zero-shot")
MIN_SAMPLES_PER_DIM = 10  # fewer patches than this × d gives a warning: noisy covariance


def latent_patch_moments(z: torch.Tensor, patch_size: int, moments: PatchMoments,
                         content: tuple[torch.Tensor, ContentStats] | None = None) -> int:
    """Add every valid patch of latent ``z`` (1, C, h, w) to ``moments``; returns the count.

    ``content``, when given, is ``(c, stats)``: each patch's content value (n,) in the order of
    :func:`iter_valid_patches`, and the per-bin statistics it is added to as well.
    """
    n = 0
    for v in iter_valid_patches(z, patch_size):
        moments.update(v)
        if content is not None:
            content[1].update(v, content[0][n : n + v.shape[0]])
        n += v.shape[0]
    return n


MAX_RESTORATION_LATTICE = 16
LATTICE_AUTO = "auto"  # Calibrator(restoration_lattice="auto"): find the restorer's grid in the restored set
MIN_GRID_SIDE = 32  # images smaller than this per side are not looked at for a grid (too few pixels per phase)


def check_restoration_lattice(period) -> int | None:
    """None, or a restorer's lattice period: an integer number of pixels in [2, 16]."""
    if period is None:
        return None
    if isinstance(period, bool) or not isinstance(period, int) or not 2 <= period <= MAX_RESTORATION_LATTICE:
        raise ValueError(f"restoration_lattice must be None or an integer number of pixels in "
                         f"[2, {MAX_RESTORATION_LATTICE}] (a ×4 upscaler: 4), got {period!r}")
    return period


def sample_warnings(role: str, n: int, dim: int) -> list[str]:
    """The warning for a set whose n patches are few for dimension d (noisy covariance), if any."""
    if 0 < n < MIN_SAMPLES_PER_DIM * dim:
        return [f"only {n} {role} patches for dimension {dim} (want ≥ {MIN_SAMPLES_PER_DIM * dim}); "
                "the covariance is noisy: add images or lower the patch size"]
    return []


def skip_warnings(role: str, skipped: int) -> list[str]:
    """The warning for images smaller than one latent patch, if any were skipped."""
    return [f"{skipped} {role} image(s) smaller than one latent patch were skipped"] if skipped else []


def _count(n: int, noun: str) -> str:
    """``1 image``, ``2 images``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class Calibration:
    """Moments of both sets, the operator fitted to them, and where they came from.

    ``source`` is None in zero-shot mode, and then so are ``operator`` and ``w2``.
    """

    encoder: str  # latent space id, e.g. "sd-vae-ft-mse", "detail", a repo id or folder
    channels: int  # transported latent channels C
    factor: int  # latent down-sampling factor
    patch_size: int  # p; d = C·p²
    mode: str  # one of MODES
    target: PatchMoments
    source: PatchMoments | None = None
    method: str = "auto"  # operator choice, see ot.gaussian.fit_operator
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
        """One calibration over the images of both (moments add; the operator is refitted)."""
        def settings(cal: "Calibration") -> dict:
            # everything that makes two sets of moments comparable and the operator the same:
            # the latent and its settings (e.g. detail's σ), the patches, the mode, ε and the method
            keys = ("encoder", "channels", "factor", "patch_size", "mode", "eps", "method", "restoration_lattice",
                    "match_content")
            return {**{k: getattr(cal, k) for k in keys}, "encoder_config": cal.info.get("encoder_config")}

        mine, theirs = settings(self), settings(other)
        diff = [k for k in mine if mine[k] != theirs[k]]
        if diff:
            detail = "; ".join(f"{k}: {mine[k]!r} vs {theirs[k]!r}" for k in diff)
            raise ValueError(
                f"cannot merge calibrations that differ in {detail}; calibrate both sets of images "
                "with the same latent space, settings, patch size, mode, eps, method and restorer's lattice"
            )
        source = None if self.source is None else self.source.merge(other.source)
        target = self.target.merge(other.target)
        content = {}
        for key in ("content_source", "content_target"):  # kept only when both have them
            mine_c, theirs_c = getattr(self, key), getattr(other, key)
            content[key] = None if mine_c is None or theirs_c is None else mine_c.merge(theirs_c)
        return replace(self, target=target, source=source, info=self._merged_info(other, target, source), **content)

    def _merged_info(self, other: "Calibration", target: PatchMoments, source: PatchMoments | None) -> dict:
        """``info`` of the merged calibration: counts added; the warnings that follow from counts and
        the pairs' PSNR recomputed for the merged sets; other warnings (resolution) kept once."""
        keys = ("n_restored_images", "n_clean_images", "n_skipped_restored", "n_skipped_clean")
        info = {**self.info, **{k: self.info.get(k, 0) + other.info.get(k, 0) for k in keys}}
        from_counts = {w for cal in (self, other) for w in cal._count_warnings(cal.target, cal.source, cal.info)}
        kept = [w for cal in (self, other) for w in cal.info.get("warnings", []) if w not in from_counts]
        info["warnings"] = self._count_warnings(target, source, info) + list(dict.fromkeys(kept))
        info.pop("pair_psnr_db", None), info.pop("n_pairs", None)
        pairs = [(cal.info.get("n_pairs", cal.info.get("n_restored_images", 0)), cal.info.get("pair_psnr_db"))
                 for cal in (self, other)]
        if all(db is not None and n > 0 for n, db in pairs):  # PSNR of the mean squared error over all pairs
            n_pairs = sum(n for n, _ in pairs)
            info["pair_psnr_db"] = _psnr(sum(n * 10 ** (-db / 10) for n, db in pairs) / n_pairs)
            if n_pairs != info["n_restored_images"]:
                info["n_pairs"] = n_pairs
        return {k: v for k, v in info.items() if not (k.startswith("n_skipped_") and v == 0)}

    def _count_warnings(self, target: PatchMoments, source: PatchMoments | None, info: dict) -> list[str]:
        """The warnings that follow from sample and skip counts, in :meth:`Calibrator.warnings`' order."""
        sets = [("clean", target)] + ([] if source is None else [("restored", source)])
        return [w for role, m in sets
                for w in sample_warnings(role, m.n, self.dim) + skip_warnings(role, info.get(f"n_skipped_{role}", 0))]

    def _content_lines(self) -> list[str]:
        """The content readout: how far the sets differ, what was corrected, and a warning when
        an unpaired result will be unreliable."""
        diff = self.content
        if diff is None or self.mode == "zero-shot":
            return []
        lines = [f"content (energy of the band the restorer keeps): clean set {diff.energy_ratio:.2g}× the restored "
                 f"set's (geometric mean), {100 * diff.overlap:.0f} % overlap"]
        if self.mode == "unpaired" and self.match_content and diff.beta is not None:
            lines.append(f"clean covariance moved to the restored set's content: × {diff.kappa:.3g} "
                         f"(spectral slope β = {diff.beta:.2f})")
        if self.mode == "unpaired" and not diff.reliable:
            lines.append("warning: the two sets differ in content, so this unpaired calibration measures the scenes "
                         "as much as the restorer: calibrate in paired mode (your restorations and their originals), "
                         "or use clean photos of the same kind of scenes")
        return lines

    def summary(self) -> str:
        """A few lines for people: W2, sample counts, warnings."""
        sigma = (self.info.get("encoder_config") or {}).get("sigma")  # detail's split, a preset may choose its own
        settings = f" (sigma = {sigma})" if sigma is not None else ""
        lines = [f"latent space {self.encoder}{settings}, patch {self.patch_size}×{self.patch_size} (d = {self.dim}), "
                 f"{self.mode}"]
        if self.info.get("mode_reason"):
            lines.append(f"mode {self.mode}: {self.info['mode_reason']}")
        if self.w2 is not None:
            lines.append(f"latent W2 (Gelbrich, not squared) restored→clean: {self.w2:.4g}")
        if self.info.get("pair_psnr_db") is not None:
            pairs = _count(self.info.get("n_restored_images", 0), "pair")
            lines.append(f"restorer's PSNR on its {pairs}: {self.info['pair_psnr_db']:.2f} dB")  # of their mean squared error
        src = "from each image" if self.source is None else f"{self.source.n:,} patches"
        lines.append(
            f"restored: {_count(self.info.get('n_restored_images', 0), 'image')}, {src}; "
            f"clean: {_count(self.info.get('n_clean_images', 0), 'image')}, {self.target.n:,} patches"
        )
        if self.restoration_lattice:
            p = self.restoration_lattice
            how = (f", found in the restored set ({self.info.get('restoration_lattice_search')})"
                   if self.info.get("restoration_lattice_origin") == "found" else ", given")
            lines.append(f"restorer's lattice: {p} px{how}")  # x*'s content kept there (docs/method.md)
        elif self.info.get("restoration_lattice_search"):
            lines.append(f"restorer's lattice: none found in the restored set ({self.info['restoration_lattice_search']})")
        if self.operator is not None:
            lines.append(calibration_reach(self.source, self.fitted_target, self.operator).describe(
                "the restored set, before the fold"))
        lines += self._content_lines()
        if self.operator is not None and self.operator.stochastic:
            lines.append("source covariance singular or near-degenerate in some directions: those are "
                         "synthesised by the stochastic operator (eq. 5)")
        lines += [f"warning: {w}" for w in self.info.get("warnings", [])]
        return "\n".join(lines)


def _psnr(mse: float) -> float:
    """PSNR in dB of a mean squared error over [0, 1] images (inf for a perfect restorer)."""
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


class Calibrator:
    """Accumulates patch moments image by image; :meth:`fit` returns a :class:`Calibration`.

    ``restoration_lattice``: the restorer's grid period in pixels (given), None (none), or ``"auto"``:
    found from the restored images against the clean ones (:mod:`dot_core.calibration.restorer_grid`).
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
            info["pair_psnr_db"] = _psnr(statistics.fmean(self._pair_sq_err))
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
