"""What a calibration's settings and counts must satisfy, and the warnings its counts give.

Shared by fitting (:mod:`.fit`), the result (:mod:`.result`), merging (:mod:`.merge`) and the
summary (:mod:`.summary`), so that a merged calibration warns exactly as a fitted one would.
"""

from __future__ import annotations

import math

__all__ = ["MODES", "LATTICE_AUTO", "MIN_GRID_SIDE", "check_restoration_lattice", "sample_warnings",
           "skip_warnings", "count_warnings", "count", "psnr_db"]

MODES = ("unpaired", "paired", "zero-shot")
MIN_SAMPLES_PER_DIM = 10  # fewer patches than this × d gives a warning: noisy covariance
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


def count(n: int, noun: str) -> str:
    """``1 image``, ``2 images``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def count_warnings(dim: int, target, source, info: dict) -> list[str]:
    """The warnings that follow from sample and skip counts (clean set first, then restored).

    ``target``/``source`` are :class:`~dot_core.ot.moments.PatchMoments` (``source`` None in
    zero-shot mode); ``info`` holds the skip counts ``n_skipped_clean``/``n_skipped_restored``.
    """
    sets = [("clean", target)] + ([] if source is None else [("restored", source)])
    return [w for role, m in sets
            for w in sample_warnings(role, m.n, dim) + skip_warnings(role, info.get(f"n_skipped_{role}", 0))]


def psnr_db(mse: float) -> float:
    """PSNR in dB of a mean squared error over [0, 1] images (inf for a perfect restorer)."""
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)
