"""Tools for agents (MCP, ``demo.launch(mcp_server=True)``): calibrate, enhance and blend, no session.

An MCP client holds no Gradio session, so the page's own endpoints (which keep the calibration and
the upload in session state) cannot be chained from one tool call to the next. These three carry
everything in their arguments and results instead: ``dot_calibrate`` returns a calibration file,
``dot_enhance`` takes it with an image, ``dot_blend`` mixes two images by eq. (4). Their docstrings
are the tools' descriptions (Gradio reads the summary and the ``Args:`` section).

The page's own endpoints (``/calibrate``, ``/enhance``, ``/blend`` ...) stay in the API for
gradio_client, where each Client is a session, but are not MCP tools: :func:`only_agent_tools`.

Files reach a tool as data URIs (``data:image/png;base64,...``) or http(s) URLs. MCP's HTTP
transport refuses a request over 4 MiB (HTTP 413), so a larger file goes as a URL: a public one,
or the app's own after an upload (``POST <app>/gradio_api/upload``, multipart field ``files``,
then ``<app>/gradio_api/file=<returned path>``; ``gradio upload-mcp <app> <folder>`` gives an
agent that as its ``upload_file_to_gradio`` tool). Gradio fetches URLs of public hosts only.
"""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
import zlib
from pathlib import Path

import gradio as gr
import numpy as np

from dot_core import interpolate

from . import engine_calls
from .calibrate import CalibrationHandlers
from .enhance import EnhanceHandlers
from .errors import engine_error, fail
from .files import out_dir, write_png
from .gradio_private import not_an_mcp_tool
from .settings import ALPHA_MAX, ALPHA_MIN, DEFAULT_ALPHA, FOLD_AUTO, IMAGE_TYPES

MAX_UNPACKED_BYTES = 512 * 2**20  # all images of one archive together, uncompressed
TOOLS = ("dot_calibrate", "dot_enhance", "dot_blend")  # the endpoints an agent gets as MCP tools
GRADIO_DATA_URI_NAME = "file"  # the stem Gradio gives a file that came as a data URI (no name of its own)


def only_agent_tools(demo: gr.Blocks) -> None:
    """Keep the MCP tool list to :data:`TOOLS`: every other public endpoint needs a browser session.

    Gradio 6 makes every public endpoint an MCP tool; its only switch, ``api_visibility``, would
    also hide the page's endpoints from gradio_client's API page and drop their defaults there.
    The page's functions are marked as no tool by :func:`webui.gradio_private.not_an_mcp_tool`.
    """
    for block_fn in demo.fns.values():
        if block_fn.fn is None or block_fn.api_visibility != "public" or block_fn.api_name in TOOLS:
            continue
        block_fn.fn = not_an_mcp_tool(block_fn.fn)


def output_stem(path: str, fallback: str) -> str:
    """The input's own stem, or ``fallback`` for a file that came as a data URI (Gradio calls it
    ``file``), so outputs are named after what they are (``restored_alpha-1.png``, not ``file_...``)."""
    stem = Path(path).stem
    return fallback if stem == GRADIO_DATA_URI_NAME else stem


def named(path: str | None, fallback: str) -> str | None:
    """``path``, or a copy of it named by :func:`output_stem` when it came as a data URI."""
    if not path or output_stem(path, fallback) == Path(path).stem:
        return path
    copy = out_dir() / f"{fallback}{Path(path).suffix.lower()}"
    shutil.copyfile(path, copy)
    return str(copy)


def check_alpha(alpha) -> float:
    """α as a float within the page's range [−1, 2], or the visitor's message."""
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise fail(f"alpha must be a number, got {alpha!r}") from None
    if not ALPHA_MIN <= alpha <= ALPHA_MAX:
        raise fail(f"alpha must lie in [{ALPHA_MIN:g}, {ALPHA_MAX:g}] (1 = the restoration, 0 = fully "
                   f"transported), got {alpha:g}")
    return alpha


def unpack_images(archive: str | None, *, most: int) -> list[str]:
    """The images of a .zip (at most ``most``; folders and other files skipped), or ``[archive]``.

    MCP clients pass one file per argument (Gradio 6's tool schema for a list of files does not
    validate), so a set of calibration images comes as one zip. Members are written under fresh
    names (never the archive's paths) and their declared sizes are checked before anything is read.
    """
    if not archive:
        return []
    if not zipfile.is_zipfile(archive):
        return [archive]
    try:
        return _unpack(archive, most=most)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # a bad CRC, a truncated member, an unsupported compression or a password: the visitor's zip
        raise fail(f"{Path(archive).name} is a damaged or unsupported zip ({exc}); zip the images again "
                   "(plain, no password).") from None


def _unpack(archive: str, *, most: int) -> list[str]:
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_TYPES
                   and not Path(m.filename).name.startswith(".")]
        if not members:
            raise fail(f"{Path(archive).name} holds no images ({', '.join(IMAGE_TYPES)}); zip the images themselves.")
        if len(members) > most:
            raise fail(f"{Path(archive).name} holds {len(members)} images; at most {most} per set "
                       "(about ten is enough).")
        if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            raise fail(f"{Path(archive).name} unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB; use fewer or "
                       "smaller images.")
        folder, paths = out_dir(), []
        for i, m in enumerate(sorted(members, key=lambda m: Path(m.filename).name)):  # paired: by name order
            # a fresh folder each, the member's own file name (no path) kept: mode auto pairs by name
            path = folder / f"{i:03d}" / f"{Path(m.filename).stem[:60]}{Path(m.filename).suffix.lower()}"
            path.parent.mkdir()
            path.write_bytes(z.read(m))
            paths.append(str(path))
        return paths


@dataclasses.dataclass(frozen=True)
class ToolHandlers:
    """Stateless versions of the page's three steps, for agents."""

    calibration: CalibrationHandlers
    enhance: EnhanceHandlers

    def dot_calibrate(self, restored: str | None = None, clean: str | None = None, encoder: str = "detail",
                      patch_size: int = 3,
                      mode: str = "auto", preset: str = "", restoration_lattice: str = "auto",
                      progress=gr.Progress(track_tqdm=True), request: gr.Request = None):
        """Fit a Deep Optimal Transport calibration: the closed-form map taking the statistics of latent
        patches of a restoration model's outputs to those of clean natural images (Adrai et al. 2023, eq. 2).

        Pass about ten outputs of the restoration model and their clean originals under the same file names
        (or, if there are none, about ten clean photos of the same kind), each set as one .zip of images (or a single image), or leave both empty and
        name a preset. Returns a summary and the calibration file (.safetensors) to pass to dot_enhance.
        Files go as data URIs or http(s) URLs; one call's arguments must stay under 4 MiB (MCP's limit), so
        pass larger files as URLs: upload them first (POST <app>/gradio_api/upload, or the
        upload_file_to_gradio tool of `gradio upload-mcp <app> <folder>`) and pass the
        <app>/gradio_api/file=... URL it returns.

        Args:
            restored: a .zip of images produced by the restoration model (PNG/JPEG, about ten), or one image.
            clean: a .zip of clean natural images of the same kind (about ten), or one image.
            encoder: latent space: "detail" or "pixel" (weight-free), or a VAE such as "sd-vae-ft-mse".
            patch_size: patch side p in latent pixels (the transport acts on C·p²-dimensional patches).
            mode: "auto" (paired when every restored image has its clean original of the same name and size,
                else unpaired), "unpaired", "paired" or "zero-shot".
            preset: name of a ready calibration instead of images, e.g. "sr-bicubic-x4"; empty to use images.
            restoration_lattice: "auto" (found in the restored images), "none", or the restoring upscaler's
                factor in pixels ("2", "3", "4", "8"): the restoration's content is then kept on that grid's
                frequencies, so its interpolation pattern cannot grow.
        """
        most = self.calibration.settings.max_calibration_images
        restored, clean = unpack_images(restored, most=most), unpack_images(clean, most=most)
        summary, cal_state, _ = self.calibration.calibrate(restored, clean, encoder, patch_size, mode, FOLD_AUTO,
                                                           preset, restoration_lattice=restoration_lattice,
                                                           progress=progress)
        return summary, cal_state.file

    def dot_enhance(self, image: str, calibration: str, alpha: float = DEFAULT_ALPHA, request: gr.Request = None):
        """Enhance one restored image with a calibration from dot_calibrate: x̂α = α·x* + (1 − α)·x̂0 (eq. 4),
        where x̂0 = D(T(E(x*))) is the restoration x* with its latent patches transported.

        Returns the image at alpha and the fully transported x̂0 (α = 0), both PNG; pass the original
        and x̂0 to dot_blend to try other α without enhancing again. Files larger than 4 MiB in all go as
        URLs, not data URIs (see dot_calibrate).

        Args:
            image: the restored image to enhance (an output of the same restoration model).
            calibration: the .safetensors calibration file returned by dot_calibrate.
            alpha: 1 = the restoration unchanged, 0 = fully transported (most realistic), in [-1, 2].
        """
        alpha = check_alpha(alpha)
        _, cal_state, _ = self.calibration.load_calibration_file(calibration, FOLD_AUTO)
        _, transported, interpolated, _ = self.enhance.enhance(named(image, "restored"), alpha, cal_state)
        return interpolated, transported

    def dot_blend(self, restored: str, transported: str, alpha: float = DEFAULT_ALPHA, request: gr.Request = None):
        """Mix a restored image x* with its transported version x̂0 from dot_enhance:
        x̂α = α·x* + (1 − α)·x̂0 (eq. 4 of Adrai et al. 2023), clipped to [0, 1]; no model call.
        Files larger than 4 MiB in all go as URLs, not data URIs (see dot_calibrate).

        Args:
            restored: the restored image x* (the image given to dot_enhance).
            transported: the transported image x̂0 (the second result of dot_enhance).
            alpha: 1 = x*, 0 = x̂0, between: a trade-off of distortion and realism; [-1, 2] extrapolates.
        """
        alpha = check_alpha(alpha)
        limit = self.enhance.settings.max_pixels
        x_star = engine_calls.read_image(restored, "restored image", max_pixels=limit)
        x0 = engine_calls.read_image(transported, "transported image", max_pixels=limit)
        if x_star.shape != x0.shape:
            raise fail(f"{Path(restored).name} is {x_star.shape[1]}×{x_star.shape[0]} but {Path(transported).name} "
                       f"is {x0.shape[1]}×{x0.shape[0]}: pass an image and its own transported version.")
        try:
            x = np.clip(interpolate(x_star, x0, alpha), 0.0, 1.0)
        except ValueError as exc:
            raise engine_error(exc) from None
        return write_png(x, f"{output_stem(restored, 'restored')}_alpha{alpha:g}.png")
