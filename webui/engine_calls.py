"""The page's adapter to the engine (``dot_core``): the calls the handlers share (read uploads, fit,
transport, new session states).

``fit`` and ``transport`` are the heavy calls: on a ZeroGPU Space they borrow a GPU (``spaces.GPU``).
Engine errors (``ValueError`` & co., whose messages name the file and the fix) become the visitor's
``gr.Error`` here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dot_core import (
    KNOWN_VAES,
    WEIGHT_FREE,
    Calibrator,
    DOTPipeline,
    EncoderUnavailableError,
    TransportConfig,
    encoder_for,
    load_encoder,
    load_image,
    save_calibration,
)
from dot_core.calibration.files import check_savable
from dot_core.calibration.reach import enhanced_reach
from serving.image_store import ArrayStore

from .errors import engine_error, fail
from .files import out_dir, write_png
from .settings import COLOR_FIX_AUTO, FOLD_AUTO, NOISE_DEFAULT
from .state import CalibrationState, ImageState

try:  # Hugging Face ZeroGPU: borrow a GPU for the heavy calls; a no-op everywhere else
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):
        return fn


def read_image(path: str, what: str, *, max_pixels: int) -> np.ndarray:
    """An uploaded image as float32 RGB; a missing or unreadable one is the visitor's message."""
    if not path:
        raise fail(f"No {what} was given.")
    try:
        return load_image(path, max_pixels=max_pixels, name=Path(path).name)
    except (ValueError, TypeError) as exc:
        raise engine_error(exc) from None


def paths(files) -> list[str]:
    """A ``gr.File`` value (nothing, one path or a list) as a list of paths."""
    if files is None:
        return []
    return [str(f) for f in (files if isinstance(files, list) else [files])]


def check_encoder(name: str, *, custom_encoders: bool) -> None:
    """Refuse latent-space names that are not names (and, unless ``custom_encoders``, unlisted ones)."""
    if len(name) > 512 or not name.isprintable():
        raise fail("encoder: not a latent-space name (at most 512 printable characters).")
    listed = (*WEIGHT_FREE, *KNOWN_VAES)
    if not custom_encoders and name not in listed:
        raise fail(f"encoder {name!r}: this public app runs only the listed latent spaces "
                   f"({', '.join(listed)}); run the app yourself to use a repo id or a local folder.")


@gpu
def fit(jobs: list[tuple[str, np.ndarray, np.ndarray | None]], encoder: str, patch_size: int, mode: str, *,
        restoration_lattice: int | str | None = None, eps: float | None = None):
    """Encode every image, collect patch moments, fit the operator (eq. 2); a Calibration.

    ``restoration_lattice``: the restorer's lattice period the visitor declared (a ×4 upscaler: 4), None,
    or "auto": found from the restored images (dot_core.calibration.restorer_grid); ``eps``: the operator's
    regularisation ε (None: the latent's own, ``Encoder.default_eps``).

    ``jobs``: ("restored" | "clean", image, None) or ("pair", restored, clean). Progress goes
    through tqdm (tracked by ``gr.Progress(track_tqdm=True)``, also under ZeroGPU).
    """
    calibrator = Calibrator(load_encoder(encoder), patch_size, mode=mode, restoration_lattice=restoration_lattice,
                            eps=eps)
    # its file must load: refuse before encoding
    check_savable(calibrator.source.dim, mode=mode, method=calibrator.method)
    for role, a, b in tqdm(jobs, desc="encoding", unit="image"):
        if role == "pair":
            calibrator.add_pair(a, b)
        elif role == "restored":
            calibrator.add_restored(a)
        else:
            calibrator.add_clean(a)
    return calibrator.fit()


@gpu
def transport(pipeline: DOTPipeline, image: np.ndarray):
    """x̂0 = D(T(E(x*))), computed once per upload (latents dropped: blends need pixels only)."""
    enhanced = pipeline.enhance(image)
    return dataclasses.replace(enhanced, latent=None, latent_transported=None)


@gpu
def transport_with_reach(pipeline: DOTPipeline, image: np.ndarray):
    """:func:`transport`, and how far it got on this image after the fold (a summary line, or "")."""
    enhanced = pipeline.enhance(image)
    reach = enhanced_reach(enhanced, pipeline.calibration)  # None: a latent smaller than two patches
    reach = "" if reach is None else reach.describe("this image, after the fold")
    return dataclasses.replace(enhanced, latent=None, latent_transported=None), reach


def new_calibration(cal, fold_kernel: str, source: str, *, custom_encoders: bool,
                    color_fix: str = COLOR_FIX_AUTO, noise: str = NOISE_DEFAULT) -> CalibrationState:
    """The pipeline applying ``cal`` (with ``color_fix``: auto, none, wavelet or adain; ``noise``: how
    eq. 5's noise is spread, stationary or local), saved for download."""
    # a calibration file names its latent space: a stranger's may name anything
    check_encoder(cal.encoder, custom_encoders=custom_encoders)
    try:
        encoder = encoder_for(cal)  # with the settings it recorded (a preset's own detail σ)
        config = TransportConfig(fold_kernel=None if fold_kernel == FOLD_AUTO else fold_kernel, color_fix=color_fix,
                                 noise=noise)
        pipeline = DOTPipeline(encoder, cal, config=config)
    except (EncoderUnavailableError, ValueError, OSError) as exc:
        raise engine_error(exc) from None
    file = out_dir() / f"dot_calibration_{Path(cal.encoder).name}_p{cal.patch_size}.safetensors"
    save_calibration(cal, file)
    return CalibrationState(pipeline=pipeline, file=str(file), source=source)


def provenance(pipeline: DOTPipeline, alpha: float) -> dict:
    """What a served PNG of x̂α depends on, as the CLI records it (the ``dot_core`` chunk)."""
    return {**pipeline.provenance, "alpha": float(alpha), "space": "pixel"}


def new_image(images: ArrayStore, pipeline: DOTPipeline, image: np.ndarray, stem: str) -> ImageState:
    """Transport ``image`` and keep x*, x̂0 in ``images`` and as PNGs in a new folder."""
    try:
        enhanced, reach = transport_with_reach(pipeline, image)
    except (ValueError, MemoryError) as exc:
        raise engine_error(exc) from None
    folder = out_dir()  # this upload's files; its α images go to folder/blends (previews) and folder/compact
    return ImageState(
        pipeline=pipeline,
        kept=images.keep(folder, original=enhanced.original, transported=enhanced.transported),
        stem=stem,
        original_png=write_png(enhanced.original, f"{stem}.png", folder=folder,  # the upload, as a PNG
                               provenance=provenance(pipeline, 1.0)),
        transported_png=write_png(enhanced.transported, f"{stem}_alpha0.png", folder=folder,
                                  provenance=provenance(pipeline, 0.0)),
        reach=reach,
    )


def follow(images: ArrayStore, img_state: ImageState | None, cal_state: CalibrationState) -> ImageState | None:
    """The kept upload, transported again with a new calibration (its ground truth kept)."""
    if img_state is None:
        return None
    new = new_image(images, cal_state.pipeline, img_state.enhanced().original, img_state.stem)
    if img_state.ground_truth is None:
        return new
    # kept again in the new folder: the old one is removed once the new state replaces it
    return dataclasses.replace(new, ground_truth=images.keep(new.folder, clean=img_state.clean()))
