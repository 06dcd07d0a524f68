"""The perception–distortion plot's marks: the two suggested α drawn on the curve (the math is
:mod:`dot_core.quality.pd_curve`, on the slider's grid :data:`ALPHA_GRID`)."""

from __future__ import annotations

import numpy as np

from dot_core.quality.pd_curve import AlphaGrid

from .settings import ALPHA_MAX, ALPHA_MIN, ALPHA_STEP

ALPHA_GRID = AlphaGrid(ALPHA_MIN, ALPHA_MAX, ALPHA_STEP)  # the α slider's values


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
