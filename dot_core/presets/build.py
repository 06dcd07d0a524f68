"""Building a preset's calibration from its recipe, byte-identical from one rebuild to the next.

Sums of floating-point numbers depend on how they are split between threads, so a shipped
build runs on :data:`BUILD_THREADS` threads whatever the machine, and its creation time is
replaced by the command (:func:`_pin_timestamp`). VAE calibrations are not shipped: they are
built into the user cache (:func:`cache_path`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..calibration import Calibrator
from ..calibration.files import save_calibration
from . import recipes
from .catalog import (
    PRESETS_DIR,
    SHIPPED_ENCODERS,
    example_paths,
    image_names,
    recipe_dict,
    recipe_encoder,
    recipe_eps,
    recipe_patch_size,
    unavailable_reason,
)
from .recipes import (
    COMMAND,
    EXAMPLE_CROPS,
    HELD_OUT,
    Recipe,
    bundled_photo,
    crop,
    fit_to_restorer,
    get_recipe,
    make_restoration,
    to_pil,
)

__all__ = ["BUILD_THREADS", "build_preset", "cache_path", "write_examples"]

BUILD_THREADS = 1  # torch threads while a shipped calibration is built: the same sums everywhere


def _paired_images(r: Recipe) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(restorations, their originals) of a paired recipe's tuning photographs, each cropped to a
    multiple of the restorer's factor."""
    from ..fsrcnn import photos_dir
    from ..io.images import load_image

    reason = unavailable_reason(r.name)
    if reason is not None:
        raise ValueError(f"preset {r.name} cannot be built here: {reason}")
    restored, clean = [], []
    for stem in r.paired_photos:
        x = fit_to_restorer(load_image(photos_dir() / "cbsd68" / f"{stem}.png"), r.name)
        restored.append(make_restoration(r.name, x))
        clean.append(x)
    return tuple(restored), tuple(clean)


@functools.lru_cache(maxsize=1)
def calibration_images(name: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(restored, clean) images of preset ``name``: the unpaired halves, or a paired recipe's pairs;
    cached: non-local means is slow."""
    r = get_recipe(name)
    if r.paired_photos:
        return _paired_images(r)
    restored, clean = [], []
    for item in recipes.calibration_split():
        x = bundled_photo(item["photo"])
        restored.append(crop(make_restoration(name, x), item["restored_box"]))
        clean.append(crop(x, item["clean_box"]))
    return tuple(restored), tuple(clean)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dot_core" / "presets"


def cache_path(name: str, encoder_name: str) -> Path:
    """Cache file of preset ``name`` in a VAE latent; the key covers the recipe and the encoder."""
    key = json.dumps({"recipe": recipe_dict(name), "encoder": encoder_name}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder_name)[-48:]
    return _cache_dir() / name / f"{slug}-{digest}.safetensors"


@contextlib.contextmanager
def _threads(n: int | None):
    """Run the block on ``n`` torch threads (None: leave them as they are)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_preset(name: str, encoder: str, out: str | os.PathLike | None = None) -> Path:
    """Calibrate preset ``name`` in latent space ``encoder`` from its recipe; returns the file.

    ``out`` defaults to ``presets/<name>/<encoder>.safetensors`` for the weight-free latents
    and to the user cache for VAEs. Raises ``EncoderUnavailableError`` when the VAE cannot load.
    """
    r = get_recipe(name)
    enc = recipe_encoder(r, encoder)
    shipped = enc.name in SHIPPED_ENCODERS
    if out is None:
        out = PRESETS_DIR / name / f"{enc.name}.safetensors" if shipped else cache_path(name, enc.name)
    out = Path(out)
    restored, clean = calibration_images(name)
    with _threads(BUILD_THREADS if shipped else None):  # a VAE build is cached, not shipped: all threads
        # without the content match (docs/method.md "Content and degradation"): a preset's two sets are halves
        # of the same photographs (or pairs), and its shipped figures were measured on this calibration
        cal = Calibrator(enc, recipe_patch_size(r, enc), eps=recipe_eps(r, enc), restoration_lattice=r.restoration_lattice,
                         mode="paired" if r.paired_photos else "unpaired", match_content=False)
        if r.paired_photos:
            for pair in zip(restored, clean):
                cal.add_pair(*pair)
        else:
            for img in restored:
                cal.add_restored(img)
            for img in clean:
                cal.add_clean(img)
        calibration = cal.fit()
    calibration.content_source = calibration.content_target = None  # not used without the match: files as before
    calibration.info.update({
        "preset": name,
        **image_names(r),
        **({"mode_reason": "the recipe's: each restoration with its own original"} if r.paired_photos else {}),
        "held_out": list(HELD_OUT),
        "encoder_config": enc.describe(),
        "recipe": COMMAND,
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_calibration(calibration, tmp)
    _pin_timestamp(tmp)
    os.replace(tmp, out)
    return out


def _pin_timestamp(path: Path) -> None:
    """Make a calibration file byte-identical across rebuilds: a fixed creation note and a
    safetensors header with sorted keys (the writer's metadata order varies between runs)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"]["created"] = f"rebuilt by `{COMMAND}`"
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to a multiple of 8 bytes
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


def write_examples(name: str, root: Path) -> None:
    for (restored_path, clean_path), (photo, (t, l, h, w)) in zip(example_paths(name, root), EXAMPLE_CROPS.items()):
        clean = bundled_photo(photo)[t : t + h, l : l + w]
        restored_path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(clean).save(clean_path, format="PNG", optimize=True)
        to_pil(make_restoration(name, clean)).save(restored_path, format="PNG", optimize=True)
