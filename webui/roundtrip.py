"""What the latent space alone costs: the round trip D(E(x)) of the upload, and its PSNR against it.

Every latent transport starts from D(E(x)); whatever the encoder and decoder lose is lost before
any patch is moved (the ceiling on PSNR at α = 1 is the upload itself, but x̂0 can be no closer to
x than the round trip). Weight-free latents (``pixel``) are lossless; a VAE's is a few dB short.
"""

from __future__ import annotations

import dataclasses

import gradio as gr
import numpy as np

from dot_core import DOTPipeline, psnr

from .engine_calls import gpu
from .errors import engine_error, fail
from .files import write_png
from .settings import Settings
from .state import ImageState

LOSSLESS_DB = 20 * np.log10(2 * 255)  # RMS error below half an 8-bit level: nothing a PNG can show
HINT = "Shows D(E(x)), your upload encoded and decoded with nothing transported, and its PSNR against the upload."


@gpu
def roundtrip(pipeline: DOTPipeline, image: np.ndarray) -> np.ndarray:
    """D(E(x)) on the calibration's latent space (a heavy call: it borrows a GPU on ZeroGPU)."""
    return pipeline.roundtrip(image)


def describe(value: float, encoder: str) -> str:
    """Markdown: the round trip's PSNR against the upload, in a visitor's words."""
    figure = f"{value:.2f} dB"
    if value >= LOSSLESS_DB:
        figure = "∞ dB (lossless)" if value == float("inf") else f"{value:.0f} dB (lossless at 8 bits)"
    return (f"Latent **{encoder}** alone: D(E(x)) is **{figure}** PSNR from your upload, before anything is "
            "transported.")


@dataclasses.dataclass(frozen=True)
class RoundTripHandlers:
    """The toggle of section 2: the round trip next to the original, or nothing."""

    settings: Settings

    def show_roundtrip(self, show: bool, img_state: ImageState | None = None, request: gr.Request = None):
        """The upload and its round trip D(E(x)) (a before/after pair of PNGs) and their PSNR; nothing when off."""
        if not show:
            return None, HINT
        if img_state is None:
            raise fail("Upload a restored image first; then its round trip shows here.")
        x = img_state.enhanced().original
        try:
            y = roundtrip(img_state.pipeline, x)
        except (ValueError, MemoryError) as exc:
            raise engine_error(exc) from None
        made = {**img_state.pipeline.provenance, "image": "round trip D(E(x*)), nothing transported"}
        png = write_png(y, f"{img_state.stem}_roundtrip.png", folder=img_state.folder, provenance=made)
        encoder = img_state.pipeline.calibration.encoder
        return (img_state.original_png, png), describe(psnr(y, x), encoder)

    def toggle(self, show: bool, img_state: ImageState | None = None, request: gr.Request = None):
        """The page's checkbox, one request: its section shown (or hidden) with the round trip of the
        image on show; without an image (or when the round trip is refused) the section says so."""
        try:
            view, text = self.show_roundtrip(show, img_state)
        except gr.Error as exc:
            gr.Warning(exc.message)
            view, text = None, HINT
        return gr.Column(visible=bool(show)), view, text

    def follow(self, show: bool, img_state: ImageState | None, request: gr.Request = None):
        """A new upload or calibration: its round trip if the toggle is on (nothing to show without an image)."""
        if not show or img_state is None:
            return None, HINT
        return self.show_roundtrip(True, img_state)
