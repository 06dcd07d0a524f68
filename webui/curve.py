"""The perception–distortion curve over α and the two α it suggests (best PSNR, lowest texture distance).

The paper notes that α needs tuning per task; with a ground truth the curve answers it: the α of
least distortion (highest PSNR) and the α of most realistic texture (lowest texture distance to the
ground truth), each one click away in the page.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dot_core import psnr
from dot_core.texture import texture_distances_along

from .settings import ALPHA_MAX, ALPHA_MIN, ALPHA_STEP


def pd_curve(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, alphas) -> dict:
    """PSNR and texture distance of x̂α = clip(α·x* + (1 − α)·x̂0) (eq. 4) to ``gt`` at each α.

    Returns ``{"alpha", "psnr", "distance"}``, lists over ``alphas``; the texture distances are
    ``dot_core.metrics.texture_distance``'s, computed together (:mod:`dot_core.texture`).
    """
    alphas = [float(a) for a in alphas]
    x_star, x0 = np.asarray(x_star, np.float32), np.asarray(x0, np.float32)
    blends = (np.clip(a * x_star + (1.0 - a) * x0, 0.0, 1.0) for a in alphas)
    return {
        "alpha": alphas,
        "psnr": [psnr(x, gt) for x in blends],
        "distance": texture_distances_along(x_star, x0, gt, alphas),
    }


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
    """Best-PSNR α (the closed form when it falls in [0, 1], else the curve's best point) and the
    curve's lowest-distance α."""
    a, p, d = (np.asarray(curve[k], np.float64) for k in ("alpha", "psnr", "distance"))
    best = float(a[int(np.argmax(p))])
    exact = psnr_optimum(x_star, x0, gt)
    if exact is not None and 0.0 <= exact <= 1.0:
        best = exact
    best = on_slider(best)
    x = np.clip(best * np.asarray(x_star, np.float32) + (1.0 - best) * np.asarray(x0, np.float32), 0.0, 1.0)
    i = int(np.argmin(d))
    return Suggestion(best_psnr=best, psnr=psnr(x, gt), lowest_distance=on_slider(float(a[i])), distance=float(d[i]))
