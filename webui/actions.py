"""One handler per visitor action, returning every output the action changes: one server round trip.

Each action composes the section handlers in plain Python and returns one :class:`PageUpdate`,
whose fields ``layout`` maps to the page's components once (:data:`FIELDS`); what the outputs of
an action set off in the browser is part of the same update, not a listener of its own (README,
"Requests per visitor action", has the counts). Plain values and the session's state in, plain
values out: testable without a browser.
"""

from __future__ import annotations

import dataclasses

import gradio as gr

from .batch import BatchHandlers
from .batch_eval import BatchEvalHandlers
from .calibrate import CalibrationHandlers, summary_with_image
from .enhance import EnhanceHandlers
from .examples import ExampleHandlers
from .ground_truth import GT_HINT, GroundTruthHandlers
from .roundtrip import HINT as ROUNDTRIP_HINT
from .roundtrip import RoundTripHandlers
from .state import CalibrationState, ImageState
from .suggest_buttons import suggested_alpha, suggestion_buttons


def _skip():
    return gr.skip()


@dataclasses.dataclass
class PageUpdate:
    """What one action sets on the page, field by field; ``gr.skip()`` leaves a component as it is."""

    summary: object = dataclasses.field(default_factory=_skip)
    cal_state: object = dataclasses.field(default_factory=_skip)
    download: object = dataclasses.field(default_factory=_skip)  # the calibration file box
    encoder: object = dataclasses.field(default_factory=_skip)
    patch_size: object = dataclasses.field(default_factory=_skip)
    preset: object = dataclasses.field(default_factory=_skip)
    restored: object = dataclasses.field(default_factory=_skip)
    restored_thumbs: object = dataclasses.field(default_factory=_skip)
    clean: object = dataclasses.field(default_factory=_skip)
    clean_thumbs: object = dataclasses.field(default_factory=_skip)
    image: object = dataclasses.field(default_factory=_skip)
    gt_file: object = dataclasses.field(default_factory=_skip)
    alpha: object = dataclasses.field(default_factory=_skip)  # the slider: usable once an image is on show
    original: object = dataclasses.field(default_factory=_skip)
    transported: object = dataclasses.field(default_factory=_skip)
    interpolated: object = dataclasses.field(default_factory=_skip)
    before_after: object = dataclasses.field(default_factory=_skip)
    metrics: object = dataclasses.field(default_factory=_skip)
    plot: object = dataclasses.field(default_factory=_skip)
    suggest_psnr: object = dataclasses.field(default_factory=_skip)
    suggest_texture: object = dataclasses.field(default_factory=_skip)
    roundtrip_view: object = dataclasses.field(default_factory=_skip)
    roundtrip_text: object = dataclasses.field(default_factory=_skip)
    img_state: object = dataclasses.field(default_factory=_skip)

    def values(self) -> tuple:
        """The fields in :data:`FIELDS` order, as Gradio takes an event's outputs."""
        return tuple(getattr(self, name) for name in FIELDS)


FIELDS = tuple(f.name for f in dataclasses.fields(PageUpdate))


@dataclasses.dataclass(frozen=True)
class PageActions:
    """The visitor's actions that change several sections at once, each one handler."""

    calibration: CalibrationHandlers
    enhance: EnhanceHandlers
    ground_truth: GroundTruthHandlers
    examples: ExampleHandlers
    roundtrip: RoundTripHandlers

    def calibrate(self, restored, clean, encoder, patch_size, mode, fold_kernel, preset, color_fix,
                  restoration_lattice, noise, eps, cal_state: CalibrationState | None,
                  img_state: ImageState | None, image, alpha: float, gt_file, show_roundtrip: bool,
                  progress=gr.Progress(track_tqdm=True), request: gr.Request = None) -> tuple:
        """The Calibrate button: the calibration (``/calibrate``), then everything it changes."""
        _, new_cal, followed = self.calibration.calibrate(
            restored, clean, encoder, patch_size, mode, fold_kernel, preset, color_fix, restoration_lattice, noise,
            eps, cal_state, img_state, progress=progress)
        return self._after_calibration(new_cal, followed, image, alpha, gt_file, show_roundtrip, progress).values()

    def load_calibration(self, calibration, fold_kernel, color_fix, noise, img_state: ImageState | None,
                         cal_state: CalibrationState | None, image, alpha: float, gt_file, show_roundtrip: bool,
                         progress=gr.Progress(), request: gr.Request = None) -> tuple:
        """A calibration file dropped on the page (``/load_calibration``), then everything it changes."""
        _, new_cal, followed = self.calibration.load_calibration_file(calibration, fold_kernel, color_fix, noise,
                                                                      img_state, cal_state)
        return self._after_calibration(new_cal, followed, image, alpha, gt_file, show_roundtrip, progress).values()

    def _after_calibration(self, cal_state: CalibrationState, img_state: ImageState | None, image, alpha: float,
                           gt_file, show_roundtrip: bool, progress) -> PageUpdate:
        """A new calibration in use: its file and controls, and the upload on show transported by it
        (or the one waiting for a calibration, enhanced now), with its curve if a ground truth is there."""
        cal = cal_state.pipeline.calibration
        update = PageUpdate(cal_state=cal_state, download=gr.File(cal_state.file, visible=True), encoder=cal.encoder,
                            patch_size=cal.patch_size, img_state=img_state)
        try:
            *panels, img_state = self.enhance.after_calibration(image, alpha, cal_state, img_state)
        except gr.Error as exc:  # the waiting upload is refused: the calibration stays in use, said so
            gr.Warning(exc.message)
            return dataclasses.replace(update, summary=summary_with_image(cal_state, img_state))
        update.original, update.transported, update.interpolated = panels
        self._image_shown(update, img_state, alpha, gt_file, show_roundtrip, progress)
        update.summary = summary_with_image(cal_state, img_state)
        return update

    def _image_shown(self, update: PageUpdate, img_state: ImageState | None, alpha: float, gt_file,
                     show_roundtrip: bool, progress) -> None:
        """Section 2 and 3 for the image now on show: before/after, metrics and curve, suggestion
        buttons, the round trip (if asked for) and the α slider; ``update.img_state`` set."""
        update.before_after, update.metrics, update.plot, img_state = self.ground_truth.after_image(
            gt_file, alpha, img_state, progress)
        update.img_state = img_state
        update.suggest_psnr, update.suggest_texture = suggestion_buttons(img_state)
        if img_state is not None:
            update.roundtrip_view, update.roundtrip_text = self._roundtrip(show_roundtrip, img_state)
        update.alpha = gr.Slider(interactive=img_state is not None)

    def upload_image(self, image, alpha: float, cal_state: CalibrationState | None, img_state: ImageState | None,
                     show_roundtrip: bool, progress=gr.Progress(), request: gr.Request = None) -> tuple:
        """A restored image dropped on the enhance box: enhanced (or kept until there is a calibration);
        the previous image's ground truth is dropped (it would be compared silently)."""
        *panels, img_state = self.enhance.enhance_upload(image, alpha, cal_state, img_state)
        update = PageUpdate(original=panels[0], transported=panels[1], interpolated=panels[2], gt_file=None)
        self._image_shown(update, img_state, alpha, None, show_roundtrip, progress)
        update.summary = summary_with_image(cal_state, img_state)
        return update.values()

    def clear_image(self) -> tuple:
        """The enhance box's ×: nothing of the image stays on show."""
        hidden = gr.Button(visible=False)
        return PageUpdate(original=None, transported=None, interpolated=None, before_after=None, img_state=None,
                          gt_file=None, metrics=GT_HINT, plot=None, suggest_psnr=hidden, suggest_texture=hidden,
                          roundtrip_view=None, roundtrip_text=ROUNDTRIP_HINT,
                          alpha=gr.Slider(interactive=False)).values()

    def ground_truth_upload(self, gt_file, alpha: float, img_state: ImageState | None, progress=gr.Progress(),
                            request: gr.Request = None) -> tuple:
        """A ground truth dropped (or cleared): metrics, the curve and the two suggestions."""
        update = PageUpdate()
        update.metrics, update.plot, update.img_state = self.ground_truth.compare_ground_truth(
            gt_file, alpha, img_state, progress)
        update.suggest_psnr, update.suggest_texture = suggestion_buttons(update.img_state)
        return update.values()

    def suggest(self, kind: str, img_state: ImageState | None) -> tuple:
        """A suggestion button: α set to the curve's, and the page as after a release there."""
        alpha = suggested_alpha(kind, img_state)
        update = PageUpdate(alpha=alpha)
        update.interpolated, update.before_after, update.metrics, update.plot = self.ground_truth.on_release(
            alpha, img_state)
        return update.values()

    def example(self, gallery, encoder, fold_kernel, color_fix, noise, cal_state, img_state, show_roundtrip: bool,
                evt: gr.SelectData, progress=gr.Progress(), request: gr.Request = None) -> tuple:
        """A click on an example: its preset's calibration, its image and ground truth, in one go
        (``gallery`` first, so that a refusal at admission shows on it)."""
        (summary, cal_state, download, encoder, patch_size, preset, restored, clean, image, gt_file, alpha, original,
         transported, interpolated, before_after, text, fig, img_state) = self.examples.run(
            evt.index, encoder, fold_kernel, color_fix, noise, cal_state, img_state, progress)
        update = PageUpdate(
            summary=summary, cal_state=cal_state, download=download, encoder=encoder, patch_size=patch_size,
            preset=preset, restored=restored, restored_thumbs=gr.Gallery(value=None, visible=False), clean=clean,
            clean_thumbs=gr.Gallery(value=None, visible=False), image=image, gt_file=gt_file,
            alpha=gr.Slider(value=alpha, interactive=True), original=original, transported=transported,
            interpolated=interpolated, before_after=before_after, metrics=text, plot=fig, img_state=img_state)
        update.suggest_psnr, update.suggest_texture = suggestion_buttons(img_state)
        update.roundtrip_view, update.roundtrip_text = self._roundtrip(show_roundtrip, img_state)
        return update.values()

    def _roundtrip(self, show: bool, img_state: ImageState):
        """The round trip of the image now on show when the toggle is on; a refusal is said, the rest kept."""
        try:
            return self.roundtrip.follow(show, img_state)
        except gr.Error as exc:
            gr.Warning(exc.message)
            return gr.skip(), gr.skip()


@dataclasses.dataclass(frozen=True)
class BatchAction:
    """The "Enhance all" button: the batch and, with ground truths, its evaluation, in one request."""

    batch: BatchHandlers
    evaluation: BatchEvalHandlers

    def enhance_all(self, files, truths, alphas: str, cal_state: CalibrationState | None, progress=gr.Progress(),
                    request: gr.Request = None) -> tuple:
        """The zip of PNGs and its report (``/enhance_batch``), then the set's table, plot and CSV
        (``/evaluate_batch``); an evaluation refused is said, the zip kept."""
        archive, report = self.batch.enhance_batch(files, alphas, cal_state, progress)
        try:
            table = self.evaluation.evaluate_batch(files, truths, alphas, cal_state, progress)
        except gr.Error as exc:
            gr.Warning(exc.message)
            table = gr.skip(), gr.skip(), gr.skip()
        return archive, report, *table
