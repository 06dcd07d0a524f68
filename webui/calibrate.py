"""Handlers of section 1 of the page: calibrate, reuse a calibration file, download it.

Plain values and the session's state in, plain values out (``/calibrate``, ``/load_calibration``,
``/download_calibration`` in the API); testable without a browser.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import gradio as gr
import numpy as np

from dot_core import MODES, EncoderUnavailableError, load_calibration
from dot_core import presets as bundled_presets
from serving.image_store import ArrayStore

from . import engine
from .errors import engine_error, fail
from .settings import FOLD_AUTO, FOLD_CHOICES, Settings
from .state import CalibrationState, ImageState


def summary(state: CalibrationState) -> str:
    """Markdown: W2 first, then the engine's own summary lines, warnings flagged."""
    cal = state.pipeline.calibration
    w2 = "n/a in zero-shot mode" if cal.w2 is None else f"{cal.w2:.4g}"
    lines = [f"**Calibrated** ({state.source}). Latent W2 (Gelbrich) restored → clean: **{w2}**", ""]
    for line in cal.summary().splitlines():
        if line.startswith("warning: "):
            lines.append(f"- ⚠️ **Warning:** {line.removeprefix('warning: ')}")
        elif not line.startswith("latent W2"):
            lines.append(f"- {line}")
    lines.append(f"- overlapping patches folded back with {state.pipeline.fold_kernel} weights")
    return "\n".join(lines)


def calibration_controls(cal_state: CalibrationState):
    """The latent space and patch size of the calibration in use (a preset's or a file's)."""
    cal = cal_state.pipeline.calibration
    return cal.encoder, cal.patch_size


@dataclasses.dataclass(frozen=True)
class CalibrationHandlers:
    """Calibrate from uploads or a preset, or load a file; a new calibration re-transports the upload."""

    settings: Settings
    images: ArrayStore
    presets: ModuleType = bundled_presets  # list_presets, get_preset, load_preset (tests pass their own)

    def calibrate(
        self,
        restored,
        clean,
        encoder: str,
        patch_size: int,
        mode: str = "unpaired",
        fold_kernel: str = FOLD_AUTO,
        preset: str = "",
        cal_state: CalibrationState | None = None,
        img_state: ImageState | None = None,
        progress=gr.Progress(track_tqdm=True),
        request: gr.Request = None,  # Gradio passes it; the heavy-job wrapper ends the visitor's job with it
    ):
        """Fit a transport operator on restored and clean images (or a preset); returns a summary."""
        encoder = (encoder or "").strip()
        if not encoder:
            raise fail("Pick a latent space (encoder).")
        engine.check_encoder(encoder, custom_encoders=self.settings.custom_encoders)
        if mode not in MODES:
            raise fail(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if fold_kernel not in FOLD_CHOICES:
            raise fail(f"fold_kernel must be one of {', '.join(FOLD_CHOICES)}, got {fold_kernel!r}")
        try:
            patch_size = int(patch_size)
        except (TypeError, ValueError):
            raise fail(f"patch_size must be an integer, got {patch_size!r}") from None
        restored, clean = engine.paths(restored), engine.paths(clean)
        most = self.settings.max_calibration_images
        if max(len(restored), len(clean)) > most:
            raise fail(f"At most {most} restored and {most} clean images per calibration; got "
                       f"{len(restored)} and {len(clean)}. About ten of each is enough.")
        if preset:
            progress(0.2, desc=f"loading preset {preset}")
            try:
                cal = self.presets.load_preset(preset, encoder=encoder)
            except (KeyError, ValueError, EncoderUnavailableError) as exc:
                raise engine_error(exc) from None
            source = f"preset {preset}"
        else:
            if mode == "zero-shot":
                if restored:
                    gr.Warning("Zero-shot mode uses only the clean images; the restored ones are ignored.")
                restored = []
            elif not restored:
                raise fail("Add some restored images (your model's outputs), or pick a preset.")
            if not clean:
                raise fail("Add some clean images (natural photos of the same kind), or pick a preset.")
            if mode == "paired" and len(restored) != len(clean):
                raise fail(f"Paired mode needs as many restored as clean images; got {len(restored)} and "
                           f"{len(clean)}. Pairs are matched by file name order.")
            jobs = self._read_jobs(restored, clean, mode, progress)
            try:
                cal = engine.fit(jobs, encoder, patch_size, mode)
            except (EncoderUnavailableError, ValueError, MemoryError, OSError) as exc:
                raise engine_error(exc) from None
            source = (f"{len(restored)} restored + {len(clean)} clean images" if restored
                      else f"{len(clean)} clean images")
        new_cal = engine.new_calibration(cal, fold_kernel, source, custom_encoders=self.settings.custom_encoders)
        img_state = engine.follow(self.images, img_state, new_cal)
        for w in cal.info.get("warnings", []):
            gr.Warning(w)
        return summary(new_cal), new_cal, img_state

    def load_calibration_file(self, calibration, fold_kernel: str = FOLD_AUTO,
                              img_state: ImageState | None = None, request: gr.Request = None):
        """Reuse a calibration saved earlier (.safetensors, validated by the engine)."""
        if not calibration:
            raise fail("No calibration file was given.")
        try:
            cal = load_calibration(calibration)
        except ValueError as exc:
            raise engine_error(exc) from None
        new_cal = engine.new_calibration(cal, fold_kernel, f"file {Path(calibration).name}",
                                         custom_encoders=self.settings.custom_encoders)
        return summary(new_cal), new_cal, engine.follow(self.images, img_state, new_cal)

    def download_calibration(self, cal_state: CalibrationState | None = None):
        """The session's calibration as .safetensors."""
        if cal_state is None:
            raise fail("No calibration yet.")
        return cal_state.file

    def _read_jobs(self, restored: list[str], clean: list[str], mode: str, progress) -> list[tuple]:
        """Load (and validate) every calibration image before any encoding starts.

        They are all held in memory until the fit, so their total size is bounded: past
        ``max_calibration_pixels`` the call stops with an error (memory: that budget plus one image).
        """
        budget = self.settings.max_calibration_pixels
        left = [budget]

        def read(path: str, what: str) -> np.ndarray:
            img = engine.read_image(path, what, max_pixels=self.settings.max_pixels)
            left[0] -= img.shape[0] * img.shape[1]
            if left[0] < 0:
                raise fail(f"The calibration images add up to more than {budget / 1e6:.0f} megapixels "
                           f"(at {Path(path).name}); use fewer or smaller images.")
            return img

        if mode == "paired":  # pairs are matched by file name order
            by_name = lambda p: Path(p).name  # noqa: E731
            restored, clean = sorted(restored, key=by_name), sorted(clean, key=by_name)
            return [("pair", read(r, "restored image"), read(c, "clean image"))
                    for r, c in progress.tqdm(list(zip(restored, clean)), desc="reading images", unit="pair")]
        jobs = [("restored", r) for r in restored] + [("clean", c) for c in clean]
        return [(role, read(p, f"{role} image"), None)
                for role, p in progress.tqdm(jobs, desc="reading images", unit="image")]
