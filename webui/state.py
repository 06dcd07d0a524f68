"""Per-session state kept in ``gr.State``: the calibration in use and the current upload."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dot_core import DOTPipeline, Enhanced
from serving.image_store import KeptArrays

from .errors import engine_error, fail


@dataclasses.dataclass(frozen=True)
class CalibrationState:
    """One session's calibration, as the pipeline that applies it."""

    pipeline: DOTPipeline
    file: str  # the calibration saved as .safetensors, for download
    source: str  # where it came from, for the summary
    skipped: tuple[str, ...] = ()  # calibration files that could not be used, each with the reason


@dataclasses.dataclass(frozen=True)
class ImageState:
    """One session's current upload: x* and x̂0 (pixel blends need nothing else).

    The arrays live in the app's ``ArrayStore`` (16-bit, within a RAM budget shared by all
    sessions, the least recently used on disk); they are freed when no state refers to them any more.
    """

    pipeline: DOTPipeline  # the calibration that made x̂0
    kept: KeptArrays  # "original" (x*) and "transported" (x̂0)
    stem: str  # upload's file name without extension, for download names
    original_png: str
    transported_png: str
    ground_truth: KeptArrays | None = None  # "clean"
    curve: dict | None = None  # {"alpha", "psnr", "distance"}: lists over CURVE_ALPHAS
    reach: str = ""  # how far the transport got on this image (dot_core.calibration.reach), for the summary

    @property
    def shape(self) -> tuple[int, ...]:
        return self.kept.shapes["original"]

    @property
    def folder(self) -> Path:
        """This upload's own folder of served files."""
        return Path(self.original_png).parent

    def enhanced(self) -> Enhanced:
        """x* and x̂0 as float32 (read back from disk if this session was idle a while)."""
        x_star, x0 = read_kept(self.kept, "original", "transported")
        return Enhanced(original=x_star, transported=x0, latent=None, latent_transported=None)

    def clean(self) -> np.ndarray:
        return read_kept(self.ground_truth, "clean")[0]

    def blend(self, alpha: float) -> np.ndarray:
        """x̂α = α·x* + (1 − α)·x̂0 (eq. 4) in pixel space: no encoder call."""
        try:
            return self.pipeline.blend(self.enhanced(), alpha)
        except ValueError as exc:
            raise engine_error(exc) from None


def read_kept(kept: KeptArrays, *names: str) -> list[np.ndarray]:
    """Arrays of a session's kept group; gone (the session was cleaned up) is the visitor's message."""
    try:
        return [kept.get(name) for name in names]
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
