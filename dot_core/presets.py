"""Ready calibrations ("presets"): build them from their recipes, ship them, load them.

The recipes (degradation, restorer, photographs) are in :mod:`dot_core.preset_recipes`. Every
file under the top-level ``presets/`` folder is rebuilt by one command::

    python -m dot_core.presets [NAME ...] [--out-dir DIR]

which writes, for each preset, ``presets/<name>/recipe.json`` (degradation, restorer and its
parameters, calibration images, held-out images, latent spaces and patch sizes),
``presets/<name>/<encoder>.safetensors`` for the weight-free latents (``detail``, ``pixel``) and
``presets/<name>/examples/<photo>_{restored,clean}.png`` (small crops of held-out photographs).

Reproducibility: the files are byte-identical from one rebuild to the next with the same torch,
NumPy, Pillow and scikit-image (the file records the torch version that wrote it). Sums of
floating-point numbers depend on how they are split between threads, so a build runs on
:data:`BUILD_THREADS` threads whatever the machine; its creation time is replaced by the command.

For a VAE latent no file is shipped: :func:`load_preset` builds the calibration from the recipe
on first use (when :func:`~dot_core.latents.registry.load_encoder` can load the VAE) and caches it under
``$XDG_CACHE_HOME/dot_core/presets/`` (default ``~/.cache/dot_core/presets/``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .calibration import Calibration, Calibrator
from .calibration.files import load_calibration, save_calibration
from .latents.registry import detail_encoder, load_encoder
from .preset_recipes import (
    CALIBRATION_PHOTOS,
    COMMAND,
    EXAMPLE_CROPS,
    HELD_OUT,
    RECIPES,
    Recipe,
    bundled_photo,
    calibration_split,
    crop,
    estimate_noise_sigma,
    get_recipe,
    make_restoration,
    to_pil,
)

__all__ = [
    "PRESETS_DIR",
    "HELD_OUT",
    "CALIBRATION_PHOTOS",
    "SHIPPED_ENCODERS",
    "BUILD_THREADS",
    "Preset",
    "list_presets",
    "get_preset",
    "load_preset",
    "build_preset",
    "unavailable_reason",
    "make_restoration",
    "bundled_photo",
    "calibration_split",
    "estimate_noise_sigma",
    "main",
]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
SHIPPED_ENCODERS = ("detail", "pixel")  # weight-free latents whose calibrations are in the repo
BUILD_THREADS = 1  # torch threads while a shipped calibration is built: the same sums everywhere


@dataclass(frozen=True)
class Preset:
    """A ready calibration set-up, as the app lists it."""

    name: str  # e.g. "sr-bicubic-x4"
    title: str  # for people, e.g. "Bicubic ×4 super-resolution"
    description: str  # one sentence on what the restorations look like
    encoders: tuple[str, ...]  # latent spaces with a ready calibration file
    examples: tuple[tuple[Path, Path], ...]  # (restored, clean) PNGs of held-out photographs


def unavailable_reason(name: str) -> str | None:
    """Why preset ``name`` cannot be rebuilt here (its restorer's weights or photographs are absent), or None."""
    r = get_recipe(name)
    if not r.paired_photos:
        return None
    from .fsrcnn import fsrcnn_unavailable_reason, photos_dir

    missing = [p for p in r.paired_photos if not (photos_dir() / "cbsd68" / f"{p}.png").is_file()]
    if missing:
        return f"CBSD68 photographs not found in {photos_dir() / 'cbsd68'} ({', '.join(missing)}; set DOT_PHOTOS)"
    return fsrcnn_unavailable_reason(int(r.degradation["factor"]))


def _paired_images(r: Recipe) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(restorations, their originals) of a paired recipe's tuning photographs, each cropped to a
    multiple of the restorer's factor."""
    from .fsrcnn import photos_dir
    from .io.images import load_image

    reason = unavailable_reason(r.name)
    if reason is not None:
        raise ValueError(f"preset {r.name} cannot be built here: {reason}")
    f, restored, clean = int(r.degradation["factor"]), [], []
    for stem in r.paired_photos:
        x = load_image(photos_dir() / "cbsd68" / f"{stem}.png")
        x = np.ascontiguousarray(x[: x.shape[0] // f * f, : x.shape[1] // f * f])
        restored.append(make_restoration(r.name, x))
        clean.append(x)
    return tuple(restored), tuple(clean)


@functools.lru_cache(maxsize=1)
def _calibration_images(name: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(restored, clean) images of preset ``name``: the unpaired halves, or a paired recipe's pairs;
    cached: non-local means is slow."""
    r = get_recipe(name)
    if r.paired_photos:
        return _paired_images(r)
    restored, clean = [], []
    for item in calibration_split():
        x = bundled_photo(item["photo"])
        restored.append(crop(make_restoration(name, x), item["restored_box"]))
        clean.append(crop(x, item["clean_box"]))
    return tuple(restored), tuple(clean)


def _example_paths(name: str, root: Path = PRESETS_DIR) -> tuple[tuple[Path, Path], ...]:
    folder = root / name / "examples"
    return tuple((folder / f"{p}_restored.png", folder / f"{p}_clean.png") for p in EXAMPLE_CROPS)


def _encoder(recipe: Recipe, name: str, **kwargs):
    """Latent space ``name`` with the settings ``recipe`` chooses for it (detail's σ), else its defaults."""
    settings = (recipe.encoder_settings or {}).get(name)
    if settings and name == "detail":
        return detail_encoder(float(settings["sigma"]), **kwargs)
    return load_encoder(name, **kwargs)


def _patch_size(recipe: Recipe, encoder) -> int:
    return int(recipe.patch_sizes.get(encoder.name, encoder.default_patch_size))


def _eps(recipe: Recipe, encoder) -> float:
    """The ε of eq. 2 a preset uses in a latent: its recipe's (``Recipe.eps``), else the latent's
    own default (``Encoder.default_eps``)."""
    return float(recipe.eps.get(encoder.name, encoder.default_eps))


def recipe_dict(name: str) -> dict:
    """The recipe of preset ``name`` as written to ``presets/<name>/recipe.json``."""
    r = get_recipe(name)
    latents = {}
    for enc_name in SHIPPED_ENCODERS:
        enc = _encoder(r, enc_name, device="cpu")
        latents[enc_name] = {
            "patch_size": _patch_size(r, enc), "eps": _eps(r, enc), "file": f"{enc_name}.safetensors",
            "encoder": enc.describe(),
        }
    return {
        "name": r.name, "title": r.title, "description": r.description,
        "degradation": r.degradation, "restorer": r.restorer, "restoration_lattice": r.restoration_lattice,
        "calibration": _calibration_dict(r),
        "held_out": list(HELD_OUT),
        "examples": [
            {"photo": p, "crop": {"top": t, "left": l, "height": h, "width": w},
             "restored": f"examples/{p}_restored.png", "clean": f"examples/{p}_clean.png"}
            for p, (t, l, h, w) in EXAMPLE_CROPS.items()
        ],
        "latents": latents,
        "other_latents": "VAE latents are built from this recipe on first use with the encoder's default patch size and eps",
        "command": COMMAND,
    }


def _calibration_dict(r: Recipe) -> dict:
    """recipe.json's "calibration": the mode, the protocol and the images."""
    if r.paired_photos:
        return {
            "mode": "paired",
            "protocol": "each tuning photograph (CBSD68, ../shared/data/photos or DOT_PHOTOS) cropped to a "
                        "multiple of 4, degraded and restored as above; each restoration is paired with its own "
                        "original",
            "images": [f"cbsd68/{p}.png" for p in r.paired_photos],
        }
    return {
        "mode": "unpaired",
        "protocol": "each photograph restored whole, then halved along its longer side: one half of "
                    "the restoration is a restored image, the other half of the clean photograph a "
                    "clean image (boxes are top, left, bottom, right)",
        "images": calibration_split(),
    }


def _image_names(r: Recipe) -> dict:
    """The calibration's record of its images (``info``): restored and clean, by name."""
    if r.paired_photos:
        names = [f"cbsd68/{p}.png" for p in r.paired_photos]
        return {"restored_images": [f"{n} ({r.restorer['kind']} ×{r.restorer['factor']})" for n in names],
                "clean_images": names}
    split = calibration_split()
    return {"restored_images": [f"{s['photo']}{s['restored_box']}" for s in split],
            "clean_images": [f"{s['photo']}{s['clean_box']}" for s in split]}


def list_presets() -> list[Preset]:
    """Every preset, with the encoders that have a ready file and its existing examples."""
    out = []
    for r in RECIPES:
        folder = PRESETS_DIR / r.name
        encoders = tuple(e for e in SHIPPED_ENCODERS if (folder / f"{e}.safetensors").is_file())
        examples = tuple(pair for pair in _example_paths(r.name) if pair[0].is_file() and pair[1].is_file())
        out.append(Preset(r.name, r.title, r.description, encoders, examples))
    return out


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the valid ones otherwise."""
    get_recipe(name)
    return next(p for p in list_presets() if p.name == name)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dot_core" / "presets"


def _cache_path(name: str, encoder_name: str) -> Path:
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
    enc = _encoder(r, encoder)
    shipped = enc.name in SHIPPED_ENCODERS
    if out is None:
        out = PRESETS_DIR / name / f"{enc.name}.safetensors" if shipped else _cache_path(name, enc.name)
    out = Path(out)
    restored, clean = _calibration_images(name)
    with _threads(BUILD_THREADS if shipped else None):  # a VAE build is cached, not shipped: all threads
        # without the content match (docs/method.md "Content and degradation"): a preset's two sets are halves
        # of the same photographs (or pairs), and its shipped figures were measured on this calibration
        cal = Calibrator(enc, _patch_size(r, enc), eps=_eps(r, enc), restoration_lattice=r.restoration_lattice,
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
        **_image_names(r),
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


def load_preset(name: str, encoder: str = "detail") -> Calibration:
    """The calibration of preset ``name`` in latent space ``encoder``.

    Shipped files are read from ``presets/``; otherwise the calibration is built from the recipe
    on first use (needs :func:`load_encoder` to succeed) and cached, then reused.
    """
    get_recipe(name)
    shipped = PRESETS_DIR / name / f"{encoder}.safetensors"
    if encoder in SHIPPED_ENCODERS and shipped.is_file():
        return load_calibration(shipped)
    enc = load_encoder(encoder)
    path = _cache_path(name, enc.name)
    if not path.is_file():
        build_preset(name, encoder, out=path)
    return load_calibration(path)


def _write_examples(name: str, root: Path) -> None:
    for (restored_path, clean_path), (photo, (t, l, h, w)) in zip(_example_paths(name, root), EXAMPLE_CROPS.items()):
        clean = bundled_photo(photo)[t : t + h, l : l + w]
        restored_path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(clean).save(clean_path, format="PNG", optimize=True)
        to_pil(make_restoration(name, clean)).save(restored_path, format="PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m dot_core.presets [NAME ...] [--out-dir DIR]``: rebuild presets/ (all by default)."""
    names = [r.name for r in RECIPES]
    parser = argparse.ArgumentParser(prog=COMMAND, description="Rebuild the ready calibrations in presets/.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"presets to rebuild (default: all of {', '.join(names)})")
    parser.add_argument("--out-dir", type=Path, default=PRESETS_DIR, metavar="DIR",
                        help="write DIR/<name>/... instead of the project's presets/ folder (e.g. to compare)")
    args = parser.parse_args(argv)
    for name in args.names or names:
        get_recipe(name)
        reason = unavailable_reason(name)
        if reason is not None:  # a preset whose restorer is test data (FSRCNN): its committed files stay
            print(f"{name}: not rebuilt: {reason}")
            if name in args.names:
                return 2
            continue
        folder = args.out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.json").write_text(json.dumps(recipe_dict(name), indent=2, ensure_ascii=False) + "\n")
        for enc_name in SHIPPED_ENCODERS:
            path = build_preset(name, enc_name, out=folder / f"{enc_name}.safetensors")
            cal = load_calibration(path)
            print(f"{name} / {enc_name}: W2 = {cal.w2:.4g}, {cal.source.n:,} + {cal.target.n:,} patches → {path}")
        _write_examples(name, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
