"""The page's events: each visitor action wired to one handler that returns every output it changes.

``layout`` builds the components; here they are wired, section by section, to the handlers of
``webui.actions`` (actions that change several sections) and of each section (the α slider, the
files' thumbnails). The page's script (``static/*.js``) runs in the browser, some of it as steps
of their own that make no request. The named API (gradio_client) has buttons of its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from dot_core import EncoderUnavailableError

from .actions import FIELDS
from .calibrate import out_of_date
from .engine_calls import paths
from .startup import default_patch_size

if TYPE_CHECKING:
    from .layout import CalibrateUI, EnhanceUI, GroundTruthUI, Handlers, RoundTripUI

STATIC = Path(__file__).parent / "static"


def read_static(name: str) -> str:
    """A file of ``webui/static`` (the page's script and style)."""
    return (STATIC / name).read_text(encoding="utf-8")


def _thumbnails(files):
    found = paths(files)
    return gr.Gallery(value=found or None, visible=bool(found))


def _own_files(files, cal_state):
    """The visitor dropped calibration files: their thumbnails, the preset picker back to "your images",
    and the summary marked out of date (it describes the calibration still in use)."""
    return _thumbnails(files), "", out_of_date(cal_state)


def _files_removed(files, cal_state):
    """A calibration file deleted or all cleared: the thumbnails left, the summary marked out of date."""
    return _thumbnails(files), out_of_date(cal_state)


def _encoder_changed(encoder: str):
    """A visitor picked a latent space: its own patch size (unchanged if the name loads nothing)."""
    try:
        return default_patch_size((encoder or "").strip())
    except (EncoderUnavailableError, ValueError, ImportError):
        return gr.skip()


@dataclasses.dataclass(frozen=True)
class Page:
    """Every part of the page an action may change, and the session's two states."""

    c: CalibrateUI
    e: EnhanceUI
    g: GroundTruthUI
    rt: RoundTripUI
    suggest: tuple[gr.Button, gr.Button]
    cal_state: gr.State
    img_state: gr.State

    @property
    def outputs(self) -> list:
        """The components of :class:`webui.actions.PageUpdate`'s fields, in its order."""
        c, e, g, rt = self.c, self.e, self.g, self.rt
        by_name = dict(
            summary=c.summary, cal_state=self.cal_state, download=c.download, encoder=c.encoder,
            patch_size=c.patch_size, preset=c.preset, restored=c.restored, restored_thumbs=c.restored_thumbs,
            clean=c.clean, clean_thumbs=c.clean_thumbs, image=e.image, gt_file=e.gt_file, alpha=e.alpha,
            original=e.original, transported=e.transported, interpolated=e.interpolated,
            before_after=e.before_after, metrics=g.text, plot=g.plot, suggest_psnr=self.suggest[0],
            suggest_texture=self.suggest[1], roundtrip_view=rt.view, roundtrip_text=rt.text,
            img_state=self.img_state)
        return [by_name[name] for name in FIELDS]

    @property
    def settle(self) -> dict:
        """A step in the browser only (no request): α moved while an action ran is released again."""
        return dict(fn=None, inputs=[self.e.alpha, self.e.interpolated], outputs=None, js=read_static("settle.js"))


def wire_calibration(h: Handlers, p: Page, heavy) -> None:
    """Section 1's events: the files' thumbnails, Calibrate and a calibration file, each one request."""
    c = p.c
    for files, thumbs in ((c.restored, c.restored_thumbs), (c.clean, c.clean_thumbs)):
        # the visitor's own files: the preset picker says so; the summary, that it describes the old ones
        files.upload(_own_files, [files, p.cal_state], [thumbs, c.preset, c.summary], api_visibility="private",
                     show_progress="hidden")
        for changed in (files.delete, files.clear):
            changed(_files_removed, [files, p.cal_state], [thumbs, c.summary], api_visibility="private",
                    show_progress="hidden")
    # .input: only a visitor's pick resets p (a loaded calibration sets both, and keeps its p)
    c.encoder.input(_encoder_changed, c.encoder, c.patch_size, api_visibility="private", show_progress="hidden")
    shown = [p.e.image, p.e.alpha, p.e.gt_file, p.rt.show]  # what the new calibration re-transports and shows
    calibrated = heavy(
        c.button.click, h.actions.calibrate,
        [c.restored, c.clean, c.encoder, c.patch_size, c.mode, c.fold_kernel, c.preset, c.color_fix,
         c.restoration_lattice, c.noise, c.eps, p.cal_state, p.img_state, *shown],
        p.outputs, api_visibility="private", trigger_mode="once", show_progress_on=c.summary,  # a double click: one job
    )
    calibrated.success(**p.settle)
    loaded = heavy(c.upload.upload, h.actions.load_calibration,
                   [c.upload, c.fold_kernel, c.color_fix, c.noise, p.img_state, p.cal_state, *shown], p.outputs,
                   api_visibility="private", show_progress_on=c.summary)
    loaded.failure(None, None, c.upload, js="() => null")  # a refused file is not kept (in the browser)
    loaded.success(**p.settle)


def wire_enhance(h: Handlers, p: Page, heavy) -> None:
    """Sections 2 and 3: an upload, its ×, α moved and released, a ground truth, the suggestions."""
    e, g = p.e, p.g
    uploaded = heavy(e.image.upload, h.actions.upload_image, [e.image, e.alpha, p.cal_state, p.img_state, p.rt.show],
                     p.outputs, api_visibility="private", show_progress_on=[*e.panels, e.before_after])
    uploaded.failure(None, None, e.image, js="() => null")  # a refused file is not kept (in the browser)
    uploaded.success(**p.settle)
    # nothing of the upload comes back: its job still in flight is cancelled
    e.image.clear(h.actions.clear_image, None, p.outputs, api_visibility="private", cancels=[uploaded])
    e.alpha.input(h.enhance.blend, [e.alpha, p.img_state], e.interpolated, api_name="blend",
                  show_progress="hidden", trigger_mode="always_last", concurrency_limit=4,
                  concurrency_id="blend", js=read_static("blend.js"))
    e.alpha.release(h.ground_truth.on_release, [e.alpha, p.img_state],
                    [e.interpolated, e.before_after, g.text, g.plot], api_visibility="private",
                    show_progress="hidden", trigger_mode="always_last", concurrency_limit=2,
                    concurrency_id="release", js=read_static("release.js"))
    heavy(e.gt_file.upload, h.actions.ground_truth_upload, [e.gt_file, e.alpha, p.img_state], p.outputs,
          api_visibility="private", show_progress_on=g.plot)  # the hint legible
    e.gt_file.clear(h.actions.ground_truth_upload, [e.gt_file, e.alpha, p.img_state], p.outputs,
                    api_visibility="private", show_progress="hidden")
    for button, kind in zip(p.suggest, ("best_psnr", "lowest_distance")):
        button.click(lambda state, kind=kind: h.actions.suggest(kind, state), p.img_state, p.outputs,
                     api_visibility="private", show_progress="hidden")


def api_endpoints(h: Handlers, p: Page, heavy) -> None:
    """The named API of the page's steps for gradio_client (each Client is a session): the section
    handlers themselves, on buttons of their own (the page's actions return the whole page)."""
    c, e, g = p.c, p.e, p.g
    with gr.Column(visible=False):
        calibrate, download, load, ground_truth, enhance = (gr.Button() for _ in range(5))
    heavy(calibrate.click, h.calibration.calibrate,
          [c.restored, c.clean, c.encoder, c.patch_size, c.mode, c.fold_kernel, c.preset, c.color_fix,
           c.restoration_lattice, c.noise, c.eps, p.cal_state, p.img_state],
          [c.summary, p.cal_state, p.img_state], api_name="calibrate")
    download.click(h.calibration.download_calibration, p.cal_state, c.download, api_name="download_calibration")
    heavy(load.click, h.calibration.load_calibration_file,
          [c.upload, c.fold_kernel, c.color_fix, c.noise, p.img_state, p.cal_state],
          [c.summary, p.cal_state, p.img_state], api_name="load_calibration")
    heavy(ground_truth.click, h.ground_truth.compare_ground_truth, [e.gt_file, e.alpha, p.img_state],
          [g.text, g.plot, p.img_state], api_name="ground_truth")
    # /enhance: the same inputs as an upload, but no calibration is an error there (nothing is kept for later)
    heavy(enhance.click, h.enhance.enhance, [e.image, e.alpha, p.cal_state, p.img_state],
          [*e.panels, p.img_state], api_name="enhance")
