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

from dot_core import EncoderUnavailableError, load_calibration
from dot_core import presets as bundled_presets
from dot_core.calibration.pairing import ModeChoice, choose_mode, pairs_for_paired_mode
from dot_core.ot.gaussian_maps import check_eps
from serving.image_store import ArrayStore

from . import engine_calls
from .errors import engine_error, fail
from .files import free_replaced
from .settings import (
    COLOR_FIX_AUTO,
    COLOR_FIX_CHOICES,
    FOLD_AUTO,
    FOLD_CHOICES,
    LATTICE_AUTO,
    LATTICE_NONE,
    MODE_AUTO,
    MODE_CHOICES,
    NOISE_CHOICES,
    NOISE_DEFAULT,
    PATCH_SIZE_MAX,
    PATCH_SIZE_MIN,
    RESTORATION_LATTICE_CHOICES,
    Settings,
)
from .state import CalibrationState, ImageState


def check_choice(name: str, value, choices) -> None:
    """Refuse a value of control ``name`` that is not one of the page's ``choices`` (an API caller's typo)."""
    if value not in choices:
        raise fail(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def whole_number(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]; anything else is refused, saying what was received."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fail(f"{name} must be a whole number between {lo} and {hi}, got {value!r}") from None
    if not number.is_integer():
        raise fail(f"{name} must be a whole number between {lo} and {hi}, got {value!r}")
    if not lo <= number <= hi:
        raise fail(f"{name} must be between {lo} and {hi}, got {int(number)}")
    return int(number)


def regularisation(eps) -> float | None:
    """The page's ε box: blank is the latent's own ε (None); otherwise a finite number ≥ 0, the rule
    of the engine, the command line and calibration files (:func:`dot_core.ot.gaussian_maps.check_eps`)."""
    if eps is None or (isinstance(eps, str) and not eps.strip()):
        return None
    try:
        return check_eps(float(eps))
    except (TypeError, ValueError):
        raise fail(f"eps must be a finite number ≥ 0 (relative to Σs's mean eigenvalue) or blank (the latent's "
                   f"own), got {eps!r}") from None


def restoration_lattice_period(choice: str) -> int | str | None:
    """The page's "Restorer's grid" choice: "auto" (found from the uploads), None for "none", or a
    period in pixels; refuses others."""
    check_choice("restoration_lattice", str(choice), RESTORATION_LATTICE_CHOICES)
    if str(choice) in (LATTICE_AUTO, LATTICE_NONE):
        return None if str(choice) == LATTICE_NONE else LATTICE_AUTO
    return int(choice)


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
    lines.append(f"- regularisation ε = {cal.eps:g} (on Σs's diagonal, relative to its mean eigenvalue)")
    lines.append(f"- overlapping patches folded back with {state.pipeline.fold_kernel} weights")
    fix = state.pipeline.color_fix
    lines.append("- colour fix: none (the paper's method as is)" if fix == "none" else
                 f"- colour fix: {fix} (the restoration's colours kept, the transported detail taken)")
    if cal.operator is not None and cal.operator.stochastic and state.pipeline.config.noise == "local":
        lines.append("- synthesised grain (eq. 5) follows the image's detail: flat regions stay flat (noise: local)")
    lines += [f"- ⚠️ **Skipped** {reason}" for reason in state.skipped]
    return "\n".join(lines)


def summary_with_image(cal_state: CalibrationState | None, img_state: ImageState | None):
    """The calibration's summary and, when the current upload was transported by it, how far the
    transport got on that image (after the fold); unchanged without a calibration."""
    if cal_state is None:
        return gr.skip()
    text = summary(cal_state)
    if img_state is not None and img_state.pipeline is cal_state.pipeline and img_state.reach:
        text += f"\n- {img_state.reach}"
    return text


def out_of_date(cal_state: CalibrationState | None):
    """The summary once the calibration files changed: it describes the calibration still in use."""
    if cal_state is None:
        return gr.skip()
    return (summary(cal_state) + "\n\n⚠️ **Out of date:** the files above changed since this calibration; "
            "press Calibrate to use them (this calibration stays in use until then).")


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
        mode: str = MODE_AUTO,
        fold_kernel: str = FOLD_AUTO,
        preset: str = "",
        color_fix: str = COLOR_FIX_AUTO,
        restoration_lattice: str = LATTICE_AUTO,
        noise: str = NOISE_DEFAULT,
        eps: float | None = None,
        cal_state: CalibrationState | None = None,
        img_state: ImageState | None = None,
        progress=gr.Progress(track_tqdm=True),
        request: gr.Request = None,  # Gradio passes it; the heavy-job wrapper ends the visitor's job with it
    ):
        """Fit a transport operator on restored and clean images (or a preset); returns a summary."""
        encoder = (encoder or "").strip()
        if not encoder:
            raise fail("Pick a latent space (encoder).")
        engine_calls.check_encoder(encoder, custom_encoders=self.settings.custom_encoders)
        check_choice("mode", mode, MODE_CHOICES)
        check_choice("fold_kernel", fold_kernel, FOLD_CHOICES)
        check_choice("color_fix", color_fix, COLOR_FIX_CHOICES)
        check_choice("noise", noise, NOISE_CHOICES)
        period = restoration_lattice_period(restoration_lattice)
        eps = regularisation(eps)
        restored, clean = engine_calls.paths(restored), engine_calls.paths(clean)
        most = self.settings.max_calibration_images
        if max(len(restored), len(clean)) > most:
            raise fail(f"At most {most} restored and {most} clean images per calibration; got "
                       f"{len(restored)} and {len(clean)}. About ten of each is enough.")
        if preset and (restored or clean):  # never calibrate on the preset while files were given
            raise fail(f"Calibrate on either your images ({len(restored)} restored, {len(clean)} clean given) "
                       f"or a preset ({preset}), not both: clear the files to use the preset, or set the "
                       "preset to \"your images above\" (API: preset=\"\").")
        skipped: list[str] = []
        if preset:
            cal, source = self._preset(preset, encoder, period, eps, progress), f"preset {preset}"
        else:  # a preset has its own patch size
            cal, source, skipped = self._own_images(restored, clean, encoder, patch_size, mode, period, eps, progress)
        new_cal = engine_calls.new_calibration(cal, fold_kernel, source, custom_encoders=self.settings.custom_encoders,
                                         color_fix=color_fix, noise=noise)
        if skipped:
            new_cal = dataclasses.replace(new_cal, skipped=tuple(skipped))
        followed = engine_calls.follow(self.images, img_state, new_cal)
        free_replaced(cal_state, new_cal)
        free_replaced(img_state, followed)
        for w in cal.info.get("warnings", []):
            gr.Warning(w)
        return summary(new_cal), new_cal, followed

    def _own_images(self, restored: list, clean: list, encoder: str, patch_size, mode: str, period, eps: float | None,
                    progress):
        """The calibration of the visitor's own files: (calibration, where it came from, skipped files)."""
        patch_size = whole_number("patch_size", patch_size, PATCH_SIZE_MIN, PATCH_SIZE_MAX)
        if mode == "zero-shot":
            if restored:
                gr.Warning("Zero-shot mode uses only the clean images; the restored ones are ignored.")
            restored = []
        elif not restored:
            raise fail("Add some restored images (your model's outputs), or pick a preset.")
        if not clean:
            raise fail("Add some clean images (natural photos of the same kind), or pick a preset.")
        choice = _mode(mode, restored, clean)
        jobs, skipped = self._read_jobs(restored, clean, choice, progress)
        try:
            cal = engine_calls.fit(jobs, encoder, patch_size, choice.mode, restoration_lattice=period, eps=eps)
        except (EncoderUnavailableError, ValueError, MemoryError, OSError) as exc:
            raise engine_error(exc) from None
        cal.info["mode_reason"] = choice.reason
        if skipped:
            gr.Warning(f"{len(skipped)} file(s) could not be used and were skipped: " + "; ".join(skipped))
        return cal, _source(jobs), skipped

    def _preset(self, preset: str, encoder: str, period, eps: float | None, progress):
        """The ready calibration ``preset`` on ``encoder``; the visitor's grid and ε, which apply to their
        own images only, are said to be set aside when they differ from the preset's."""
        progress(0.2, desc=f"loading preset {preset}")
        try:
            cal = self.presets.load_preset(preset, encoder=encoder)
        except (KeyError, ValueError, EncoderUnavailableError) as exc:
            raise engine_error(exc) from None
        if isinstance(period, int) and period != cal.restoration_lattice:
            gr.Warning(f"The preset {preset} states its own restorer's grid "
                       f"({cal.restoration_lattice or 'none'}); the {period}-pixel choice applies to your images only.")
        if eps is not None and eps != cal.eps:
            gr.Warning(f"The preset {preset} has its own ε ({cal.eps:g}); ε = {eps:g} applies to your images only.")
        return cal

    def load_calibration_file(self, calibration, fold_kernel: str = FOLD_AUTO, color_fix: str = COLOR_FIX_AUTO,
                              noise: str = NOISE_DEFAULT, img_state: ImageState | None = None,
                              cal_state: CalibrationState | None = None, request: gr.Request = None):
        """Reuse a calibration saved earlier (.safetensors, validated by the engine)."""
        if not calibration:
            raise fail("No calibration file was given.")
        check_choice("fold_kernel", fold_kernel, FOLD_CHOICES)
        check_choice("color_fix", color_fix, COLOR_FIX_CHOICES)
        check_choice("noise", noise, NOISE_CHOICES)
        try:
            cal = load_calibration(calibration)
            new_cal = engine_calls.new_calibration(cal, fold_kernel, f"file {Path(calibration).name}",
                                             custom_encoders=self.settings.custom_encoders, color_fix=color_fix,
                                             noise=noise)
        except (ValueError, gr.Error) as exc:  # refused: say what stays in use
            kept = (f"The calibration in use ({cal_state.source}) stays in use, unchanged." if cal_state
                    else "No calibration is in use yet.")
            raise fail(f"{engine_error(exc).message} {kept}") from None
        followed = engine_calls.follow(self.images, img_state, new_cal)
        free_replaced(cal_state, new_cal)
        free_replaced(img_state, followed)
        return summary(new_cal), new_cal, followed

    def download_calibration(self, cal_state: CalibrationState | None = None):
        """The session's calibration as .safetensors."""
        if cal_state is None:
            raise fail("No calibration yet.")
        return cal_state.file

    def _read_jobs(self, restored: list[str], clean: list[str], choice: ModeChoice,
                   progress) -> tuple[list[tuple], list[str]]:
        """Load (and validate) every calibration image before any encoding starts: (jobs, skipped).

        As the CLI does, a file that cannot be read is skipped (in paired mode, with its partner) and
        named in ``skipped`` with the reason; with no usable restored (or clean) image left the call
        stops, naming every skipped file. The images are all held in memory until the fit, so their
        total size is bounded: past ``max_calibration_pixels`` the call stops with an error (memory:
        that budget plus one image).
        """
        budget = self.settings.max_calibration_pixels
        left = [budget]
        skipped: list[str] = []

        def read(path: str, what: str) -> np.ndarray | None:
            try:
                img = engine_calls.read_image(path, what, max_pixels=self.settings.max_pixels)
            except gr.Error as exc:
                skipped.append(exc.message if Path(path).name in exc.message else f"{Path(path).name}: {exc.message}")
                return None
            left[0] -= img.shape[0] * img.shape[1]
            if left[0] < 0:
                raise fail(f"The calibration images add up to more than {budget / 1e6:.0f} megapixels "
                           f"(at {Path(path).name}); use fewer or smaller images.")
            return img

        mode = choice.mode
        if mode == "paired":  # pairs matched by file name (dot_core.calibration.pairing)
            pairs = [("pair", read(r, "restored image"), read(c, "clean image"))
                     for r, c in progress.tqdm(list(choice.pairs), desc="reading images", unit="pair")]
            jobs = [job for job in pairs if job[1] is not None and job[2] is not None]
        else:
            named = [("restored", r) for r in restored] + [("clean", c) for c in clean]
            jobs = [(role, read(p, f"{role} image"), None)
                    for role, p in progress.tqdm(named, desc="reading images", unit="image")]
            jobs = [job for job in jobs if job[1] is not None]
        roles = {job[0] for job in jobs}
        needed = {"pair"} if mode == "paired" else {"clean"} if mode == "zero-shot" else {"restored", "clean"}
        if skipped and not needed <= roles:
            raise fail("No usable " + " or ".join(sorted(needed - roles)) + " image left; every file was skipped: "
                       + "; ".join(skipped))
        return jobs, skipped


def _mode(mode: str, restored: list[str], clean: list[str]) -> ModeChoice:
    """The mode to calibrate in, its pairs and why: ``auto`` pairs each restoration with the clean
    upload of its name (Gradio keeps an upload's file name in its path) when every one has its own."""
    try:
        if mode == MODE_AUTO:
            choice = choose_mode(restored, clean)
            return ModeChoice(choice.mode, choice.pairs, f"auto: {choice.reason}")
        if mode == "paired":  # by name, else in the order of the names (as the page always did)
            by_name = lambda p: Path(p).name  # noqa: E731
            return pairs_for_paired_mode(sorted(restored, key=by_name), sorted(clean, key=by_name))
    except ValueError as exc:
        message = str(exc)
        raise fail(f"{message[0].upper()}{message[1:]}.") from None
    return ModeChoice(mode, (), "asked for")


def _source(jobs: list[tuple]) -> str:
    """What a calibration was fitted on, for the summary: "3 restored + 3 clean images"."""
    n_pairs = sum(role == "pair" for role, *_ in jobs)
    n_restored = n_pairs + sum(role == "restored" for role, *_ in jobs)
    n_clean = n_pairs + sum(role == "clean" for role, *_ in jobs)
    plural = "image" if n_clean == 1 else "images"
    return f"{n_restored} restored + {n_clean} clean {plural}" if n_restored else f"{n_clean} clean {plural}"
