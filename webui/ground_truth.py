"""Handlers of section 3 of the page: PSNR/SSIM at α and the perception–distortion curve over α.

With the clean version of the uploaded image, each α of ``CURVE_ALPHAS`` gets a PSNR (distortion)
and a texture distance (perception) to it; the page draws that curve and marks the current α.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr
import numpy as np

from dot_core import psnr, ssim
from dot_core.quality.pd_curve import pd_curve
from serving.image_store import ArrayStore

from . import engine_calls
from .blends import COMPACT, BlendFiles
from .errors import fail
from .pd_plot import ALPHA_GRID, mark_suggestions
from .settings import CURVE_ALPHAS, DEFAULT_ALPHA, Settings
from .state import ImageState

GT_HINT = "Upload the clean version of the image above to see PSNR, SSIM and the perception–distortion curve."
TEXTURE_DISTANCE = ("*Texture distance*: how unlike the ground truth's the fine detail is, at four scales (sliced "
                    "Wasserstein); lower looks more real.")


def curve(state: ImageState, gt: np.ndarray, progress) -> dict:
    """PSNR and texture distance to the ground truth at every α of CURVE_ALPHAS."""
    progress(0.1, desc="perception–distortion curve")
    enhanced = state.enhanced()
    return pd_curve(enhanced.original, enhanced.transported, gt, CURVE_ALPHAS, ALPHA_GRID)


def plot(curve: dict, alpha: float):
    """Perception–distortion plane: the curve over α, the current α marked on it."""
    from matplotlib.figure import Figure

    a, d, p = (np.asarray(curve[k]) for k in ("alpha", "distance", "psnr"))
    # small in inches, large type: still readable when a phone shows it 320 px wide
    fig = Figure(figsize=(4.6, 3.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title("Perception–distortion over α ∈ [−1, 2]", fontsize=12)
    ax.tick_params(labelsize=10)
    ax.plot(d, p, "-o", color="#7c8796", markersize=4, label="α from −1 to 2")
    for i, ai in enumerate(a):
        if ai in (-1.0, 0.0, 1.0, 2.0):
            ax.annotate(f"α={ai:g}", (d[i], p[i]), textcoords="offset points", xytext=label_offset(d, p, i),
                        ha="center", va="center", fontsize=10)
    # the current α: a ring on the drawn polyline (exact values are in the text), the suggestions
    # (best PSNR, lowest texture distance) visible through it
    ax.plot(np.interp(alpha, a, d), np.interp(alpha, a, p), "o", markerfacecolor="none", markeredgecolor="#e4572e",
            markeredgewidth=2.5, markersize=13, label=f"current α = {alpha:g}", zorder=3)
    mark_suggestions(ax, curve)
    ax.margins(x=0.14, y=0.16)  # room for the labels inside the axes
    ax.set_xlabel("texture distance to ground truth\n(lower = more realistic)", fontsize=11)
    ax.set_ylabel("PSNR, dB (higher = less distortion)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=10)
    return fig


def label_offset(d: np.ndarray, p: np.ndarray, i: int, points: float = 16.0) -> tuple[float, float]:
    """An offset (in points) for the label of curve point ``i``: away from its neighbours on the curve,
    so that it sits on no other point (axes scaled to their data ranges, as matplotlib draws them)."""
    scale = np.array([np.ptp(d) or 1.0, np.ptp(p) or 1.0])
    here = np.array([d[i], p[i]]) / scale
    away = np.zeros(2)
    for j in (i - 1, i + 1):
        if 0 <= j < len(d):
            v = here - np.array([d[j], p[j]]) / scale
            away += v / (np.linalg.norm(v) or 1.0)
    if np.linalg.norm(away) < 1e-6:  # a straight run: beside it, perpendicular
        j = i + 1 if i + 1 < len(d) else i - 1
        t = np.array([d[j], p[j]]) / scale - here
        away = np.array([-t[1], t[0]])
    away /= np.linalg.norm(away) or 1.0
    return float(points * away[0]), float(points * away[1])


def metrics_text(state: ImageState, alpha: float, x: np.ndarray | None = None) -> str:
    """Markdown: PSNR and SSIM of x̂α (``x`` when the caller has it) and the curve's α = 1, 0 points."""
    x = state.blend(alpha) if x is None else x
    gt = state.clean()
    at = f"at α = {alpha:g}: **PSNR {psnr(x, gt):.2f} dB · SSIM {ssim(x, gt):.4f}**"
    c = state.curve
    if c is None:
        return at
    ref = {a: (p, d) for a, p, d in zip(c["alpha"], c["psnr"], c["distance"])}
    parts = [f"α = {a:g}: {ref[a][0]:.2f} dB, texture distance {ref[a][1]:.4f}" for a in (1.0, 0.0) if a in ref]
    return at + "  \nfor reference: " + "; ".join(parts)


@dataclasses.dataclass(frozen=True)
class GroundTruthHandlers:
    """Compare the session's upload with its clean version; follow α and new uploads."""

    settings: Settings
    images: ArrayStore
    blends: BlendFiles | None = None  # shared with the enhance handlers (None: a store of its own)

    def __post_init__(self):
        if self.blends is None:
            object.__setattr__(self, "blends", BlendFiles(self.settings.keep_blends))

    def compare_ground_truth(self, ground_truth, alpha: float = DEFAULT_ALPHA,
                             img_state: ImageState | None = None, progress=gr.Progress(),
                             request: gr.Request = None):
        """Compare with the clean image: metrics at α and the perception–distortion curve."""
        if not ground_truth:  # cleared
            return GT_HINT, None, img_state and dataclasses.replace(img_state, ground_truth=None, curve=None)
        if img_state is None:
            raise fail("Upload the restored image first; then its ground truth.")
        gt = engine_calls.read_image(ground_truth, "ground truth", max_pixels=self.settings.max_pixels)
        shape = img_state.shape
        if gt.shape != shape:
            raise fail(
                f"{Path(ground_truth).name}: the ground truth is {gt.shape[1]}×{gt.shape[0]} but the restored "
                f"image is {shape[1]}×{shape[0]}; upload the clean version of this very image."
            )
        kept = self.images.keep(img_state.folder, clean=gt)
        state = dataclasses.replace(img_state, ground_truth=kept, curve=curve(img_state, gt, progress))
        return metrics_text(state, alpha, self.blends.pixels(state, alpha)), plot(state.curve, alpha), state

    def on_release(self, alpha: float, img_state: ImageState | None):
        """Slider released: a compact PNG for download, the before/after view, metrics, marker."""
        if img_state is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        png = self.blends.png(img_state, alpha, level=COMPACT)  # x̂α as the slider's input left it
        if img_state.ground_truth is None or img_state.curve is None:
            return png, (img_state.original_png, png), gr.skip(), gr.skip()
        x = self.blends.pixels(img_state, alpha)
        return png, (img_state.original_png, png), metrics_text(img_state, alpha, x), plot(img_state.curve, alpha)

    def after_image(self, gt_file, alpha: float, img_state: ImageState | None, progress=gr.Progress()):
        """After a new upload or calibration: before/after view, and the curve if a GT is there."""
        if img_state is None:
            return None, GT_HINT, None, img_state
        png = self.blends.png(img_state, alpha, level=COMPACT)
        if not gt_file:
            return (img_state.original_png, png), GT_HINT, None, img_state
        try:
            text, fig, img_state = self.compare_ground_truth(gt_file, alpha, img_state, progress)
        except gr.Error as exc:  # e.g. a ground truth of another image: say so, keep the rest
            return (img_state.original_png, png), f"⚠️ {exc.message}", None, img_state
        return (img_state.original_png, png), text, fig, img_state
