"""Batch enhancement in the page: several restored images, several α, one zip of PNGs.

Named as the command line names its outputs (``python -m dot_core enhance``), by the same function
(:func:`dot_core.io.outputs.output_names`): ``<stem>.png`` for a single α, ``<stem>_alpha<α>.png`` for
several, a stem already taken gets the first free ``-2``, ``-3``, so no two entries share a name.
A file that cannot be read or enhanced is skipped and listed with the reason, as the CLI does.
"""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
import zipfile
from pathlib import Path

import gradio as gr

from dot_core.io.outputs import output_names

from . import engine_calls
from .errors import fail
from .files import out_dir, png_bytes
from .settings import ALPHA_MAX, ALPHA_MIN, Settings
from .state import CalibrationState

MAX_ALPHAS = 12  # α values per batch (each adds one PNG per image)


def parse_alphas(text: str) -> list[float]:
    """``"0, 0.5, -0.5"`` (commas or spaces) → [0.0, 0.5, -0.5], each in [−1, 2], repeats dropped."""
    parts = [p for p in str(text or "").replace(",", " ").split() if p]
    if not parts:
        raise fail("Give at least one α, e.g. 0, 0.5, 1 (1 = the restoration, 0 = fully transported).")
    out: list[float] = []
    for part in parts:
        try:
            a = float(part)
        except ValueError:
            raise fail(f"α values must be numbers separated by commas, got {part!r} in {text!r}.") from None
        if not math.isfinite(a) or not ALPHA_MIN <= a <= ALPHA_MAX:
            raise fail(f"Each α must lie in [{ALPHA_MIN:g}, {ALPHA_MAX:g}], got {part}.")
        if a not in out:
            out.append(a)
    if len(out) > MAX_ALPHAS:
        raise fail(f"At most {MAX_ALPHAS} α values per batch, got {len(out)}.")
    return out


def skip_reason(name: str, exc: Exception) -> str:
    """``name: why`` (the engine's messages often start with the file's name already)."""
    why = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    return why if why.startswith(name) else f"{name}: {why}"


def report(done: int, total: int, n_png: int, alphas: list[float], skipped: list[str]) -> str:
    """Markdown: what the zip holds, then every skipped file and why."""
    a = ", ".join(f"{x:g}" for x in alphas)
    lines = [f"**Wrote {n_png} PNG{'s' * (n_png != 1)}** for {done} of {total} image{'s' * (total != 1)} "
             f"(α = {a})."]
    if skipped:
        lines += ["", f"Skipped {len(skipped)}:", *[f"- {s}" for s in skipped]]
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class BatchHandlers:
    """Enhance many uploads with the session's calibration; nothing is kept in the session."""

    settings: Settings

    def enhance_batch(self, files, alphas: str = "0", cal_state: CalibrationState | None = None,
                      progress=gr.Progress(), request: gr.Request = None):
        """Enhance several restored images at several α; returns a zip of PNGs and a report.

        Names follow the CLI: ``<name>.png`` for one α, ``<name>_alpha<α>.png`` for several.
        """
        if cal_state is None:
            raise fail("No calibration yet (or it expired): calibrate, pick an example, or load a calibration "
                       "file first.")
        paths = engine_calls.paths(files)
        if not paths:
            raise fail("Add the restored images to enhance.")
        most = self.settings.max_batch_images
        if len(paths) > most:
            raise fail(f"At most {most} images per batch, got {len(paths)}; split them into several batches.")
        alphas = parse_alphas(alphas)
        folder = out_dir()
        archive, part = folder / "dot_enhanced.zip", folder / f".{uuid.uuid4().hex}.part"
        skipped, done, n_png = [], 0, 0
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as z:  # PNGs are compressed already
            for path, names in progress.tqdm(list(zip(paths, output_names(paths, alphas))), desc="enhancing",
                                             unit="image"):
                try:
                    x = engine_calls.read_image(path, "image", max_pixels=self.settings.max_pixels)
                    enhanced = engine_calls.transport(cal_state.pipeline, x)
                except (gr.Error, ValueError, MemoryError) as exc:
                    skipped.append(skip_reason(Path(path).name, exc))
                    continue
                for a, name in zip(alphas, names):
                    z.writestr(name, png_bytes(cal_state.pipeline.blend(enhanced, a), level=1,
                                               provenance=engine_calls.provenance(cal_state.pipeline, a)))
                    n_png += 1
                done += 1
        if not done:
            part.unlink(missing_ok=True)
            raise fail("None of the images could be enhanced:\n" + "\n".join(f"- {s}" for s in skipped))
        os.replace(part, archive)  # atomic: the link never points at a half-written zip
        if skipped:
            gr.Warning(f"{len(skipped)} of {len(paths)} images skipped; the report lists why.")
        return str(archive), report(done, len(paths), n_png, alphas, skipped)
