"""The Batch section with ground truths: the set's perception–distortion table and plot beside the zip.

Ground truths are matched with the batch's restorations by file name, as ``dot-core evaluate``
matches them; each pair is measured at the batch's α by the same engine function
(:func:`dot_core.evaluation.dataset.evaluate_image`), so the page, the command and Python give the same numbers.
The table, its CSV and the plot are written to the session's own folder.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import gradio as gr

from dot_core.evaluation.dataset import DEFAULT_LATTICE_PERIOD, Evaluation, evaluate_image, pair_by_stem, settings_hash
from dot_core.evaluation.report import markdown_table, summarize, write_report
from dot_core.quality.perceptual import Perceptual, load_perceptual

from . import engine_calls
from .batch import parse_alphas, skip_reason
from .errors import fail
from .files import out_dir
from .settings import Settings
from .state import CalibrationState

HINT = "Add the ground truths too (same file names) for the set's perception–distortion table."


def _pairs(files, truths) -> list[tuple[str, Path, Path]]:
    try:
        pairing = pair_by_stem([Path(p) for p in engine_calls.paths(files)],
                               [Path(p) for p in engine_calls.paths(truths)])
    except ValueError as exc:
        raise fail(f"Ground truths: {exc}.") from None
    unmatched = [p.name for p in pairing.unmatched_restored + pairing.unmatched_truth]
    if unmatched:
        gr.Warning(f"No partner of the same name for: {', '.join(unmatched)}; the table leaves them out.")
    return pairing.pairs


@dataclasses.dataclass(frozen=True)
class BatchEvalHandlers:
    """Measure the batch against its ground truths; nothing is kept in the session."""

    settings: Settings

    @functools.cached_property
    def perceptual(self) -> Perceptual:
        """FID/KID features and LPIPS where their networks load (once); offline each says why not."""
        return load_perceptual("inception", lpips=True)

    def evaluate_batch(self, files, truths, alphas: str = "0", cal_state: CalibrationState | None = None,
                       progress=gr.Progress(), request: gr.Request = None):
        """With ground truths: the Markdown table, the plot (PNG) and metrics.csv; without: a hint."""
        if not engine_calls.paths(truths):
            return HINT, None, None
        if cal_state is None:
            raise fail("No calibration yet (or it expired): calibrate, pick an example, or load a calibration first.")
        most = self.settings.max_batch_images
        if max(len(engine_calls.paths(files)), len(engine_calls.paths(truths))) > most:
            raise fail(f"At most {most} images per batch (and as many ground truths); split them into several batches.")
        alphas, pairs = parse_alphas(alphas), _pairs(files, truths)
        pipe, perceptual = cal_state.pipeline, self.perceptual
        period = pipe.calibration.restoration_lattice or DEFAULT_LATTICE_PERIOD
        settings, digest = settings_hash(pipe, space="pixel", period=period, perceptual=perceptual)
        images, skipped, limit = [], [], self.settings.max_pixels
        for stem, r_path, t_path in progress.tqdm(pairs, desc="measuring", unit="image"):
            try:
                x = engine_calls.read_image(str(r_path), "image", max_pixels=limit)
                y = engine_calls.read_image(str(t_path), "ground truth", max_pixels=limit)
                images.append(evaluate_image(pipe, x, y, name=stem, alphas=alphas, period=period,
                                             perceptual=perceptual, settings=digest))
            except (gr.Error, ValueError, MemoryError) as exc:
                skipped.append(skip_reason(r_path.name, exc))
        if not images:
            raise fail("None of the pairs could be measured:\n" + "\n".join(f"- {s}" for s in skipped))
        ev = Evaluation(images=images, skipped=skipped, settings=settings, settings_hash=digest)
        summary = summarize(ev, perceptual)
        paths = write_report(ev, summary, out_dir())
        return markdown_table(summary), str(paths["plot"]), str(paths["csv"])
