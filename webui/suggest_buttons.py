"""The α suggestion of section 3: with a ground truth, two buttons apply the curve's best α in one click.

The paper leaves α to tune per task; the perception–distortion curve (``dot_core.quality.pd_curve``) gives the α
of least distortion (best PSNR) and the α of most realistic texture (lowest texture distance to the
ground truth). Each button sets the slider there; the page then updates as after a slider release.
"""

from __future__ import annotations

import gradio as gr

from .errors import fail
from .state import ImageState

KINDS = {"best_psnr": "Best PSNR", "lowest_distance": "Most realistic"}  # the plot's legend says how


def suggestion_buttons(img_state: ImageState | None):
    """The two buttons' labels, shown only when the upload has a curve (the plot marks both α)."""
    curve = img_state.curve if img_state is not None else None
    if not curve or "best_psnr" not in curve:
        return gr.Button(visible=False), gr.Button(visible=False)
    a, b = curve["best_psnr"][0], curve["lowest_distance"][0]  # short labels: one line on a phone
    return (gr.Button(f"{KINDS['best_psnr']}: α = {a:g}", visible=True),
            gr.Button(f"{KINDS['lowest_distance']}: α = {b:g}", visible=True))


def suggested_alpha(kind: str, img_state: ImageState | None) -> float:
    """The α the curve suggests: ``kind`` is "best_psnr" or "lowest_distance"."""
    if kind not in KINDS:
        raise fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    curve = img_state.curve if img_state is not None else None
    if not curve or kind not in curve:
        raise fail("No suggestion yet: upload a restored image and its ground truth first.")
    return float(curve[kind][0])
