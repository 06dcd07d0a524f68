"""Gradio app: few-shot perceptual enhancement of restored images by latent optimal transport.

UI only: every computation is a call into ``dot_core`` (Adrai, Ohayon, Elad & Michaeli, "Deep
Optimal Transport: A Practical Algorithm for Photo-realistic Image Restoration", NeurIPS 2023).

1. Calibrate on a few restored and a few clean images (or a preset, or a calibration file).
2. Enhance a new restored image x*: the transported x̂0 is computed once per upload and kept in
   session state; the α slider then only mixes pixels (eq. 4, x̂α = α·x* + (1 − α)·x̂0), in the
   browser while dragging and on the server for the image you download.
3. With the ground truth, PSNR/SSIM at α and a perception–distortion curve over α ∈ [−1, 2].

Named API endpoints (gradio_client): ``/calibrate(restored, clean, encoder, patch_size, ...)``,
``/enhance(image, ...)``, ``/blend(alpha)``; see README. ``python app.py`` honours
GRADIO_SERVER_NAME and GRADIO_SERVER_PORT, and starts offline on a weight-free latent space.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np
from tqdm import tqdm

from dot_core import (
    KNOWN_VAES,
    MODES,
    Calibrator,
    DOTPipeline,
    EncoderUnavailableError,
    TransportConfig,
    load_calibration,
    load_encoder,
    load_image,
    save_calibration,
)
from dot_core.encoders import DiffusersVAEEncoder
from dot_core.imageio import encode_png, to_uint8
from dot_core.patches import FOLD_KERNELS
from dot_core.pipeline import Enhanced
from serving.admission import Admission
from serving.image_store import ArrayStore, KeptArrays

try:  # written alongside the app; the ground-truth section needs it
    from dot_core import metrics
except ImportError:  # pragma: no cover - only while the module is missing
    metrics = None
try:  # ready calibrations and example images; the preset picker and examples hide without it
    from dot_core import presets
except ImportError:
    presets = None
try:  # Hugging Face ZeroGPU: borrow a GPU for the heavy calls; a no-op everywhere else
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):
        return fn


ALPHA_MIN, ALPHA_MAX, ALPHA_STEP = -1.0, 2.0, 0.05  # eq. (4): 1 = restoration, 0 = transported
DEFAULT_ALPHA = 0.5
CURVE_ALPHAS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)  # P-D curve points (each costs a texture distance)
MAX_PIXELS = int(os.environ.get("DOT_APP_MAX_PIXELS", 2048 * 2048))  # per uploaded image
MAX_FILE_SIZE = os.environ.get("DOT_APP_MAX_FILE_SIZE", "50mb")  # per upload, checked by Gradio
SESSION_TTL = 2 * 3600  # seconds a session's calibration and images are kept
# RAM for all sessions' kept images together (x*, x̂0, ground truth; 6 bytes per pixel each); beyond
# it the least recently used go to their session's folder on disk until that session needs them again
IMAGE_MEMORY = int(float(os.environ.get("DOT_APP_IMAGE_MEMORY_MB", 2048)) * 2**20)
IMAGES = ArrayStore(IMAGE_MEMORY)
# Heavy jobs (calibrate, enhance, ...) share one slot; each session and each network address may have
# only a few of them waiting or running, so that one API client cannot keep everyone else waiting.
ADMISSION = Admission(per_session=int(os.environ.get("DOT_APP_MAX_JOBS_PER_SESSION", 2)),
                      per_client=int(os.environ.get("DOT_APP_MAX_JOBS_PER_CLIENT", 4)),
                      waiting=lambda ticket: _still_queued(ticket))
# Behind a proxy (a Space) every request comes from the proxy's address: the visitor's address is the
# first X-Forwarded-For entry. Elsewhere that header is the sender's word, so it is ignored by default.
TRUST_FORWARDED = os.environ.get("DOT_APP_TRUST_FORWARDED", "1" if os.environ.get("SPACE_ID") else "0") == "1"
KEEP_BLENDS = 16  # α images kept per upload (a dragged slider writes one per step); older ones deleted
MAX_CALIBRATION_IMAGES = int(os.environ.get("DOT_APP_MAX_CALIBRATION_IMAGES", 100))  # per set and call
# all of one call's calibration images are held in memory (float32 RGB: 12 bytes per pixel) until the fit
MAX_CALIBRATION_PIXELS = int(os.environ.get("DOT_APP_MAX_CALIBRATION_PIXELS", 16 * MAX_PIXELS))
# Repo ids and local folders as latent spaces: allowed, except on a public Space (SPACE_ID set) unless
# DOT_APP_CUSTOM_ENCODERS=1, so that a stranger cannot make the server download or load any model.
CUSTOM_ENCODERS = os.environ.get("DOT_APP_CUSTOM_ENCODERS", "0" if os.environ.get("SPACE_ID") else "1") == "1"
PAPER_ENCODER = "sd-vae-ft-mse"
FOLD_AUTO = "auto"  # the latent space's own fold kernel (Encoder.default_fold_kernel)
FOLD_CHOICES = (FOLD_AUTO, *FOLD_KERNELS)
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"]
ALPHA_LABEL = "α — 1 = original restoration · 0 = fully transported · beyond = extrapolation"
ALPHA_INFO = "x̂α = α·x* + (1 − α)·x̂0 (eq. 4 of the paper); the slider reaches past [0, 1]."
GT_HINT = "Upload the clean version of the image above to see PSNR, SSIM and the perception–distortion curve."


# --------------------------------------------------------------------------- latent spaces


def _hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection (never true in offline mode)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _go_offline() -> None:
    """Make later weight loads read the local cache only, instead of retrying the network."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True


def _weights_cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    repo = KNOWN_VAES[name][0] if name in KNOWN_VAES else name
    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def _weight_free_default() -> str:
    return "detail" if importlib.util.find_spec("dot_core.detail") else "pixel"


@dataclasses.dataclass(frozen=True)
class Startup:
    """Which latent space the page starts on, and why, decided once per process."""

    encoder: str
    online: bool
    notice: str  # Markdown shown at the top of the page
    choices: list[tuple[str, str]]  # (label, name) for the latent-space dropdown


def probe_startup() -> Startup:
    """Pick the default latent space without waiting on the network.

    The paper's VAE when its weights are cached or the Hub answers; otherwise the weight-free
    ``detail`` latent (``pixel`` before that module exists). ``DOT_APP_ENCODER`` overrides.
    """
    online = _hub_reachable()
    if not online:
        _go_offline()
    forced = os.environ.get("DOT_APP_ENCODER", "").strip()
    wanted = forced or PAPER_ENCODER
    reason = ""
    if wanted in ("pixel", "detail") or online or _weights_cached(wanted):
        try:
            load_encoder(wanted)
            encoder = wanted
        except (EncoderUnavailableError, ValueError, ImportError) as exc:
            encoder, reason = _weight_free_default(), str(exc)
    else:
        encoder = _weight_free_default()
        reason = (
            f"the Hugging Face Hub cannot be reached and the weights of '{wanted}' are not in the "
            "local cache"
        )
    if encoder == PAPER_ENCODER:
        notice = f"Running on the paper's latent space **{PAPER_ENCODER}** (Stable Diffusion VAE)."
    elif not reason:
        notice = f"Running on the **{encoder}** latent space (chosen with `DOT_APP_ENCODER`)."
    else:
        what = {"detail": "weight-free band-pass **detail** latent", "pixel": "weight-free **pixel** space"}
        notice = (
            f"**{'Fallback' if online else 'Offline mode'}:** running on the {what[encoder]}, because {reason}. "
            f"The paper's VAE (`{PAPER_ENCODER}`) is used when its weights can be loaded "
            f"(`hf download {KNOWN_VAES[PAPER_ENCODER][0]}`)."
        )
    choices = []
    for name in ("detail", "pixel", *KNOWN_VAES):
        if name == "detail" and not importlib.util.find_spec("dot_core.detail"):
            continue
        if name in ("detail", "pixel"):
            note = "weight-free"
        elif online or _weights_cached(name):
            note = "the paper's VAE" if name == PAPER_ENCODER else "VAE"
        else:
            note = "weights unavailable offline"
        choices.append((f"{name} · {note}", name))
    return Startup(encoder=encoder, online=online, notice=notice, choices=choices)


def default_patch_size(encoder: str) -> int:
    """The latent space's own patch size, without loading VAE weights."""
    if encoder in ("pixel", "detail"):
        return load_encoder(encoder).default_patch_size
    return DiffusersVAEEncoder.default_patch_size


# --------------------------------------------------------------------------- session state


@dataclasses.dataclass(frozen=True)
class CalibrationState:
    """One session's calibration, as the pipeline that applies it."""

    pipeline: DOTPipeline
    file: str  # the calibration saved as .safetensors, for download
    source: str  # where it came from, for the summary


@dataclasses.dataclass(frozen=True)
class ImageState:
    """One session's current upload: x* and x̂0 (pixel blends need nothing else).

    The arrays live in ``IMAGES`` (16-bit, within a RAM budget shared by all sessions, the least
    recently used on disk); they are freed when no state refers to them any more.
    """

    pipeline: DOTPipeline  # the calibration that made x̂0
    kept: KeptArrays  # "original" (x*) and "transported" (x̂0)
    stem: str  # upload's file name without extension, for download names
    original_png: str
    transported_png: str
    ground_truth: KeptArrays | None = None  # "clean"
    curve: dict | None = None  # {"alpha", "psnr", "distance"}: lists over CURVE_ALPHAS

    @property
    def shape(self) -> tuple[int, ...]:
        return self.kept.shapes["original"]

    def enhanced(self) -> Enhanced:
        """x* and x̂0 as float32 (read back from disk if this session was idle a while)."""
        x_star, x0 = _read_kept(self.kept, "original", "transported")
        return Enhanced(original=x_star, transported=x0, latent=None, latent_transported=None)

    def clean(self) -> np.ndarray:
        return _read_kept(self.ground_truth, "clean")[0]


def _read_kept(kept: KeptArrays, *names: str) -> list[np.ndarray]:
    """Arrays of a session's kept group; gone (the session was cleaned up) is the visitor's message."""
    try:
        return [kept.get(name) for name in names]
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None


# --------------------------------------------------------------------------- admission


def _client_address(request: gr.Request) -> str:
    if TRUST_FORWARDED:
        forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def _still_queued(ticket: object) -> bool:
    """Whether the queue call ``ticket`` (its HTTP request) still waits in its app's Gradio queue.

    Gradio drops the waiting events of a visitor who leaves (the page's event stream closes).
    """
    app = getattr(ticket, "app", None)
    blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
    queue = getattr(blocks, "_queue", None)
    per_id = getattr(queue, "event_queue_per_concurrency_id", None)
    if per_id is None:  # another Gradio: keep the job until Admission.max_wait_s
        return True
    return any(getattr(event, "request", None) is ticket for q in list(per_id.values()) for event in list(q.queue))


def _request_in(args: tuple, kwargs: dict) -> gr.Request | None:
    """The gr.Request Gradio passed among a handler's (or validator's) arguments."""
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)


def _admission_validator(handler, n_inputs: int):
    """A validator for ``handler``'s event: Gradio runs it before queueing, with the same inputs.

    It admits the job (``ADMISSION``) or answers with the reason, shown on the event's first input
    in the page and raised as ``gradio_client.exceptions.ValidationError`` in API calls.
    """
    ok = [gr.validate(True, "")] * n_inputs

    @functools.wraps(handler)  # the handler's signature, so Gradio passes the same inputs and the request
    def validate(*args, **kwargs):
        request = _request_in(args, kwargs)
        if request is None or getattr(request, "request", None) is None:
            return ok
        reason = ADMISSION.admit(request.request, request.session_hash or "", _client_address(request))
        return ok if reason is None else [gr.validate(False, reason)] + ok[1:]

    return validate


def _heavy(trigger, handler, inputs, outputs, **kwargs):
    """Wire ``handler`` to ``trigger`` as a heavy job: the one shared slot, admission first."""
    return trigger(_admitted(handler), inputs, outputs, concurrency_id="heavy", concurrency_limit=1,
                   validator=_admission_validator(handler, len(inputs)), **kwargs)


def _admitted(handler):
    """Count ``handler``'s run as its visitor's heavy job (see :mod:`serving.admission`)."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        request = _request_in(args, kwargs)
        with ADMISSION.running(getattr(request, "request", None)):
            return handler(*args, **kwargs)

    return run


def _fail(message: str) -> gr.Error:
    """A visitor's mistake: shown on the page (or raised in gradio_client), no server traceback."""
    return gr.Error(message, print_exception=False)


def _engine_error(exc: Exception) -> gr.Error:
    """The engine's own message (it names the file and the fix), shown as is."""
    return exc if isinstance(exc, gr.Error) else _fail(str(exc))


# --------------------------------------------------------------------------- files


def _out_dir() -> Path:
    """A fresh folder inside Gradio's cache: served as is, removed by ``delete_cache``."""
    path = Path(gr.utils.get_upload_folder()) / "dot_app" / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_png(img: np.ndarray, name: str, *, level: int = 1, folder: Path | None = None) -> str:
    path = (folder or _out_dir()) / name
    tmp = path.with_name(f".{uuid.uuid4().hex}.part")
    tmp.write_bytes(encode_png(to_uint8(img), level=level))
    os.replace(tmp, path)  # atomic: a request for this name never sees a half-written file
    return str(path)


def _keep_newest(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest files of ``folder`` (bounds the disk a session uses)."""
    files = []
    for f in folder.glob("*.png"):
        try:
            files.append((f.stat().st_mtime_ns, f))
        except FileNotFoundError:  # removed by a concurrent call
            pass
    for _, f in sorted(files, reverse=True)[keep:]:
        f.unlink(missing_ok=True)


def _free_files(state) -> None:
    """``gr.State`` delete callback: the session ended or its state expired; remove its files."""
    path = getattr(state, "original_png", None) or getattr(state, "file", None)
    if not path:
        return
    folder = Path(path).parent
    if folder.parent == Path(gr.utils.get_upload_folder()) / "dot_app":  # only our own folders
        shutil.rmtree(folder, ignore_errors=True)


def _read_image(path: str, what: str) -> np.ndarray:
    if not path:
        raise _fail(f"No {what} was given.")
    try:
        return load_image(path, max_pixels=MAX_PIXELS, name=Path(path).name)
    except (ValueError, TypeError) as exc:
        raise _engine_error(exc) from None


def _paths(files) -> list[str]:
    if files is None:
        return []
    return [str(f) for f in (files if isinstance(files, list) else [files])]


# --------------------------------------------------------------------------- heavy work


@gpu
def _fit(jobs: list[tuple[str, np.ndarray, np.ndarray | None]], encoder: str, patch_size: int, mode: str):
    """Encode every image, collect patch moments, fit the operator (eq. 2); a Calibration.

    ``jobs``: ("restored" | "clean", image, None) or ("pair", restored, clean). Progress goes
    through tqdm (tracked by ``gr.Progress(track_tqdm=True)``, also under ZeroGPU).
    """
    calibrator = Calibrator(load_encoder(encoder), patch_size, mode=mode)
    for role, a, b in tqdm(jobs, desc="encoding", unit="image"):
        if role == "pair":
            calibrator.add_pair(a, b)
        elif role == "restored":
            calibrator.add_restored(a)
        else:
            calibrator.add_clean(a)
    return calibrator.fit()


@gpu
def _transport(pipeline: DOTPipeline, image: np.ndarray):
    enhanced = pipeline.enhance(image)  # x̂0 = D(T(E(x*))), computed once per upload
    return dataclasses.replace(enhanced, latent=None, latent_transported=None)


def _name(path: str) -> str:
    return Path(path).name


def _check_encoder(name: str) -> None:
    """Refuse latent-space names that are not names (and, on a public Space, unlisted ones)."""
    if len(name) > 512 or not name.isprintable():
        raise _fail("encoder: not a latent-space name (at most 512 printable characters).")
    listed = ("detail", "pixel", *KNOWN_VAES)
    if not CUSTOM_ENCODERS and name not in listed:
        raise _fail(f"encoder {name!r}: this public app runs only the listed latent spaces "
                    f"({', '.join(listed)}); run the app yourself to use a repo id or a local folder.")


def _new_calibration(cal, fold_kernel: str, source: str) -> CalibrationState:
    _check_encoder(cal.encoder)  # a calibration file names its latent space: a stranger's may name anything
    try:
        encoder = load_encoder(cal.encoder)
        config = TransportConfig(fold_kernel=None if fold_kernel == FOLD_AUTO else fold_kernel)
        pipeline = DOTPipeline(encoder, cal, config=config)
    except (EncoderUnavailableError, ValueError, OSError) as exc:
        raise _engine_error(exc) from None
    file = _out_dir() / f"dot_calibration_{Path(cal.encoder).name}_p{cal.patch_size}.safetensors"
    save_calibration(cal, file)
    return CalibrationState(pipeline=pipeline, file=str(file), source=source)


def _new_image(pipeline: DOTPipeline, image: np.ndarray, stem: str) -> ImageState:
    try:
        enhanced = _transport(pipeline, image)
    except (ValueError, MemoryError) as exc:
        raise _engine_error(exc) from None
    folder = _out_dir()  # this upload's files; its α images go to folder/blends
    return ImageState(
        pipeline=pipeline,
        kept=IMAGES.keep(folder, original=enhanced.original, transported=enhanced.transported),
        stem=stem,
        original_png=_write_png(enhanced.original, f"{stem}_restored.png", folder=folder),
        transported_png=_write_png(enhanced.transported, f"{stem}_alpha0.png", folder=folder),
    )


def _blend(state: ImageState, alpha: float) -> np.ndarray:
    try:
        return state.pipeline.blend(state.enhanced(), alpha)  # eq. (4) in pixel space: no VAE call
    except ValueError as exc:
        raise _engine_error(exc) from None


def _blend_png(state: ImageState, alpha: float, *, level: int, x: np.ndarray | None = None) -> str:
    """x̂α written as this upload's PNG (``x``: x̂α when the caller has it already)."""
    x = _blend(state, alpha) if x is None else x
    folder = Path(state.original_png).parent / "blends"
    folder.mkdir(exist_ok=True)
    path = _write_png(x, f"{state.stem}_alpha{alpha:g}.png", level=level, folder=folder)
    _keep_newest(folder, KEEP_BLENDS)
    return path


def _summary(state: CalibrationState) -> str:
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


# --------------------------------------------------------------------------- event handlers


def _read_jobs(restored: list[str], clean: list[str], mode: str, progress) -> list[tuple]:
    """Load (and validate) every calibration image before any encoding starts.

    They are all held in memory until the fit, so their total size is bounded: past
    MAX_CALIBRATION_PIXELS the call stops with an error (memory: that budget plus one image).
    """
    left = [MAX_CALIBRATION_PIXELS]

    def read(path: str, what: str) -> np.ndarray:
        img = _read_image(path, what)
        left[0] -= img.shape[0] * img.shape[1]
        if left[0] < 0:
            raise _fail(f"The calibration images add up to more than {MAX_CALIBRATION_PIXELS / 1e6:.0f} megapixels "
                        f"(at {_name(path)}); use fewer or smaller images.")
        return img

    if mode == "paired":  # pairs are matched by file name order
        restored, clean = sorted(restored, key=_name), sorted(clean, key=_name)
        return [("pair", read(r, "restored image"), read(c, "clean image"))
                for r, c in progress.tqdm(list(zip(restored, clean)), desc="reading images", unit="pair")]
    jobs = [("restored", r) for r in restored] + [("clean", c) for c in clean]
    return [(role, read(p, f"{role} image"), None)
            for role, p in progress.tqdm(jobs, desc="reading images", unit="image")]


def _follow(img_state: ImageState | None, cal_state: CalibrationState) -> ImageState | None:
    """The kept upload, transported again with a new calibration (its ground truth kept)."""
    if img_state is None:
        return None
    new = _new_image(cal_state.pipeline, img_state.enhanced().original, img_state.stem)
    return dataclasses.replace(new, ground_truth=img_state.ground_truth)


def calibrate(
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
    request: gr.Request = None,  # Gradio passes it; _admitted ends the visitor's job with it
):
    """Fit a transport operator on restored and clean images (or a preset); returns a summary."""
    encoder = (encoder or "").strip()
    if not encoder:
        raise _fail("Pick a latent space (encoder).")
    _check_encoder(encoder)
    if mode not in MODES:
        raise _fail(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if fold_kernel not in FOLD_CHOICES:
        raise _fail(f"fold_kernel must be one of {', '.join(FOLD_CHOICES)}, got {fold_kernel!r}")
    try:
        patch_size = int(patch_size)
    except (TypeError, ValueError):
        raise _fail(f"patch_size must be an integer, got {patch_size!r}") from None
    restored, clean = _paths(restored), _paths(clean)
    if max(len(restored), len(clean)) > MAX_CALIBRATION_IMAGES:
        raise _fail(f"At most {MAX_CALIBRATION_IMAGES} restored and {MAX_CALIBRATION_IMAGES} clean images per "
                    f"calibration; got {len(restored)} and {len(clean)}. About ten of each is enough.")
    if preset and presets is not None:
        progress(0.2, desc=f"loading preset {preset}")
        try:
            cal = presets.load_preset(preset, encoder=encoder)
        except (KeyError, ValueError, EncoderUnavailableError) as exc:
            raise _engine_error(exc) from None
        source = f"preset {preset}"
    else:
        if mode == "zero-shot":
            if restored:
                gr.Warning("Zero-shot mode uses only the clean images; the restored ones are ignored.")
            restored = []
        elif not restored:
            raise _fail("Add some restored images (your model's outputs), or pick a preset.")
        if not clean:
            raise _fail("Add some clean images (natural photos of the same kind), or pick a preset.")
        if mode == "paired" and len(restored) != len(clean):
            raise _fail(f"Paired mode needs as many restored as clean images; got {len(restored)} and "
                        f"{len(clean)}. Pairs are matched by file name order.")
        jobs = _read_jobs(restored, clean, mode, progress)
        try:
            cal = _fit(jobs, encoder, patch_size, mode)
        except (EncoderUnavailableError, ValueError, MemoryError, OSError) as exc:
            raise _engine_error(exc) from None
        source = f"{len(restored)} restored + {len(clean)} clean images" if restored else f"{len(clean)} clean images"
    new_cal = _new_calibration(cal, fold_kernel, source)
    img_state = _follow(img_state, new_cal)
    for w in cal.info.get("warnings", []):
        gr.Warning(w)
    return _summary(new_cal), new_cal, img_state


def load_calibration_file(calibration, fold_kernel: str = FOLD_AUTO, img_state: ImageState | None = None,
                          request: gr.Request = None):
    """Reuse a calibration saved earlier (.safetensors, validated by the engine)."""
    if not calibration:
        raise _fail("No calibration file was given.")
    try:
        cal = load_calibration(calibration)
    except ValueError as exc:
        raise _engine_error(exc) from None
    new_cal = _new_calibration(cal, fold_kernel, f"file {_name(calibration)}")
    return _summary(new_cal), new_cal, _follow(img_state, new_cal)


def enhance(image, alpha: float = DEFAULT_ALPHA, cal_state: CalibrationState | None = None,
            request: gr.Request = None):
    """Transport a restored image once; returns the original, x̂0 and x̂α."""
    if cal_state is None:
        raise _fail("No calibration yet (or it expired): calibrate, pick an example, or load a calibration "
                    "file first.")
    if not image:
        raise _fail("Upload a restored image to enhance.")
    x = _read_image(image, "image")
    pipeline = cal_state.pipeline
    h, w = pipeline.encoder.latent_size(*x.shape[:2])
    p = pipeline.calibration.patch_size
    if min(h, w) < p:  # allowed (the border is replicated), but the transport sees mostly padding
        gr.Warning(f"{_name(image)} is {x.shape[1]}×{x.shape[0]}: its latent ({w}×{h}) is smaller than one "
                   f"{p}×{p} patch, so the result is mostly extrapolated from its border.")
    state = _new_image(pipeline, x, Path(image).stem)
    return state.original_png, state.transported_png, _blend_png(state, alpha, level=1), state


def blend(alpha: float, img_state: ImageState | None = None):
    """x̂α for the session's current upload: a pixel mix of kept images, no encoder call."""
    if img_state is None:
        raise _fail("No image yet (or it expired): upload a restored image (or call /enhance) first.")
    return _blend_png(img_state, alpha, level=0)


def download_calibration(cal_state: CalibrationState | None = None):
    """The session's calibration as .safetensors."""
    if cal_state is None:
        raise _fail("No calibration yet.")
    return cal_state.file


# --------------------------------------------------------------------------- ground truth


def _curve(state: ImageState, gt: np.ndarray, progress) -> dict:
    """PSNR and texture distance to the ground truth at every α of CURVE_ALPHAS."""
    out = {"alpha": [], "psnr": [], "distance": []}
    enhanced = state.enhanced()
    for a in progress.tqdm(CURVE_ALPHAS, desc="perception–distortion curve", unit="α"):
        x = state.pipeline.blend(enhanced, a)
        out["alpha"].append(a)
        out["psnr"].append(metrics.psnr(x, gt))
        out["distance"].append(metrics.texture_distance(x, gt))
    return out


def _plot(curve: dict, alpha: float):
    """Perception–distortion plane: the curve over α, the current α marked on it."""
    from matplotlib.figure import Figure

    a, d, p = (np.asarray(curve[k]) for k in ("alpha", "distance", "psnr"))
    fig = Figure(figsize=(6.0, 3.9), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title("Perception–distortion over α ∈ [−1, 2]", fontsize=11)
    ax.plot(d, p, "-o", color="#7c8796", markersize=4, label="α from −1 to 2")
    for ai, di, pi in zip(a, d, p):
        if ai in (-1.0, 0.0, 1.0, 2.0):
            ax.annotate(f"α={ai:g}", (di, pi), textcoords="offset points", xytext=(6, 4), fontsize=9)
    # the marker sits on the drawn polyline at the current α (exact values are in the text)
    ax.plot(np.interp(alpha, a, d), np.interp(alpha, a, p), "o", color="#e4572e", markersize=11,
            label=f"current α = {alpha:g}")
    ax.set_xlabel("texture distance to the ground truth (lower = more realistic)")
    ax.set_ylabel("PSNR (dB, higher = less distortion)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def _metrics_text(state: ImageState, alpha: float, x: np.ndarray | None = None) -> str:
    x = _blend(state, alpha) if x is None else x
    gt = state.clean()
    at = f"at α = {alpha:g}: **PSNR {metrics.psnr(x, gt):.2f} dB · SSIM {metrics.ssim(x, gt):.4f}**"
    c = state.curve
    if c is None:
        return at
    ref = {a: (p, d) for a, p, d in zip(c["alpha"], c["psnr"], c["distance"])}
    parts = [f"α = {a:g}: {ref[a][0]:.2f} dB, distance {ref[a][1]:.4f}" for a in (1.0, 0.0) if a in ref]
    return at + "  \nfor reference: " + "; ".join(parts)


def compare_ground_truth(ground_truth, alpha: float = DEFAULT_ALPHA, img_state: ImageState | None = None,
                         progress=gr.Progress(), request: gr.Request = None):
    """Compare with the clean image: metrics at α and the perception–distortion curve."""
    if not ground_truth:  # cleared
        return GT_HINT, None, img_state and dataclasses.replace(img_state, ground_truth=None, curve=None)
    if metrics is None:
        raise _fail("dot_core.metrics is not available in this installation.")
    if img_state is None:
        raise _fail("Upload the restored image first; then its ground truth.")
    gt = _read_image(ground_truth, "ground truth")
    shape = img_state.shape
    if gt.shape != shape:
        raise _fail(
            f"{_name(ground_truth)}: the ground truth is {gt.shape[1]}×{gt.shape[0]} but the restored image "
            f"is {shape[1]}×{shape[0]}; upload the clean version of this very image."
        )
    kept = IMAGES.keep(Path(img_state.original_png).parent, clean=gt)
    state = dataclasses.replace(img_state, ground_truth=kept, curve=_curve(img_state, gt, progress))
    return _metrics_text(state, alpha), _plot(state.curve, alpha), state


def _on_release(alpha: float, img_state: ImageState | None):
    """Slider released: a compact PNG for download, the before/after view, metrics, marker."""
    if img_state is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    x = _blend(img_state, alpha)  # once, for the PNG and the metrics
    png = _blend_png(img_state, alpha, level=1, x=x)
    if img_state.ground_truth is None or img_state.curve is None or metrics is None:
        return png, (img_state.original_png, png), gr.skip(), gr.skip()
    return png, (img_state.original_png, png), _metrics_text(img_state, alpha, x), _plot(img_state.curve, alpha)


def _after_image(gt_file, alpha: float, img_state: ImageState | None, progress=gr.Progress()):
    """After a new upload or calibration: before/after view, and the curve if a GT is there."""
    if img_state is None:
        return None, "", None, img_state
    png = _blend_png(img_state, alpha, level=1)
    if not gt_file or metrics is None:
        return (img_state.original_png, png), GT_HINT, None, img_state
    try:
        text, fig, img_state = compare_ground_truth(gt_file, alpha, img_state, progress)
    except gr.Error as exc:  # e.g. a ground truth of another image: say so, keep the rest
        return (img_state.original_png, png), f"⚠️ {exc.message}", None, img_state
    return (img_state.original_png, png), text, fig, img_state


def _clear_image():
    return None, None, None, None, None, None, GT_HINT, None


def _thumbnails(files):
    paths = _paths(files)
    return gr.Gallery(value=paths or None, visible=bool(paths))


def _encoder_changed(encoder: str):
    try:
        return default_patch_size((encoder or "").strip())
    except (EncoderUnavailableError, ValueError, ImportError):
        return gr.skip()


# --------------------------------------------------------------------------- examples


def _preset_choices() -> list[tuple[str, str]]:
    """(title, name) of every preset, for the dropdown."""
    return [] if presets is None else [(p.title, p.name) for p in presets.list_presets()]


def _example_items() -> list[tuple[str, str, str, str]]:
    """(preset, restored, clean, caption): one bundled example per preset, photos taking turns."""
    if presets is None:
        return []
    items = []
    for i, p in enumerate(q for q in presets.list_presets() if q.examples):
        restored, clean = p.examples[i % len(p.examples)]
        items.append((p.name, str(restored), str(clean), p.title))
    return items


def run_example(index: int, encoder: str, fold_kernel: str, cal_state, img_state, progress=gr.Progress()):
    """One click: the preset's calibration, then its example image and ground truth."""
    items = _example_items()
    if not 0 <= index < len(items):
        raise _fail(f"No example number {index}.")
    preset, restored, clean, _ = items[index]
    ready = presets.get_preset(preset).encoders  # latent spaces with a shipped calibration file
    encoder = encoder if encoder in ready or not ready else ready[0]
    summary, cal_state, _ = calibrate(None, None, encoder, 0, "unpaired", fold_kernel, preset, cal_state, None,
                                      progress)
    original, transported, interpolated, img_state = enhance(restored, DEFAULT_ALPHA, cal_state)
    text, fig, img_state = compare_ground_truth(clean, DEFAULT_ALPHA, img_state, progress)
    cal = cal_state.pipeline.calibration
    return (summary, cal_state, cal_state.file, cal.encoder, cal.patch_size, preset, restored, clean,
            DEFAULT_ALPHA, original, transported, interpolated, (original, interpolated), text, fig, img_state)


# --------------------------------------------------------------------------- page

# Runs in the browser on every α input event, before the server's /blend: paints
# x̂α = x̂0 + α·(x* − x̂0) from the two PNGs already on the page onto a canvas laid over the
# interpolated panel (a few ms for 1 MP). The canvas hides again once the server's PNG for the
# slider's current α has loaded (its file name ends in _alpha<α>.png), so downloads, the
# fullscreen view and API users always get the server's image.
BLEND_JS = """
(alpha) => {
  try {
    const q = (s) => document.querySelector(s);
    const S = window.__dotBlend || (window.__dotBlend = {alpha: null, painted: 0, key: null});
    const range = q('#dot-alpha input[type=range]');
    if (range && !range.dataset.dotKeys) {  // arrow keys move α too: let their keyup count as a release
      range.dataset.dotKeys = '1';
      range.addEventListener('keyup', () => range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true})));
    }
    const o = q('#dot-original .image-frame img'), t = q('#dot-transported .image-frame img');
    const frame = q('#dot-interpolated .image-frame');
    const shown = frame && frame.querySelector('img');
    if (!o || !t || !shown) return [alpha, null];
    const key = o.src + '|' + t.src;
    if (S.key !== key) {  // new upload or calibration: read both images' pixels once
      S.key = key; S.ready = false;
      const load = (src) => { const im = new Image(); im.src = src; return im.decode().then(() => im); };
      Promise.all([load(o.src), load(t.src)]).then(([io, it]) => {
        if (S.key !== key || io.naturalWidth !== it.naturalWidth || io.naturalHeight !== it.naturalHeight) return;
        const w = io.naturalWidth, h = io.naturalHeight, c = document.createElement('canvas');
        c.width = w; c.height = h;
        const g = c.getContext('2d', {willReadFrequently: true});
        g.drawImage(io, 0, 0); const xs = g.getImageData(0, 0, w, h).data;
        g.clearRect(0, 0, w, h); g.drawImage(it, 0, 0); const x0 = g.getImageData(0, 0, w, h).data;
        const d = new Float32Array(xs.length);
        for (let i = 0; i < xs.length; i++) d[i] = xs[i] - x0[i];
        Object.assign(S, {x0: x0, d: d, out: new ImageData(w, h), ready: true});
      }).catch((e) => console.warn('DOT: in-browser blend unavailable', e));
      return [alpha, null];
    }
    if (!S.ready) return [alpha, null];
    let cv = frame.querySelector('canvas.dot-live');
    if (!cv) {
      cv = document.createElement('canvas'); cv.className = 'dot-live';
      frame.style.position = 'relative'; frame.appendChild(cv);
      frame.addEventListener('load', (ev) => {  // the server's PNG arrived: show it if current
        if (ev.target.tagName !== 'IMG') return;
        const m = decodeURIComponent(ev.target.src).match(/_alpha([-+0-9.e]+)[.]png$/);
        const r = q('#dot-alpha input[type=range]'), now = r ? Number(r.value) : NaN;
        if ((m && Math.abs(Number(m[1]) - now) < 1e-6) || Math.abs(S.alpha - now) > 1e-6) cv.style.display = 'none';
      }, true);
    }
    const w = S.out.width, h = S.out.height;
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    Object.assign(cv.style, {position: 'absolute', display: 'block', pointerEvents: 'none',
      left: shown.offsetLeft + 'px', top: shown.offsetTop + 'px', width: shown.offsetWidth + 'px',
      height: shown.offsetHeight + 'px', objectFit: getComputedStyle(shown).objectFit});
    const a = Number(alpha), x0 = S.x0, d = S.d, out = S.out.data;
    for (let i = 0; i < out.length; i += 4) {  // Uint8ClampedArray rounds and clips like the server
      out[i] = x0[i] + a * d[i]; out[i + 1] = x0[i + 1] + a * d[i + 1];
      out[i + 2] = x0[i + 2] + a * d[i + 2]; out[i + 3] = 255;
    }
    cv.getContext('2d').putImageData(S.out, 0, 0);
    S.alpha = a; S.painted = performance.now();
  } catch (e) { console.warn('DOT: in-browser blend skipped', e); }
  return [alpha, null];
}
"""

CSS = """
.dot-panel img { object-fit: contain; }
#dot-notice { border-left: 4px solid var(--color-accent); padding-left: 10px; }
#dot-examples .thumbnail-item { aspect-ratio: 16 / 9; }  /* room for the caption under a short row */
/* phones: the interpolated panel right under the α slider, the other two side by side below */
@media (max-width: 640px) {
  #dot-examples .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #dot-panels { flex-wrap: wrap !important; }
  #dot-panels > #dot-interpolated { order: -1; flex: 1 1 100% !important; }
  #dot-panels > #dot-original, #dot-panels > #dot-transported {
    flex: 1 1 40% !important; min-width: 0 !important; height: 190px !important; }
  #dot-original .icon-button-wrapper, #dot-transported .icon-button-wrapper { display: none; }  /* room for labels */
}
"""

INTRO = """
# Deep Optimal Transport: perceptual enhancement of restored images
Make a restoration model's outputs look like natural images without retraining it: DOT matches the
statistics of latent patches of your restored images to those of clean images by a closed-form optimal
transport map ([Adrai et al., NeurIPS 2023](https://arxiv.org/abs/2306.02342)). Then slide **α** between
the original restoration (α = 1, least distortion) and the fully transported image (α = 0, most
realistic), or beyond.
"""


def build_demo(startup: Startup | None = None) -> gr.Blocks:
    """The whole page; ``startup`` (default: probed now) says which latent space to start on."""
    startup = startup or probe_startup()
    examples = _example_items()
    with gr.Blocks(title="DOT · latent optimal transport", delete_cache=(1800, SESSION_TTL)) as demo:
        # freed SESSION_TTL after their last update, or an hour after the tab closes; files too
        cal_state = gr.State(None, time_to_live=SESSION_TTL, delete_callback=_free_files)
        img_state = gr.State(None, time_to_live=SESSION_TTL, delete_callback=_free_files)
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
            preset = gr.Dropdown([("your images above", ""), *_preset_choices()], value="", scale=2,
                                 label="…or a ready calibration for a weight-free restorer (preset)",
                                 visible=presets is not None)
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
        refresh = dict(fn=_refresh_images, inputs=[alpha, img_state], outputs=images_out,
                       api_visibility="private", show_progress="hidden")
        controls = dict(fn=_calibration_controls, inputs=cal_state, outputs=[encoder, patch_size],
                        api_visibility="private", show_progress="hidden")
        after = dict(fn=_after_image, inputs=[gt_file, alpha, img_state],
                     outputs=[before_after, gt_text, pd_plot, img_state], api_visibility="private")
        _heavy(
            calibrate_btn.click, calibrate,
            [restored, clean, encoder, patch_size, mode, fold_kernel, preset, cal_state, img_state],
            [summary, cal_state, img_state], api_name="calibrate",
        ).success(download_calibration, cal_state, cal_download, api_name="download_calibration").success(
            **controls).success(**refresh).success(**after)
        _heavy(
            cal_upload.upload, load_calibration_file, [cal_upload, fold_kernel, img_state],
            [summary, cal_state, img_state], api_name="load_calibration",
        ).success(download_calibration, cal_state, cal_download, api_visibility="private").success(
            **controls).success(**refresh).success(**after)

        # ---- events: enhance, α, ground truth
        # a new upload drops the previous image's ground truth (it would be compared silently)
        _heavy(image.upload, enhance, [image, alpha, cal_state], [*images_out, img_state],
               api_name="enhance").success(lambda: None, None, gt_file, api_visibility="private").success(**after)
        image.clear(_clear_image, None, [*images_out, before_after, img_state, gt_file, gt_text, pd_plot],
                    api_visibility="private")
        alpha.input(blend, [alpha, img_state], interpolated, api_name="blend", show_progress="hidden",
                    trigger_mode="always_last", concurrency_limit=4, concurrency_id="blend", js=BLEND_JS)
        alpha.release(_on_release, [alpha, img_state], [interpolated, before_after, gt_text, pd_plot],
                      api_visibility="private", show_progress="hidden", trigger_mode="always_last",
                      concurrency_limit=2, concurrency_id="release")
        _heavy(gt_file.upload, compare_ground_truth, [gt_file, alpha, img_state],
               [gt_text, pd_plot, img_state], api_name="ground_truth")
        gt_file.clear(compare_ground_truth, [gt_file, alpha, img_state], [gt_text, pd_plot, img_state],
                      api_visibility="private")
        if examples:
            _heavy(
                example_gallery.select, _run_selected_example,
                [example_gallery, encoder, fold_kernel, cal_state, img_state],
                [summary, cal_state, cal_download, encoder, patch_size, preset, image, gt_file, alpha,
                 *images_out, before_after, gt_text, pd_plot, img_state],
                api_visibility="private",
            )
    demo.queue(max_size=64, default_concurrency_limit=2)
    return demo


def _refresh_images(alpha: float, img_state: ImageState | None):
    """After a new calibration, the kept upload's panels (it was transported again)."""
    if img_state is None:
        return gr.skip(), gr.skip(), gr.skip()
    return img_state.original_png, img_state.transported_png, _blend_png(img_state, alpha, level=1)


def _calibration_controls(cal_state: CalibrationState):
    """Show the latent space and patch size of the calibration in use (a preset's or a file's)."""
    cal = cal_state.pipeline.calibration
    return cal.encoder, cal.patch_size


def _run_selected_example(gallery, encoder, fold_kernel, cal_state, img_state, evt: gr.SelectData,
                          progress=gr.Progress(), request: gr.Request = None):
    # ``gallery`` is unused: it is the first input so that a refusal at admission shows on it
    return run_example(evt.index, encoder, fold_kernel, cal_state, img_state, progress)


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch`` (Gradio 6 takes css there, not in Blocks)."""
    return dict(css=CSS, max_file_size=MAX_FILE_SIZE, state_session_capacity=1000)


STARTUP = probe_startup()
demo = build_demo(STARTUP)

if __name__ == "__main__":
    # The page says which latent space runs and why; say it on the console too.
    print("DOT app:", STARTUP.notice.replace("**", "").replace("`", ""), flush=True)
    demo.launch(**launch_options())
