"""Handlers of section 2 of the page: enhance an upload once, then blend it at any α.

Plain values and the session's state in, plain values out (``/enhance``, ``/blend`` in the API);
testable without a browser.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr

from serving.image_store import ArrayStore

from . import engine_calls
from .blends import COMPACT, PREVIEW, BlendFiles
from .errors import fail
from .files import free_replaced
from .settings import DEFAULT_ALPHA, Settings
from .state import CalibrationState, ImageState


@dataclasses.dataclass(frozen=True)
class EnhanceHandlers:
    """x̂0 computed once per upload and kept; every α after that is a pixel mix (eq. 4)."""

    settings: Settings
    images: ArrayStore
    blends: BlendFiles | None = None  # shared with the ground-truth handlers (None: a store of its own)

    def __post_init__(self):
        if self.blends is None:
            object.__setattr__(self, "blends", BlendFiles(self.settings.keep_blends))

    def enhance(self, image, alpha: float = DEFAULT_ALPHA, cal_state: CalibrationState | None = None,
                img_state: ImageState | None = None, request: gr.Request = None):
        """Transport a restored image once; returns the original, x̂0 and x̂α (and the new image state,
        which replaces ``img_state``: its files go)."""
        if cal_state is None:
            raise fail("No calibration yet (or it expired): calibrate, pick an example, or load a calibration "
                       "file first; an image uploaded on the page is enhanced as soon as there is one.")
        if not image:
            raise fail("Upload a restored image to enhance.")
        x = engine_calls.read_image(image, "image", max_pixels=self.settings.max_pixels)
        pipeline = cal_state.pipeline
        h, w = pipeline.encoder.latent_size(*x.shape[:2])
        p = pipeline.calibration.patch_size
        if min(h, w) < p:  # allowed (the border is replicated), but the transport sees mostly padding
            gr.Warning(f"{Path(image).name} is {x.shape[1]}×{x.shape[0]}: its latent ({w}×{h}) is smaller than "
                       f"one {p}×{p} patch, so the result is mostly extrapolated from its border.")
        state = engine_calls.new_image(self.images, pipeline, x, Path(image).stem)
        free_replaced(img_state, state)
        return state.original_png, state.transported_png, self.blends.png(state, alpha, level=COMPACT), state

    def enhance_upload(self, image, alpha: float = DEFAULT_ALPHA, cal_state: CalibrationState | None = None,
                       img_state: ImageState | None = None, request: gr.Request = None):
        """The page's upload: as :meth:`enhance`, but an upload made before any calibration is kept
        and said to be (information, not an error), and a refused file names what stays on show."""
        if image and cal_state is None:
            gr.Info(f"{Path(image).name} is kept: it is enhanced as soon as there is a calibration (calibrate, "
                    "pick an example, or load a calibration file).")
            return gr.skip(), gr.skip(), gr.skip(), img_state
        try:
            return self.enhance(image, alpha, cal_state, img_state)
        except gr.Error as exc:
            kept = (f"The image on show ({img_state.stem}) stays." if img_state is not None
                    else "No image is on show.")
            raise fail(f"{exc.message} {kept}") from None

    def blend(self, alpha: float, img_state: ImageState | None = None):
        """x̂α for the session's current upload: a pixel mix of kept images, no encoder call."""
        if img_state is None:
            raise fail("No image yet (or it expired): upload a restored image to enhance first (API: /enhance).")
        return self.blends.png(img_state, alpha, level=PREVIEW)

    def after_calibration(self, image, alpha: float, cal_state: CalibrationState | None,
                          img_state: ImageState | None):
        """After a new calibration: the kept upload's panels (it was transported again), or the upload
        that was made before any calibration, enhanced now; the three panels and the image state."""
        if img_state is not None:
            return (img_state.original_png, img_state.transported_png, self.blends.png(img_state, alpha, level=COMPACT),
                    img_state)
        if image and cal_state is not None:
            return self.enhance(image, alpha, cal_state, img_state)
        return gr.skip(), gr.skip(), gr.skip(), img_state
