"""The page: its components, section by section, and the events that wire them to the handlers."""

from __future__ import annotations

import dataclasses
from types import ModuleType

import gradio as gr

from dot_core import presets as bundled_presets

from .actions import BatchAction, PageActions
from .batch import BatchHandlers
from .batch_eval import HINT as BATCH_EVAL_HINT
from .batch_eval import BatchEvalHandlers
from .blends import BlendFiles
from .calibrate import CalibrationHandlers
from .controls import IntegerSlider
from .enhance import EnhanceHandlers
from .events import Page, api_endpoints, read_static, wire_calibration, wire_enhance
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


def launch_options(settings: Settings) -> dict:
    """Keyword arguments for ``demo.launch`` (Gradio 6 takes css there, not in Blocks)."""
    return dict(css=read_static("style.css"), js=read_static("page.js"), max_file_size=settings.max_file_size,
                state_session_capacity=1000)


@dataclasses.dataclass(frozen=True)
class Handlers:
    """Every handler of the page, sharing one settings object and one image store."""

    calibration: CalibrationHandlers
    enhance: EnhanceHandlers
    ground_truth: GroundTruthHandlers
    actions: PageActions  # the visitor's actions that change several sections, each one handler

    @classmethod
    def create(cls, services: Services, presets: ModuleType) -> "Handlers":
        settings, images = services.settings, services.images
        blends = BlendFiles(settings.keep_blends)  # one x̂α per upload, for the slider's input and release
        calibration = CalibrationHandlers(settings, images, presets)
        enhance, ground_truth = EnhanceHandlers(settings, images, blends), GroundTruthHandlers(settings, images, blends)
        examples = ExampleHandlers(calibration, enhance, ground_truth)
        actions = PageActions(calibration, enhance, ground_truth, examples, RoundTripHandlers(settings))
        return cls(calibration, enhance, ground_truth, actions)


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


def _advanced_calibrate_ui(startup: Startup) -> tuple:
    """Section 1's "Advanced" controls: (encoder, patch size, ε, mode, fold kernel, colour fix, restorer's grid,
    synthesised grain)."""
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
    return encoder, patch_size, eps, mode, fold_kernel, color_fix, restoration_lattice, noise


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
    encoder, patch_size, eps, mode, fold_kernel, color_fix, restoration_lattice, noise = _advanced_calibrate_ui(startup)
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
    # usable once there is an image to blend (each action that shows one enables it: webui.actions)
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


@dataclasses.dataclass(frozen=True)
class RoundTripUI:
    """Section 2's toggle and what it shows: the upload next to its round trip D(E(x)), their PSNR."""

    show: gr.Checkbox
    view: gr.ImageSlider
    text: gr.Markdown


def _roundtrip_ui(rt: RoundTripHandlers, img_state: gr.State, heavy) -> RoundTripUI:
    show = gr.Checkbox(False, label="Show what the latent alone costs: D(E(x)) and its PSNR", container=False,
                       elem_id="dot-roundtrip-toggle")
    with gr.Column(visible=False) as shown:  # nothing but the checkbox until asked (a short phone page)
        text = gr.Markdown(ROUNDTRIP_HINT, label="round-trip PSNR", elem_id="dot-roundtrip-text")
        view = gr.ImageSlider(label="Upload / its round trip D(E(x))", format="png", max_height=440,
                              elem_id="dot-roundtrip")
    with gr.Column(visible=False):  # the API's /roundtrip (gradio_client): a button of its own
        api_roundtrip = gr.Button()
    heavy(api_roundtrip.click, rt.show_roundtrip, [show, img_state], [view, text], api_name="roundtrip")
    heavy(show.input, rt.toggle, [show, img_state], [shown, view, text], api_visibility="private",
          show_progress_on=view)
    # a new upload or calibration with the toggle on: the action's own handler follows (webui.actions)
    return RoundTripUI(show, view, text)


def _suggest_ui() -> tuple[gr.Button, gr.Button]:
    """Section 3's α suggestion: with a ground truth, one click sets α to the curve's best PSNR or texture."""
    with gr.Row(equal_height=True):  # side by side, also on a phone
        best = gr.Button(visible=False, size="sm", min_width=120, elem_id="dot-suggest-psnr")
        realistic = gr.Button(visible=False, size="sm", min_width=120, elem_id="dot-suggest-texture")
    return best, realistic


def _examples_gallery(examples) -> gr.Gallery:
    """One-click examples: a preset's calibration, its restored photo and ground truth (one request)."""
    return gr.Gallery(
        value=[(r, caption) for _, r, _, caption in examples], label="Examples: one click to try",
        columns=len(examples), height=215, allow_preview=False, object_fit="cover", format="png",
        elem_id="dot-examples", interactive=False, buttons=[],  # a picker: nothing to add or delete
    )


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
    evaluation = BatchEvalHandlers(batch.settings)
    with gr.Column(visible=False):  # the API's two steps (gradio_client), each a button of its own
        api_enhance, api_evaluate = gr.Button(), gr.Button()
    heavy(api_enhance.click, batch.enhance_batch, [files, alphas, cal_state], [archive, report],
          api_name="enhance_batch")
    heavy(api_evaluate.click, evaluation.evaluate_batch, [files, truths, alphas, cal_state],
          [table, pd_plot, table_csv], api_name="evaluate_batch")
    heavy(run.click, BatchAction(batch, evaluation).enhance_all, [files, truths, alphas, cal_state],
          [archive, report, table, pd_plot, table_csv], api_visibility="private",
          trigger_mode="once")  # a double click: one batch


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
    examples = h.actions.examples.items()
    ttl = services.settings.session_ttl
    with gr.Blocks(title="DOT · latent optimal transport", delete_cache=(1800, ttl)) as demo:
        # freed session_ttl after their last update, or an hour after the tab closes; files too
        cal_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        img_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        gr.Markdown(INTRO)
        gr.Markdown(startup.notice, elem_id="dot-notice")
        gallery = _examples_gallery(examples) if examples else None
        c, e = _calibrate_ui(startup, presets), _enhance_ui()
        rt = _roundtrip_ui(RoundTripHandlers(services.settings), img_state, heavy)
        g = _ground_truth_ui()
        p = Page(c, e, g, rt, _suggest_ui(), cal_state, img_state)
        api_endpoints(h, p, heavy)  # first: the API's names (/calibrate ...) are theirs, not the page's events'
        wire_calibration(h, p, heavy)
        wire_enhance(h, p, heavy)
        if gallery is not None:
            heavy(gallery.select, h.actions.example,
                  [gallery, c.encoder, c.fold_kernel, c.color_fix, c.noise, cal_state, img_state, rt.show], p.outputs,
                  api_visibility="private", trigger_mode="once", show_progress_on=[c.summary, *e.panels, g.plot])
        _batch_ui(BatchHandlers(services.settings), cal_state, heavy)
        _agent_tools(ToolHandlers(h.calibration, h.enhance), startup, heavy)
    demo.queue(max_size=64, default_concurrency_limit=2)
    only_agent_tools(demo)  # the page's endpoints need a browser session: not MCP tools
    return demo
