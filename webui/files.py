"""The files the page serves: PNGs written atomically in per-upload folders of Gradio's cache."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import gradio as gr
import numpy as np

from dot_core.io.images import to_uint8  # not exported at the top level of dot_core
from dot_core.io.png import encode_png, png_with_provenance


def app_root() -> Path:
    """The one folder that holds every folder this app serves."""
    return Path(gr.utils.get_upload_folder()) / "dot_app"


def out_dir() -> Path:
    """A fresh folder inside Gradio's cache: served as is, removed by ``delete_cache``."""
    path = app_root() / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    return path


def png_bytes(img: np.ndarray, *, level: int, provenance: dict | None = None) -> bytes:
    """``img`` as an 8-bit PNG, with the ``dot_core`` text chunk saying how it was made (as the CLI's)."""
    png = encode_png(to_uint8(img), level=level)
    return png if provenance is None else png_with_provenance(png, provenance)


def write_png(img: np.ndarray, name: str, *, level: int = 1, folder: Path | None = None,
              provenance: dict | None = None) -> str:
    """``img`` as an 8-bit PNG named ``name`` (in a fresh folder unless ``folder``); its path."""
    path = (folder or out_dir()) / name
    tmp = path.with_name(f".{uuid.uuid4().hex}.part")
    tmp.write_bytes(png_bytes(img, level=level, provenance=provenance))
    os.replace(tmp, path)  # atomic: a request for this name never sees a half-written file
    return str(path)


def keep_newest(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest files of ``folder`` (bounds the disk a session uses)."""
    files = []
    for f in folder.glob("*.png"):
        try:
            files.append((f.stat().st_mtime_ns, f))
        except FileNotFoundError:  # removed by a concurrent call
            pass
    for _, f in sorted(files, reverse=True)[keep:]:
        f.unlink(missing_ok=True)


def free_replaced(old, new) -> None:
    """A session's state ``old`` replaced by ``new`` (a new upload, a recalibration): its files go now,
    not at the session's end, so a session holds one upload's and one calibration's folder at a time."""
    if old is not None and old is not new:
        free_files(old)


def free_files(state) -> None:
    """``gr.State`` delete callback: the session ended or its state expired; remove its files."""
    path = getattr(state, "original_png", None) or getattr(state, "file", None)
    if not path:
        return
    folder = Path(path).parent
    if folder.parent == app_root():  # only our own folders
        shutil.rmtree(folder, ignore_errors=True)
