"""The page: its components, section by section, and the events that wire them to the handlers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import gradio as gr

from dot_core import EncoderUnavailableError
from dot_core import presets as bundled_presets

from .batch import BatchHandlers
from .batch_eval import HINT as BATCH_EVAL_HINT
from .batch_eval import BatchEvalHandlers
from .calibrate import CalibrationHandlers, calibration_controls, out_of_date, summary_with_image
from .controls import IntegerSlider
from .engine import paths
from .enhance import EnhanceHandlers
from .examples import ExampleHandlers, preset_choices
from .files import free_files
from .ground_truth import GT_HINT, TEXTURE_DISTANCE, GroundTruthHandlers
from .mcp_tools import ToolHandlers, only_agent_tools
from .queueing import HeavyJobs
from .roundtrip import HINT as ROUNDTRIP_HINT
from .roundtrip import RoundTripHandlers
from .services import Services
from .settings import (
    ALPHA_MAX,
    ALPHA_MIN,
    ALPHA_STEP,
    COLOR_FIX_AUTO,
    COLOR_FIX_CHOICES,
    DEFAULT_ALPHA,
    FOLD_AUTO,
    FOLD_CHOICES,
    IMAGE_TYPES,
    LATTICE_AUTO,
    MODE_AUTO,
    MODE_CHOICES,
    NOISE_CHOICES,
    NOISE_DEFAULT,
    PATCH_SIZE_MAX,
    PATCH_SIZE_MIN,
    RESTORATION_LATTICE_CHOICES,
    Settings,
)
from .startup import Startup, default_patch_size
from .suggest import suggested_alpha, suggestion_buttons

STATIC = Path(__file__).parent / "static"
ALPHA_LABEL = "α (1 = original restoration · 0 = fully transported)"  # beyond: ALPHA_INFO
ALPHA_INFO = "x̂α = α·x* + (1 − α)·x̂0 (eq. 4 of the paper); the slider reaches past [0, 1]."
INTRO = """
# Deep Optimal Transport: perceptual enhancement of restored images
Make a restoration model's outputs look like natural images without retraining it: DOT matches the
statistics of latent patches of your restored images to those of clean images by a closed-form optimal
transport map ([Adrai et al., NeurIPS 2023](https://arxiv.org/abs/2306.02342)). Give it your model's outputs
and their clean originals — or, if you have none, clean photos of the same kind. Then slide **α** between
the original restoration (α = 1, least distortion) and the fully transported image (α = 0, most
realistic), or beyond.
"""


def read_static(name: str) -> str:
    """A file of ``webui/static`` (the page's script and style)."""
    return (STATIC / name).read_text(encoding="utf-8")


def launch_options(settings: Settings) -> dict:
    """Keyword arguments for ``demo.launch`` (Gradio 6 takes css there, not in Blocks)."""
    return dict(css=read_static("style.css"), js=read_static("page.js"), max_file_size=settings.max_file_size,
                state_session_capacity=1000)


def _thumbnails(files):
    found = paths(files)
    return gr.Gallery(value=found or None, visible=bool(found))


def _encoder_changed(encoder: str):
    """A visitor picked a latent space: its own patch size (unchanged if the name loads nothing)."""
    try:
        return default_patch_size((encoder or "").strip())
    except (EncoderUnavailableError, ValueError, ImportError):
        return gr.skip()


def _clear_image():
    return None, None, None, None, None, None, GT_HINT, None


@dataclasses.dataclass(frozen=True)
class Handlers:
    """Every handler of the page, sharing one settings object and one image store."""

    calibration: CalibrationHandlers
    enhance: EnhanceHandlers
    ground_truth: GroundTruthHandlers
    examples: ExampleHandlers

    @classmethod
    def create(cls, services: Services, presets: ModuleType) -> "Handlers":
        settings, images = services.settings, services.images
        calibration = CalibrationHandlers(settings, images, presets)
        enhance, ground_truth = EnhanceHandlers(settings, images), GroundTruthHandlers(settings, images)
        return cls(calibration, enhance, ground_truth, ExampleHandlers(calibration, enhance, ground_truth))


@dataclasses.dataclass(frozen=True)
class CalibrateUI:
    """Section 1: calibration images or a preset, advanced settings, the calibration file."""

    restored: gr.File
    restored_thumbs: gr.Gallery
    clean: gr.File
    clean_thumbs: gr.Gallery
    preset: gr.Dropdown
    button: gr.Button
    summary: gr.Markdown
    encoder: gr.Dropdown
    patch_size: gr.Slider
    mode: gr.Radio
    fold_kernel: gr.Radio
    color_fix: gr.Radio
    restoration_lattice: gr.Radio
    noise: gr.Radio
    eps: gr.Textbox
    download: gr.File
    upload: gr.File


@dataclasses.dataclass(frozen=True)
class EnhanceUI:
    """Section 2: the image to enhance and its ground truth, α, the three panels, before/after."""

    image: gr.File
    gt_file: gr.File
    alpha: gr.Slider
    original: gr.Image
    transported: gr.Image
    interpolated: gr.Image
    before_after: gr.ImageSlider

    @property
    def panels(self) -> list[gr.Image]:
        return [self.original, self.transported, self.interpolated]


@dataclasses.dataclass(frozen=True)
class GroundTruthUI:
    """Section 3: metrics at α and the perception–distortion plot."""

    text: gr.Markdown
    plot: gr.Plot


def _calibrate_ui(startup: Startup, presets: ModuleType) -> CalibrateUI:
    gr.Markdown("## 1 · Calibrate")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            restored = gr.File(label="Restored images (your model's outputs, about 10)", height=150,
                               file_count="multiple", file_types=IMAGE_TYPES, elem_id="dot-restored")
            restored_thumbs = gr.Gallery(show_label=False, columns=6, height=110, allow_preview=False,
                                         object_fit="cover", elem_classes="dot-thumbs", visible=False)
        with gr.Column(min_width=280):
            clean = gr.File(label="Clean images (their originals, same names; or clean photos of the same kind)",
                            height=150,
                            file_count="multiple", file_types=IMAGE_TYPES, elem_id="dot-clean")
            clean_thumbs = gr.Gallery(show_label=False, columns=6, height=110, allow_preview=False,
                                      object_fit="cover", elem_classes="dot-thumbs", visible=False)
    with gr.Row(equal_height=True):
        preset = gr.Dropdown([("your images above", ""), *preset_choices(presets)], value="", scale=2,
                             label="…or a ready calibration (preset)",
                             elem_id="dot-preset")
        button = gr.Button("Calibrate", variant="primary", scale=1, elem_id="dot-calibrate")
    summary = gr.Markdown("No calibration yet.", label="calibration summary", elem_id="dot-summary")
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            encoder = gr.Dropdown(startup.choices, value=startup.encoder, allow_custom_value=True,
                                  label="Latent space (encoder)",
                                  info="or a Hugging Face repo id / local folder holding a diffusers VAE")
            patch_size = IntegerSlider(PATCH_SIZE_MIN, PATCH_SIZE_MAX, step=1,
                                       value=default_patch_size(startup.encoder),
                                       label="Patch size p (latent pixels)", info="d = C·p² per patch")
            # a text box: blank means the latent's own (a blank number box would send 0)
            eps = gr.Textbox("", label="Regularisation ε (blank: the latent's own)", max_lines=1,
                             info="added to Σs's diagonal, relative to its mean eigenvalue, a number ≥ 0: larger is "
                             "gentler, smaller transports more (detail's own: 0.3; presets have theirs)",
                             elem_id="dot-eps")
        with gr.Row():
            mode = gr.Radio(list(MODE_CHOICES), value=MODE_AUTO, label="Mode",
                            info="auto: paired when every restored image has its clean original of the same size "
                            "(same file name; case and tags such as _sr, _x4, _restored ignored), else unpaired; "
                            "zero-shot: source statistics from each image itself", elem_id="dot-mode")
            fold_kernel = gr.Radio(list(FOLD_CHOICES), value=FOLD_AUTO, label="Fold kernel",
                                   info="weights of overlapping patches when folding back; auto: the "
                                   "latent's own (gaussian for detail, the paper's uniform otherwise)")
            color_fix = gr.Radio(list(COLOR_FIX_CHOICES), value=COLOR_FIX_AUTO, label="Colour fix",
                                 info="keep the restoration's colours: wavelet (its low frequencies), adain "
                                 "(its channel statistics), none (the paper's method); auto: wavelet for learned "
                                 "latents, none for detail and pixel")
            restoration_lattice = gr.Radio(list(RESTORATION_LATTICE_CHOICES), value=LATTICE_AUTO,
                                           label="Restorer's grid (px)",
                                           info="a ×p upscaler prints a p-pixel grid: the restoration's content is "
                                           "then kept on its frequencies, so transport cannot grow it. auto: found "
                                           "in your restored images; none: off. Presets state their own.",
                                           elem_id="dot-restorer-grid")
            noise = gr.Radio(list(NOISE_CHOICES), value=NOISE_DEFAULT, label="Synthesised grain",
                             info="the detail a restoration lacks entirely is synthesised (eq. 5): stationary, "
                             "the paper's, the same grain everywhere; local, scaled by the image's own detail, so "
                             "flat sky stays flat", elem_id="dot-noise")
    with gr.Row():
        # shown once there is a calibration (an empty box before that says nothing)
        download = gr.File(label="Download this calibration (.safetensors)", interactive=False, visible=False,
                           elem_id="dot-cal-download")
        upload = gr.File(label="Reuse a calibration (.safetensors)", file_types=[".safetensors"],
                         height=140, elem_id="dot-cal-upload")
    return CalibrateUI(restored, restored_thumbs, clean, clean_thumbs, preset, button, summary, encoder,
                       patch_size, mode, fold_kernel, color_fix, restoration_lattice, noise, eps, download, upload)


def _enhance_ui() -> EnhanceUI:
    gr.Markdown("## 2 · Enhance")
    with gr.Row():
        image = gr.File(label="Restored image to enhance", file_types=IMAGE_TYPES, elem_id="dot-image", height=140)
        gt_file = gr.File(label="Its ground truth (optional: metrics and the P–D curve)", height=140,
                          file_types=IMAGE_TYPES, elem_id="dot-gt")
    # usable once there is an image to blend (layout enables it when the original panel has one)
    alpha = gr.Slider(ALPHA_MIN, ALPHA_MAX, value=DEFAULT_ALPHA, step=ALPHA_STEP, label=ALPHA_LABEL,
                      info=ALPHA_INFO, elem_id="dot-alpha", interactive=False)
    with gr.Row(equal_height=True, elem_id="dot-panels"):
        panel = dict(format="png", interactive=False, height=300, elem_classes="dot-panel",
                     buttons=["download", "fullscreen"])
        original = gr.Image(label="Original x* (α = 1)", elem_id="dot-original", **panel)
        transported = gr.Image(label="Transported x̂0 (α = 0)", elem_id="dot-transported", **panel)
        interpolated = gr.Image(label="Interpolated x̂α (current α)", elem_id="dot-interpolated", **panel)
    before_after = gr.ImageSlider(label="Before (restoration) / after (current α)", format="png",
                                  max_height=440, elem_id="dot-before-after")
    return EnhanceUI(image, gt_file, alpha, original, transported, interpolated, before_after)


def _ground_truth_ui() -> GroundTruthUI:
    gr.Markdown("## 3 · Ground truth")
    gr.Markdown(TEXTURE_DISTANCE, elem_id="dot-texture-help")
    text = gr.Markdown(GT_HINT, label="metrics", elem_id="dot-metrics")
    plot = gr.Plot(label="Perception–distortion over α ∈ [−1, 2]", show_label=False, format="png",
                   elem_id="dot-plot")
    return GroundTruthUI(text, plot)


def _roundtrip_ui(rt: RoundTripHandlers, e: EnhanceUI, img_state: gr.State, heavy) -> None:
    """Section 2's toggle: the upload next to its round trip D(E(x)), with their PSNR."""
    show = gr.Checkbox(False, label="Show what the latent alone costs: D(E(x)) and its PSNR", container=False,
                       elem_id="dot-roundtrip-toggle")
    with gr.Column(visible=False) as shown:  # nothing but the checkbox until asked (a short phone page)
        text = gr.Markdown(ROUNDTRIP_HINT, label="round-trip PSNR", elem_id="dot-roundtrip-text")
        view = gr.ImageSlider(label="Upload / its round trip D(E(x))", format="png", max_height=440,
                              elem_id="dot-roundtrip")
    show.change(lambda on: gr.Column(visible=on), show, shown, api_visibility="private", show_progress="hidden")
    heavy(show.input, rt.show_roundtrip, [show, img_state], [view, text], api_name="roundtrip")
    # a new upload or calibration with the toggle on: a full encode/decode, admitted like every heavy job
    heavy(e.original.change, rt.follow, [show, img_state], [view, text], api_visibility="private",
          show_progress="hidden")


def _suggest_ui(e: EnhanceUI, g: GroundTruthUI, img_state: gr.State, on_release) -> None:
    """Section 3's α suggestion: with a ground truth, one click sets α to the curve's best PSNR or texture."""
    with gr.Row(equal_height=True):  # side by side, also on a phone
        best = gr.Button(visible=False, size="sm", min_width=120, elem_id="dot-suggest-psnr")
        realistic = gr.Button(visible=False, size="sm", min_width=120, elem_id="dot-suggest-texture")
    g.plot.change(suggestion_buttons, img_state, [best, realistic], api_visibility="private", show_progress="hidden")
    for button, kind in ((best, "best_psnr"), (realistic, "lowest_distance")):
        button.click(lambda state, kind=kind: suggested_alpha(kind, state), img_state, e.alpha,
                     api_visibility="private", show_progress="hidden").success(
            on_release, [e.alpha, img_state], [e.interpolated, e.before_after, g.text, g.plot],
            api_visibility="private", show_progress="hidden")


def _batch_ui(batch: BatchHandlers, cal_state: gr.State, heavy) -> None:
    """Batch: several restored images at several α, one zip of PNGs named as the CLI names them."""
    with gr.Accordion("Batch: enhance several images at once (a zip of PNGs)", open=False, elem_id="dot-batch"):
        with gr.Row(equal_height=False):
            files = gr.File(label="Restored images to enhance", file_count="multiple", file_types=IMAGE_TYPES,
                            height=140, elem_id="dot-batch-files")
            with gr.Column():
                alphas = gr.Textbox("0, 0.5, 1", label="α values", elem_id="dot-batch-alphas",
                                    info="separated by commas, each in [−1, 2]; files are named <name>_alpha<α>.png")
                run = gr.Button("Enhance all", variant="primary", elem_id="dot-batch-run")
            truths = gr.File(label="Ground truths (optional, same file names)", file_count="multiple",
                             file_types=IMAGE_TYPES, height=140, elem_id="dot-batch-truths")
        archive = gr.File(label="Enhanced PNGs (.zip)", interactive=False, height=90, elem_id="dot-batch-zip")
        report = gr.Markdown(label="batch report", elem_id="dot-batch-report")
        table, pd_plot, table_csv = _batch_eval_outputs()
    done = heavy(run.click, batch.enhance_batch, [files, alphas, cal_state], [archive, report], api_name="enhance_batch",
                 trigger_mode="once")  # a double click: one batch
    heavy(done.success, BatchEvalHandlers(batch.settings).evaluate_batch, [files, truths, alphas, cal_state],
          [table, pd_plot, table_csv], api_name="evaluate_batch")


def _batch_eval_outputs():
    """With ground truths: the set's perception–distortion table, its plot and its CSV (webui.batch_eval)."""
    table = gr.Markdown(BATCH_EVAL_HINT, label="set perception–distortion table", elem_id="dot-batch-table")
    with gr.Row(equal_height=False):
        pd_plot = gr.Image(label="Perception–distortion of the set", type="filepath", interactive=False,
                           elem_id="dot-batch-plot")
        table_csv = gr.File(label="metrics.csv (one row per image and α)", interactive=False, height=90,
                            elem_id="dot-batch-csv")
    return table, pd_plot, table_csv


def _agent_tools(tools: ToolHandlers, startup: Startup, heavy) -> None:
    """Endpoints for agents (MCP tools ``dot_calibrate``, ``dot_enhance``, ``dot_blend``): no session,
    so hidden components that take no place on the page."""
    with gr.Column(visible=False):
        # elem_id "dot-agent-*": inputs of the API only (a refusal at admission goes back to the caller)
        restored, clean = gr.File(elem_id="dot-agent-restored"), gr.File()  # each a .zip of images (or one)
        encoder, mode, preset = gr.Textbox(startup.encoder), gr.Textbox(MODE_AUTO), gr.Textbox("")
        patch_size, alpha = gr.Number(default_patch_size(startup.encoder), precision=0), gr.Number(DEFAULT_ALPHA)
        image, calibration, transported = gr.File(elem_id="dot-agent-image"), gr.File(), gr.File()
        summary, calibration_out = gr.Markdown(label="summary"), gr.File(label="calibration")
        result, transported_out = gr.Image(format="png", label="result"), gr.Image(format="png", label="transported")
        run = [gr.Button() for _ in range(3)]
    heavy(run[0].click, tools.dot_calibrate, [restored, clean, encoder, patch_size, mode, preset],
          [summary, calibration_out], api_name="dot_calibrate")
    heavy(run[1].click, tools.dot_enhance, [image, calibration, alpha], [result, transported_out],
          api_name="dot_enhance")
    run[2].click(tools.dot_blend, [image, transported, alpha], result, api_name="dot_blend", concurrency_limit=4,
                 concurrency_id="blend")


def build_demo(startup: Startup, services: Services, *, presets: ModuleType = bundled_presets) -> gr.Blocks:
    """The whole page on ``startup``'s latent space, its handlers sharing ``services``.

    ``presets``: the catalogue of ready calibrations and examples (``list_presets``, ``get_preset``,
    ``load_preset``).
    """
    h = Handlers.create(services, presets)
    heavy = HeavyJobs(services.admission, trust_forwarded=services.settings.trust_forwarded).wire
    examples = h.examples.items()
    ttl = services.settings.session_ttl
    with gr.Blocks(title="DOT · latent optimal transport", delete_cache=(1800, ttl)) as demo:
        # freed session_ttl after their last update, or an hour after the tab closes; files too
        cal_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        img_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        gr.Markdown(INTRO)
        gr.Markdown(startup.notice, elem_id="dot-notice")
        if examples:
            gallery = gr.Gallery(
                value=[(r, caption) for _, r, _, caption in examples], label="Examples: one click to try",
                columns=len(examples), height=215, allow_preview=False, object_fit="cover", format="png",
                elem_id="dot-examples", interactive=False, buttons=[],  # a picker: nothing to add or delete
            )
        c, e = _calibrate_ui(startup, presets), _enhance_ui()
        _roundtrip_ui(RoundTripHandlers(services.settings), e, img_state, heavy)
        g = _ground_truth_ui()
        _suggest_ui(e, g, img_state, h.ground_truth.on_release)

        # ---- events: calibration
        c.restored.change(_thumbnails, c.restored, c.restored_thumbs, api_visibility="private",
                          show_progress="hidden")
        c.clean.change(_thumbnails, c.clean, c.clean_thumbs, api_visibility="private", show_progress="hidden")
        for files in (c.restored, c.clean):  # the visitor's own files: the preset picker says so
            files.upload(lambda cal: ("", out_of_date(cal)), cal_state, [c.preset, c.summary],
                         api_visibility="private", show_progress="hidden")
            for changed in (files.delete, files.clear):  # the summary says it no longer describes them
                changed(out_of_date, cal_state, c.summary, api_visibility="private", show_progress="hidden")
        # .input: only a visitor's pick resets p (a loaded calibration sets both, and keeps its p)
        c.encoder.input(_encoder_changed, c.encoder, c.patch_size, api_visibility="private", show_progress="hidden")
        # the kept upload, transported again; or an upload that was waiting for a calibration
        refresh = dict(fn=h.enhance.after_calibration, inputs=[e.image, e.alpha, cal_state, img_state],
                       outputs=[*e.panels, img_state], api_visibility="private")
        shown = dict(fn=lambda: gr.File(visible=True), inputs=None, outputs=c.download, api_visibility="private",
                     show_progress="hidden")
        controls = dict(fn=calibration_controls, inputs=cal_state, outputs=[c.encoder, c.patch_size],
                        api_visibility="private", show_progress="hidden")
        # the summary, with how far the transport got on the image now shown
        reached = dict(fn=summary_with_image, inputs=[cal_state, img_state], outputs=c.summary,
                       api_visibility="private", show_progress="hidden")
        after = dict(fn=h.ground_truth.after_image, inputs=[e.gt_file, e.alpha, img_state],
                     outputs=[e.before_after, g.text, g.plot, img_state], api_visibility="private",
                     show_progress_on=[e.before_after, g.plot])  # not over the metrics' text
        # then α as it is now (the visitor may have moved it while the curve was computed)
        settle = dict(fn=h.ground_truth.on_release, inputs=[e.alpha, img_state],
                      outputs=[e.interpolated, e.before_after, g.text, g.plot], api_visibility="private",
                      show_progress="hidden", concurrency_limit=2, concurrency_id="release")  # queued with releases
        heavy(
            c.button.click, h.calibration.calibrate,
            [c.restored, c.clean, c.encoder, c.patch_size, c.mode, c.fold_kernel, c.preset, c.color_fix,
             c.restoration_lattice, c.noise, c.eps, cal_state, img_state],
            [c.summary, cal_state, img_state], api_name="calibrate", trigger_mode="once",  # a double click: one job
        ).success(h.calibration.download_calibration, cal_state, c.download, api_name="download_calibration").success(
            **shown).success(**controls).success(**refresh).success(**reached).success(**after).success(**settle)
        loaded = heavy(
            c.upload.upload, h.calibration.load_calibration_file,
            [c.upload, c.fold_kernel, c.color_fix, c.noise, img_state, cal_state],
            [c.summary, cal_state, img_state], api_name="load_calibration",
        )
        loaded.failure(lambda: None, None, c.upload, api_visibility="private", show_progress="hidden")  # not kept
        loaded.success(h.calibration.download_calibration, cal_state, c.download, api_visibility="private").success(
            **shown).success(**controls).success(**refresh).success(**reached).success(**after).success(**settle)

        # ---- events: enhance, α, ground truth
        # a new upload drops the previous image's ground truth (it would be compared silently)
        uploaded = heavy(e.image.upload, h.enhance.enhance_upload, [e.image, e.alpha, cal_state, img_state],
                         [*e.panels, img_state], api_visibility="private")
        uploaded.failure(lambda: None, None, e.image, api_visibility="private", show_progress="hidden")  # not kept
        curve = uploaded.success(lambda: None, None, e.gt_file, api_visibility="private").success(
            **reached).success(**after)  # after_image hands img_state back: a × meanwhile must cancel it
        curve.success(**settle)
        # the API's /enhance: the same inputs, but no calibration is an error there (nothing is kept for later)
        api_enhance = gr.Button(visible=False)
        heavy(api_enhance.click, h.enhance.enhance, [e.image, e.alpha, cal_state, img_state], [*e.panels, img_state],
              api_name="enhance")
        e.image.clear(_clear_image, None, [*e.panels, e.before_after, img_state, e.gt_file, g.text, g.plot],
                      api_visibility="private", cancels=[uploaded, curve])  # nothing of the upload comes back
        e.alpha.input(h.enhance.blend, [e.alpha, img_state], e.interpolated, api_name="blend",
                      show_progress="hidden", trigger_mode="always_last", concurrency_limit=4,
                      concurrency_id="blend", js=read_static("blend.js"))
        e.alpha.release(h.ground_truth.on_release, [e.alpha, img_state],
                        [e.interpolated, e.before_after, g.text, g.plot], api_visibility="private",
                        show_progress="hidden", trigger_mode="always_last", concurrency_limit=2,
                        concurrency_id="release", js=read_static("release.js"))
        e.original.change(lambda x: gr.Slider(interactive=x is not None), e.original, e.alpha,
                          api_visibility="private", show_progress="hidden")
        heavy(e.gt_file.upload, h.ground_truth.compare_ground_truth, [e.gt_file, e.alpha, img_state],
              [g.text, g.plot, img_state], api_name="ground_truth", show_progress_on=g.plot)  # the hint legible
        e.gt_file.clear(h.ground_truth.compare_ground_truth, [e.gt_file, e.alpha, img_state],
                        [g.text, g.plot, img_state], api_visibility="private")
        if examples:
            heavy(
                gallery.select, h.examples.select,
                [gallery, c.encoder, c.fold_kernel, c.color_fix, c.noise, cal_state, img_state],
                [c.summary, cal_state, c.download, c.encoder, c.patch_size, c.preset, c.restored, c.clean, e.image,
                 e.gt_file, e.alpha,
                 *e.panels, e.before_after, g.text, g.plot, img_state],
                api_visibility="private", trigger_mode="once",
            )
        _batch_ui(BatchHandlers(services.settings), cal_state, heavy)
        _agent_tools(ToolHandlers(h.calibration, h.enhance), startup, heavy)
    demo.queue(max_size=64, default_concurrency_limit=2)
    only_agent_tools(demo)  # the page's endpoints need a browser session: not MCP tools
    return demo
