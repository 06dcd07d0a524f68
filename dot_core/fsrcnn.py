"""A real learned restorer for tests, benchmarks and presets: FSRCNN (Dong, Loy & Tang, ECCV 2016).

FSRCNN is an MSE-trained super-resolution CNN, the kind of distortion-focused restorer DOT is
for. Its weights are test data (``../shared/weights/fsrcnn`` or ``DOT_FSRCNN_WEIGHTS``), never
shipped; it runs through OpenCV's ``dnn_superres`` (``opencv-contrib-python-headless``), imported
only when called. The degradation it was trained for is OpenCV's plain cubic down-sampling of an
image cropped to a multiple of the scale (its README); :func:`fsrcnn_pair` makes exactly that.

The natural photographs of ``../shared/data/photos`` (Kodak24, CBSD68) are split once, here, into
*tuning* photographs (CBSD68: every setting is chosen on them) and *reporting* photographs
(Kodak24: figures are quoted on them and no sweep may read them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "SCALES",
    "fsrcnn_dir",
    "photos_dir",
    "fsrcnn_unavailable_reason",
    "tuning_photos",
    "reporting_photos",
    "degrade_cubic",
    "restore_fsrcnn",
    "fsrcnn_pair",
]

SCALES = (2, 3, 4)
_ROOT = Path(__file__).resolve().parent.parent


def fsrcnn_dir() -> Path:
    """Where the FSRCNN ``.pb`` files are looked for: ``DOT_FSRCNN_WEIGHTS`` or ``../shared/weights/fsrcnn``."""
    return Path(os.environ.get("DOT_FSRCNN_WEIGHTS") or _ROOT.parent / "shared" / "weights" / "fsrcnn")


def photos_dir() -> Path:
    """Where the Kodak24 / CBSD68 photographs are looked for: ``DOT_PHOTOS`` or ``../shared/data/photos``."""
    return Path(os.environ.get("DOT_PHOTOS") or _ROOT.parent / "shared" / "data" / "photos")


def fsrcnn_unavailable_reason(scale: int = 4) -> str | None:
    """Why FSRCNN ×``scale`` cannot run here (a sentence), or ``None`` when it can."""
    path = fsrcnn_dir() / f"FSRCNN_x{scale}.pb"
    if not path.is_file():
        return f"FSRCNN weights not found at {path} (set DOT_FSRCNN_WEIGHTS to their folder)"
    try:
        import cv2

        cv2.dnn_superres.DnnSuperResImpl_create
    except (ImportError, AttributeError):
        return "OpenCV's dnn_superres is not installed (pip install opencv-contrib-python-headless)"
    return None


def _photos(collection: str) -> list[Path]:
    folder = photos_dir() / collection
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def tuning_photos() -> list[Path]:
    """The 68 CBSD68 photographs: settings are chosen on these (empty when absent)."""
    return _photos("cbsd68")


def reporting_photos() -> list[Path]:
    """The 24 Kodak24 photographs: figures are reported on these and nothing is tuned on them."""
    return _photos("kodak24")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def degrade_cubic(clean: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """FSRCNN's training degradation: crop to a multiple of ``scale``, OpenCV cubic down-sampling.

    Returns ``(low_resolution, cropped_truth)``, both uint8 RGB.
    """
    import cv2

    hr = _to_uint8(clean)
    h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
    if h == 0 or w == 0:
        raise ValueError(f"image {clean.shape[:2]} is smaller than the scale {scale}")
    hr = np.ascontiguousarray(hr[:h, :w])
    lr = cv2.resize(hr, (w // scale, h // scale), interpolation=cv2.INTER_CUBIC)
    return lr, hr


_MODELS: dict[int, object] = {}


def restore_fsrcnn(low_resolution: np.ndarray, scale: int = 4) -> np.ndarray:
    """FSRCNN ×``scale`` of a uint8 (or [0, 1] float) RGB image; returns float64 RGB in [0, 1]."""
    reason = fsrcnn_unavailable_reason(scale)
    if reason is not None:
        raise RuntimeError(reason)
    import cv2

    model = _MODELS.get(scale)
    if model is None:
        model = cv2.dnn_superres.DnnSuperResImpl_create()
        model.readModel(str(fsrcnn_dir() / f"FSRCNN_x{scale}.pb"))
        model.setModel("fsrcnn", scale)
        _MODELS[scale] = model
    bgr = np.ascontiguousarray(_to_uint8(low_resolution)[:, :, ::-1])
    out = model.upsample(bgr)
    return out[:, :, ::-1].astype(np.float64) / 255.0


def fsrcnn_pair(clean: np.ndarray, scale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(restored, truth)`` float64 [0, 1] RGB of the same size: FSRCNN on the cubic-degraded photo."""
    lr, hr = degrade_cubic(clean, scale)
    return restore_fsrcnn(lr, scale), hr.astype(np.float64) / 255.0
