"""The page: its components, section by section, and the events that wire them to the handlers."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import gradio as gr

from dot_core import MODES, EncoderUnavailableError
from dot_core import presets as bundled_presets

from .calibrate import CalibrationHandlers, calibration_controls
from .engine import paths
from .enhance import EnhanceHandlers
from .examples import ExampleHandlers, preset_choices
from .files import free_files
from .ground_truth import GT_HINT, GroundTruthHandlers
from .queueing import HeavyJobs
from .services import Services
from .settings import (
    ALPHA_MAX,
    ALPHA_MIN,
    ALPHA_STEP,
    DEFAULT_ALPHA,
    FOLD_AUTO,
    FOLD_CHOICES,
    IMAGE_TYPES,
    Settings,
)
from .startup import Startup, default_patch_size

STATIC = Path(__file__).parent / "static"
ALPHA_LABEL = "α — 1 = original restoration · 0 = fully transported · beyond = extrapolation"
ALPHA_INFO = "x̂α = α·x* + (1 − α)·x̂0 (eq. 4 of the paper); the slider reaches past [0, 1]."
INTRO = """
# Deep Optimal Transport: perceptual enhancement of restored images
Make a restoration model's outputs look like natural images without retraining it: DOT matches the
statistics of latent patches of your restored images to those of clean images by a closed-form optimal
transport map ([Adrai et al., NeurIPS 2023](https://arxiv.org/abs/2306.02342)). Then slide **α** between
the original restoration (α = 1, least distortion) and the fully transported image (α = 0, most
realistic), or beyond.
"""


def read_static(name: str) -> str:
    """A file of ``webui/static`` (the page's script and style)."""
    return (STATIC / name).read_text(encoding="utf-8")


def launch_options(settings: Settings) -> dict:
    """Keyword arguments for ``demo.launch`` (Gradio 6 takes css there, not in Blocks)."""
    return dict(css=read_static("style.css"), max_file_size=settings.max_file_size, state_session_capacity=1000)


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


def build_demo(startup: Startup, services: Services, *, presets: ModuleType = bundled_presets) -> gr.Blocks:
    """The whole page on ``startup``'s latent space, its handlers sharing ``services``.

    ``presets``: the catalogue of ready calibrations and examples (``list_presets``, ``get_preset``,
    ``load_preset``).
    """
    settings = services.settings
    cal_h = CalibrationHandlers(settings, services.images, presets)
    enh_h = EnhanceHandlers(settings, services.images)
    gt_h = GroundTruthHandlers(settings, services.images)
    ex_h = ExampleHandlers(cal_h, enh_h, gt_h)
    heavy = HeavyJobs(services.admission, trust_forwarded=settings.trust_forwarded).wire
    examples = ex_h.items()
    ttl = settings.session_ttl
    with gr.Blocks(title="DOT · latent optimal transport", delete_cache=(1800, ttl)) as demo:
        # freed session_ttl after their last update, or an hour after the tab closes; files too
        cal_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        img_state = gr.State(None, time_to_live=ttl, delete_callback=free_files)
        gr.Markdown(INTRO)
        gr.Markdown(startup.notice, elem_id="dot-notice")
        if examples:
            example_gallery = gr.Gallery(
                value=[(r, caption) for _, r, _, caption in examples], label="Examples: one click to try",
                columns=len(examples), height=215, allow_preview=False, object_fit="cover", format="png",
                elem_id="dot-examples",
            )

        gr.Markdown("## 1 · Calibrate")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=280):
                restored = gr.File(label="Restored images (your model's outputs, about 10)",
                                   file_count="multiple", file_types=IMAGE_TYPES, elem_id="dot-restored")
                restored_thumbs = gr.Gallery(show_label=False, columns=6, height=110, allow_preview=False,
                                             object_fit="cover", elem_classes="dot-thumbs", visible=False)
            with gr.Column(min_width=280):
                clean = gr.File(label="Clean images (natural photos of the same kind, about 10)",
                                file_count="multiple", file_types=IMAGE_TYPES, elem_id="dot-clean")
                clean_thumbs = gr.Gallery(show_label=False, columns=6, height=110, allow_preview=False,
                                          object_fit="cover", elem_classes="dot-thumbs", visible=False)
        with gr.Row(equal_height=True):
            preset = gr.Dropdown([("your images above", ""), *preset_choices(cal_h.presets)], value="", scale=2,
                                 label="…or a ready calibration for a weight-free restorer (preset)")
            calibrate_btn = gr.Button("Calibrate", variant="primary", scale=1, elem_id="dot-calibrate")
        summary = gr.Markdown("No calibration yet.", elem_id="dot-summary")
        with gr.Accordion("Advanced", open=False):
            with gr.Row():
                encoder = gr.Dropdown(startup.choices, value=startup.encoder, allow_custom_value=True,
                                      label="Latent space (encoder)",
                                      info="or a Hugging Face repo id / local folder holding a diffusers VAE")
                patch_size = gr.Slider(1, 16, step=1, value=default_patch_size(startup.encoder),
                                       label="Patch size p (latent pixels)", info="d = C·p² per patch")
            with gr.Row():
                mode = gr.Radio(list(MODES), value="unpaired", label="Mode",
                                info="paired: restored[i] restores clean[i] (matched by file name order); "
                                "zero-shot: source statistics from each image itself")
                fold_kernel = gr.Radio(list(FOLD_CHOICES), value=FOLD_AUTO, label="Fold kernel",
                                       info="weights of overlapping patches when folding back; auto: the "
                                       "latent's own (gaussian for detail, the paper's uniform otherwise)")
        with gr.Row():
            cal_download = gr.File(label="Download this calibration (.safetensors)", interactive=False)
            cal_upload = gr.File(label="Reuse a calibration (.safetensors)", file_types=[".safetensors"],
                                 height=140, elem_id="dot-cal-upload")

        gr.Markdown("## 2 · Enhance")
        with gr.Row():
            image = gr.File(label="Restored image to enhance", file_types=IMAGE_TYPES, elem_id="dot-image")
            gt_file = gr.File(label="Its ground truth (optional: metrics and the P–D curve)",
                              file_types=IMAGE_TYPES, elem_id="dot-gt")
        alpha = gr.Slider(ALPHA_MIN, ALPHA_MAX, value=DEFAULT_ALPHA, step=ALPHA_STEP, label=ALPHA_LABEL,
                          info=ALPHA_INFO, elem_id="dot-alpha")
        with gr.Row(equal_height=True, elem_id="dot-panels"):
            panel = dict(format="png", interactive=False, height=300, elem_classes="dot-panel",
                         buttons=["download", "fullscreen"])
            original = gr.Image(label="Original x* (α = 1)", elem_id="dot-original", **panel)
            transported = gr.Image(label="Transported x̂0 (α = 0)", elem_id="dot-transported", **panel)
            interpolated = gr.Image(label="Interpolated x̂α (current α)", elem_id="dot-interpolated", **panel)
        before_after = gr.ImageSlider(label="Before (restoration) / after (current α)", format="png",
                                      max_height=440, elem_id="dot-before-after")

        gr.Markdown("## 3 · Ground truth")
        gt_text = gr.Markdown(GT_HINT, elem_id="dot-metrics")
        pd_plot = gr.Plot(label="Perception–distortion over α ∈ [−1, 2]", show_label=False, format="png",
                          elem_id="dot-plot")

        # ---- events: calibration
        restored.change(_thumbnails, restored, restored_thumbs, api_visibility="private", show_progress="hidden")
        clean.change(_thumbnails, clean, clean_thumbs, api_visibility="private", show_progress="hidden")
        # .input: only a visitor's pick resets p (a loaded calibration sets both, and keeps its p)
        encoder.input(_encoder_changed, encoder, patch_size, api_visibility="private", show_progress="hidden")
        images_out = [original, transported, interpolated]
        refresh = dict(fn=enh_h.refresh_images, inputs=[alpha, img_state], outputs=images_out,
                       api_visibility="private", show_progress="hidden")
        controls = dict(fn=calibration_controls, inputs=cal_state, outputs=[encoder, patch_size],
                        api_visibility="private", show_progress="hidden")
        after = dict(fn=gt_h.after_image, inputs=[gt_file, alpha, img_state],
                     outputs=[before_after, gt_text, pd_plot, img_state], api_visibility="private")
        heavy(
            calibrate_btn.click, cal_h.calibrate,
            [restored, clean, encoder, patch_size, mode, fold_kernel, preset, cal_state, img_state],
            [summary, cal_state, img_state], api_name="calibrate",
        ).success(cal_h.download_calibration, cal_state, cal_download, api_name="download_calibration").success(
            **controls).success(**refresh).success(**after)
        heavy(
            cal_upload.upload, cal_h.load_calibration_file, [cal_upload, fold_kernel, img_state],
            [summary, cal_state, img_state], api_name="load_calibration",
        ).success(cal_h.download_calibration, cal_state, cal_download, api_visibility="private").success(
            **controls).success(**refresh).success(**after)

        # ---- events: enhance, α, ground truth
        # a new upload drops the previous image's ground truth (it would be compared silently)
        heavy(image.upload, enh_h.enhance, [image, alpha, cal_state], [*images_out, img_state],
              api_name="enhance").success(lambda: None, None, gt_file, api_visibility="private").success(**after)
        image.clear(_clear_image, None, [*images_out, before_after, img_state, gt_file, gt_text, pd_plot],
                    api_visibility="private")
        alpha.input(enh_h.blend, [alpha, img_state], interpolated, api_name="blend", show_progress="hidden",
                    trigger_mode="always_last", concurrency_limit=4, concurrency_id="blend",
                    js=read_static("blend.js"))
        alpha.release(gt_h.on_release, [alpha, img_state], [interpolated, before_after, gt_text, pd_plot],
                      api_visibility="private", show_progress="hidden", trigger_mode="always_last",
                      concurrency_limit=2, concurrency_id="release")
        heavy(gt_file.upload, gt_h.compare_ground_truth, [gt_file, alpha, img_state],
              [gt_text, pd_plot, img_state], api_name="ground_truth")
        gt_file.clear(gt_h.compare_ground_truth, [gt_file, alpha, img_state], [gt_text, pd_plot, img_state],
                      api_visibility="private")
        if examples:
            heavy(
                example_gallery.select, ex_h.select,
                [example_gallery, encoder, fold_kernel, cal_state, img_state],
                [summary, cal_state, cal_download, encoder, patch_size, preset, image, gt_file, alpha,
                 *images_out, before_after, gt_text, pd_plot, img_state],
                api_visibility="private",
            )
    demo.queue(max_size=64, default_concurrency_limit=2)
    return demo
