"""The perception–distortion curve over α and the two α it suggests (best PSNR, lowest texture distance).

The paper notes that α needs tuning per task; with a ground truth the curve answers it: the α of
least distortion (highest PSNR) and the α of most realistic texture (lowest texture distance to the
ground truth), each one click away in the page.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dot_core.quality.metrics import psnr_from_mse
from dot_core.quality.pd_curve import texture_distances_along

from .settings import ALPHA_MAX, ALPHA_MIN, ALPHA_STEP


def blend_psnr(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, alpha: float) -> float:
    """PSNR (dB, peak 1) of x̂α = clip(α·x* + (1 − α)·x̂0) to ``gt``: ``dot_core.psnr`` of that blend
    to about 1e-6 dB. The error is computed here on the float32 images: ``psnr`` validates and
    copies both to float64 first, several times slower over the curve's dozens of α."""
    x = np.clip(alpha * x_star + (1.0 - alpha) * x0, 0.0, 1.0)
    return psnr_from_mse(float(np.mean(np.square(x - gt, dtype=np.float64))))


def pd_curve(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, alphas) -> dict:
    """PSNR and texture distance of x̂α = clip(α·x* + (1 − α)·x̂0) (eq. 4) to ``gt`` at each α.

    Returns ``{"alpha", "psnr", "distance"}``, lists over ``alphas`` (the texture distances are
    ``dot_core.quality.metrics.texture_distance``'s, computed together by :mod:`dot_core.quality.pd_curve`), and the
    two suggested α: ``"best_psnr"`` = [α, PSNR] and ``"lowest_distance"`` = [α, distance].
    """
    alphas = [float(a) for a in alphas]
    x_star, x0, gt = (np.asarray(v, np.float32) for v in (x_star, x0, gt))
    curve = {
        "alpha": alphas,
        "psnr": [blend_psnr(x_star, x0, gt, a) for a in alphas],
        "distance": texture_distances_along(x_star, x0, gt, alphas),
    }
    s = suggest(curve, x_star, x0, gt)
    return {**curve, "best_psnr": [s.best_psnr, s.psnr], "lowest_distance": [s.lowest_distance, s.distance]}


def mark_suggestions(ax, curve: dict) -> None:
    """Mark the two suggested α on a perception–distortion axes (texture distance × PSNR)."""
    if "best_psnr" not in curve:
        return
    a, d, p = (np.asarray(curve[k]) for k in ("alpha", "distance", "psnr"))
    best, low = curve["best_psnr"][0], curve["lowest_distance"][0]
    ax.plot(np.interp(best, a, d), curve["best_psnr"][1], "^", color="#1f77b4", markersize=8,
            label=f"best PSNR: α = {best:g}", zorder=4)
    ax.plot(curve["lowest_distance"][1], np.interp(low, a, p), "s", color="#2ca02c", markersize=7,
            label=f"lowest texture distance: α = {low:g}", zorder=4)


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """The two α the curve suggests, each on the slider's grid."""

    best_psnr: float  # least distortion
    psnr: float  # its PSNR (dB)
    lowest_distance: float  # most realistic texture among the curve's points
    distance: float  # its texture distance


def on_slider(alpha: float) -> float:
    """``alpha`` rounded to the α slider's step, within its range."""
    steps = round((min(max(alpha, ALPHA_MIN), ALPHA_MAX) - ALPHA_MIN) / ALPHA_STEP)
    return round(ALPHA_MIN + steps * ALPHA_STEP, 10)


def psnr_optimum(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray) -> float | None:
    """The α of least squared error on the unclipped line: argmin ‖α·d + e‖², d = x* − x̂0, e = x̂0 − y.

    .. math:: \\alpha^\\star = -\\frac{\\langle d, e \\rangle}{\\langle d, d \\rangle}

    Exact for α in [0, 1] (no clipping there); ``None`` when x* = x̂0.
    """
    d = np.asarray(x_star, np.float64) - x0
    dd = float(np.vdot(d, d))
    return None if dd == 0.0 else -float(np.vdot(d, np.asarray(x0, np.float64) - gt)) / dd


def suggest(curve: dict, x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray) -> Suggestion:
    """Best-PSNR α on the slider's grid and the curve's lowest-distance α.

    The PSNR optimum is the closed form when it falls in [0, 1]; otherwise (clipping bends the
    line) the slider's grid between the best curve point's neighbours is searched.
    """
    a, p, d = (np.asarray(curve[k], np.float64) for k in ("alpha", "psnr", "distance"))
    x_star, x0, gt = (np.asarray(v, np.float32) for v in (x_star, x0, gt))
    at = lambda alpha: blend_psnr(x_star, x0, gt, alpha)  # noqa: E731
    exact = psnr_optimum(x_star, x0, gt)
    if exact is not None and 0.0 <= exact <= 1.0:
        candidates = [on_slider(exact)]
    else:
        i = int(np.argmax(p))
        lo, hi = a[max(i - 1, 0)], a[min(i + 1, len(a) - 1)]
        candidates = sorted({on_slider(x) for x in np.arange(lo, hi + ALPHA_STEP / 2, ALPHA_STEP)})
    scores = [at(c) for c in candidates]
    best = int(np.argmax(scores))
    j = int(np.argmin(d))
    return Suggestion(best_psnr=candidates[best], psnr=scores[best], lowest_distance=on_slider(float(a[j])),
                      distance=float(d[j]))
