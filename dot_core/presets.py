"""Ready calibrations ("presets") for restorations made by weight-free tools, with their recipes.

A preset names a degradation and a restorer that need no weights (Pillow, scikit-image), and
the bundled scikit-image photographs its calibration uses. Every file under the top-level
``presets/`` folder is rebuilt, deterministically, by one command::

    python -m dot_core.presets

which writes, for each preset, ``presets/<name>/recipe.json`` (degradation, restorer and its
parameters, calibration images, held-out images, latent spaces and patch sizes),
``presets/<name>/<encoder>.safetensors`` for the weight-free latents (``detail``, ``pixel``) and
``presets/<name>/examples/<photo>_{restored,clean}.png`` (small crops of held-out photographs).

Calibration protocol (unpaired): each of the eight calibration photographs is restored whole,
then cut into two halves along its longer side; one half of the restoration joins the restored
set and the *other* half of the clean photograph joins the clean set (alternating sides), so no
clean image is the ground truth of any restored image, and both sets cover the same kinds of
content. The held-out photographs (:data:`HELD_OUT`) are never used for calibration; the
examples and ``bench/quality_report.py`` use only them.

For a VAE latent no file is shipped: :func:`load_preset` builds the calibration from the recipe
on first use (when :func:`~dot_core.encoders.load_encoder` can load the VAE) and caches it under
``$XDG_CACHE_HOME/dot_core/presets/`` (default ``~/.cache/dot_core/presets/``).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .calibration import Calibration, Calibrator
from .calibration_file import load_calibration, save_calibration
from .encoders import load_encoder

__all__ = [
    "PRESETS_DIR",
    "HELD_OUT",
    "CALIBRATION_PHOTOS",
    "SHIPPED_ENCODERS",
    "Preset",
    "list_presets",
    "get_preset",
    "load_preset",
    "build_preset",
    "make_restoration",
    "bundled_photo",
    "calibration_split",
    "estimate_noise_sigma",
    "main",
]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
SHIPPED_ENCODERS = ("detail", "pixel")  # weight-free latents whose calibrations are in the repo
# Held out of every calibration; the examples and the quality report use only these.
HELD_OUT = ("astronaut", "coffee", "chelsea", "camera")
# Calibration photographs (restored half / clean half of each, see calibration_split).
CALIBRATION_PHOTOS = (
    "rocket", "motorcycle_left", "motorcycle_right", "immunohistochemistry",
    "hubble_deep_field", "moon", "coins", "grass",
)
# Example crops of held-out photographs: (top, left, height, width), sides ≤ 384.
EXAMPLE_CROPS = {
    "astronaut": (16, 96, 320, 320),
    "coffee": (40, 136, 320, 320),
    "chelsea": (0, 64, 296, 320),
}
COMMAND = "python -m dot_core.presets"


@dataclass(frozen=True)
class _Recipe:
    name: str
    title: str
    description: str
    degradation: dict  # what was done to the clean image
    restorer: dict  # what restored it
    patch_sizes: dict  # latent patch size per shipped encoder


def _nlm_recipe(sigma_255: int, look: str) -> _Recipe:
    """Seeded Gaussian noise of σ = sigma_255/255, removed by scikit-image's non-local means."""
    return _Recipe(
        f"denoise-nlm-{sigma_255}",
        f"Non-local means denoising, σ = {sigma_255}",
        f"Gaussian noise of σ = {sigma_255}/255 removed by scikit-image's non-local means: {look}.",
        {"kind": "gaussian-noise", "sigma": sigma_255 / 255, "sigma_255": sigma_255, "seed": sigma_255,
         "clip": [0, 1], "seeding": "numpy default_rng([seed, crc32 of the 8-bit clean image])"},
        {"kind": "non-local-means", "library": "scikit-image", "function": "skimage.restoration.denoise_nl_means",
         "h": "0.6·σ̂", "sigma": "σ̂", "patch_size": 5, "patch_distance": 6, "fast_mode": True,
         "sigma_estimate": "σ̂ = mean over channels of median(|Haar HH|)/0.6745 (estimate_sigma's estimator)"},
        {"detail": 5, "pixel": 3},
    )


_RECIPES = (
    _Recipe(
        "sr-bicubic-x4",
        "Bicubic ×4 super-resolution",
        "Downscaled ×4 and upscaled ×4 with Pillow's bicubic filter: smooth, blurred detail.",
        {"kind": "downscale", "factor": 4, "filter": "bicubic", "library": "Pillow",
         "size": "ceil(W/4) × ceil(H/4)"},
        {"kind": "upscale", "factor": 4, "filter": "bicubic", "library": "Pillow"},
        {"detail": 5, "pixel": 3},
    ),
    _nlm_recipe(25, "waxy, flattened texture"),
    _nlm_recipe(50, "strongly smoothed"),
    _Recipe(
        "jpeg-q10",
        "JPEG decoding, quality 10",
        "Saved as JPEG at quality 10 (4:2:0) and decoded by Pillow: blocking, ringing, lost texture.",
        {"kind": "jpeg", "quality": 10, "subsampling": "4:2:0", "library": "Pillow"},
        {"kind": "jpeg-decode", "library": "Pillow"},
        {"detail": 5, "pixel": 3},
    ),
)
_BY_NAME = {r.name: r for r in _RECIPES}


@dataclass(frozen=True)
class Preset:
    """A ready calibration set-up, as the app lists it."""

    name: str  # e.g. "sr-bicubic-x4"
    title: str  # for people, e.g. "Bicubic ×4 super-resolution"
    description: str  # one sentence on what the restorations look like
    encoders: tuple[str, ...]  # latent spaces with a ready calibration file
    examples: tuple[tuple[Path, Path], ...]  # (restored, clean) PNGs of held-out photographs


# ---- images ------------------------------------------------------------------------------


def bundled_photo(name: str) -> np.ndarray:
    """A scikit-image bundled photograph as float32 (H, W, 3) in [0, 1] (gray ones replicated)."""
    from skimage import data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        img = left if name == "motorcycle_left" else right
    elif name in HELD_OUT + CALIBRATION_PHOTOS:
        img = getattr(data, name)()
    else:
        raise ValueError(f"unknown bundled photograph {name!r}; use one of {sorted(HELD_OUT + CALIBRATION_PHOTOS)}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3], dtype=np.float32) / 255.0


def _to_pil(x: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8), mode="RGB")


def _from_pil(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _quantize(x: np.ndarray) -> np.ndarray:
    """Round to the 8-bit grid, as a restoration saved to PNG would be."""
    return (np.rint(np.clip(x, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def estimate_noise_sigma(x: np.ndarray) -> float:
    """Gaussian noise σ of ``x`` (H, W, 3): median(|HH|)/0.6745 on the finest Haar diagonal band.

    The estimator of ``skimage.restoration.estimate_sigma`` (Donoho & Johnstone 1994) with its
    default Haar wavelet, averaged over channels, written out so it needs no PyWavelets.
    """
    H, W = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    a = np.asarray(x[:H, :W], dtype=np.float64)
    hh = (a[0::2, 0::2] - a[0::2, 1::2] - a[1::2, 0::2] + a[1::2, 1::2]) / 2.0  # (H/2, W/2, 3)
    return float(np.mean(np.median(np.abs(hh), axis=(0, 1)) / 0.6744897501960817))


def _bicubic_resample(x: np.ndarray, d: dict) -> np.ndarray:
    H, W = x.shape[:2]
    f = int(d["factor"])
    small = _to_pil(x).resize((-(-W // f), -(-H // f)), Image.BICUBIC)
    return _from_pil(small.resize((W, H), Image.BICUBIC))


def _noise_nlm(x: np.ndarray, d: dict, r: dict) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    x8 = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    rng = np.random.default_rng([int(d["seed"]), zlib.crc32(x8.tobytes())])
    noisy = np.clip(x8 / 255.0 + d["sigma"] * rng.standard_normal(x.shape), 0.0, 1.0)
    s = estimate_noise_sigma(noisy)
    out = denoise_nl_means(
        noisy, h=0.6 * s, sigma=s, fast_mode=r["fast_mode"], patch_size=r["patch_size"],
        patch_distance=r["patch_distance"], channel_axis=-1,
    )
    return _quantize(out)


def _jpeg(x: np.ndarray, d: dict) -> np.ndarray:
    buf = io.BytesIO()
    _to_pil(x).save(buf, format="JPEG", quality=int(d["quality"]), subsampling=2, optimize=False)
    buf.seek(0)
    return _from_pil(Image.open(buf))


def make_restoration(name: str, clean_image: np.ndarray) -> np.ndarray:
    """Degrade ``clean_image`` (H, W, 3) in [0, 1] and restore it as preset ``name`` says.

    Returns a float32 (H, W, 3) image in [0, 1] on the 8-bit grid; deterministic.
    """
    r = _recipe(name)
    x = np.asarray(clean_image)
    if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < 8:
        raise ValueError(f"clean_image must be an (H, W, 3) array with sides ≥ 8, got shape {x.shape}")
    x = x.astype(np.float32)
    kind = r.degradation["kind"]
    if kind == "downscale":
        return _bicubic_resample(x, r.degradation)
    if kind == "gaussian-noise":
        return _noise_nlm(x, r.degradation, r.restorer)
    return _jpeg(x, r.degradation)


def calibration_split() -> list[dict]:
    """For each calibration photograph: the (top, left, bottom, right) boxes of its restored half
    and of its clean half (the other half; sides alternate from one photograph to the next)."""
    from skimage import data

    out = []
    for i, name in enumerate(CALIBRATION_PHOTOS):
        if name.startswith("motorcycle"):
            H, W = data.stereo_motorcycle()[0].shape[:2]
        else:
            H, W = getattr(data, name)().shape[:2]
        if W >= H:
            halves = [(0, 0, H, W // 2), (0, W // 2, H, W)]
        else:
            halves = [(0, 0, H // 2, W), (H // 2, 0, H, W)]
        restored, clean = halves if i % 2 == 0 else halves[::-1]
        out.append({"photo": name, "size": [H, W], "restored_box": list(restored), "clean_box": list(clean)})
    return out


def _crop(x: np.ndarray, box: list[int]) -> np.ndarray:
    t, l, b, r = box
    return np.ascontiguousarray(x[t:b, l:r])


@functools.lru_cache(maxsize=1)
def _calibration_images(name: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(restored halves, clean halves) of preset ``name``; cached: non-local means is slow."""
    restored, clean = [], []
    for item in calibration_split():
        x = bundled_photo(item["photo"])
        restored.append(_crop(make_restoration(name, x), item["restored_box"]))
        clean.append(_crop(x, item["clean_box"]))
    return tuple(restored), tuple(clean)


# ---- presets -----------------------------------------------------------------------------


def _recipe(name: str) -> _Recipe:
    if name not in _BY_NAME:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def _example_paths(name: str) -> tuple[tuple[Path, Path], ...]:
    folder = PRESETS_DIR / name / "examples"
    return tuple((folder / f"{p}_restored.png", folder / f"{p}_clean.png") for p in EXAMPLE_CROPS)


def _patch_size(recipe: _Recipe, encoder) -> int:
    return int(recipe.patch_sizes.get(encoder.name, encoder.default_patch_size))


def _eps(encoder) -> float:
    """The operator regularisation a preset uses: the latent's own default (Encoder.default_eps)."""
    return float(encoder.default_eps)


def recipe_dict(name: str) -> dict:
    """The recipe of preset ``name`` as written to ``presets/<name>/recipe.json``."""
    r = _recipe(name)
    latents = {}
    for enc_name in SHIPPED_ENCODERS:
        enc = load_encoder(enc_name, device="cpu")
        latents[enc_name] = {
            "patch_size": _patch_size(r, enc), "eps": _eps(enc), "file": f"{enc_name}.safetensors",
            "encoder": enc.describe(),
        }
    return {
        "name": r.name, "title": r.title, "description": r.description,
        "degradation": r.degradation, "restorer": r.restorer,
        "calibration": {
            "mode": "unpaired",
            "protocol": "each photograph restored whole, then halved along its longer side: one half of "
                        "the restoration is a restored image, the other half of the clean photograph a "
                        "clean image (boxes are top, left, bottom, right)",
            "images": calibration_split(),
        },
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


def list_presets() -> list[Preset]:
    """Every preset, with the encoders that have a ready file and its existing examples."""
    out = []
    for r in _RECIPES:
        folder = PRESETS_DIR / r.name
        encoders = tuple(e for e in SHIPPED_ENCODERS if (folder / f"{e}.safetensors").is_file())
        examples = tuple(pair for pair in _example_paths(r.name) if pair[0].is_file() and pair[1].is_file())
        out.append(Preset(r.name, r.title, r.description, encoders, examples))
    return out


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the valid ones otherwise."""
    _recipe(name)
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


def build_preset(name: str, encoder: str, out: str | os.PathLike | None = None) -> Path:
    """Calibrate preset ``name`` in latent space ``encoder`` from its recipe; returns the file.

    ``out`` defaults to ``presets/<name>/<encoder>.safetensors`` for the weight-free latents
    and to the user cache for VAEs. Raises ``EncoderUnavailableError`` when the VAE cannot load.
    """
    r = _recipe(name)
    enc = load_encoder(encoder)
    if out is None:
        shipped = enc.name in SHIPPED_ENCODERS
        out = PRESETS_DIR / name / f"{enc.name}.safetensors" if shipped else _cache_path(name, enc.name)
    out = Path(out)
    cal = Calibrator(enc, _patch_size(r, enc), eps=_eps(enc))
    restored, clean = _calibration_images(name)
    for img in restored:
        cal.add_restored(img)
    for img in clean:
        cal.add_clean(img)
    calibration = cal.fit()
    split = calibration_split()
    calibration.info.update({
        "preset": name,
        "restored_images": [f"{s['photo']}{s['restored_box']}" for s in split],
        "clean_images": [f"{s['photo']}{s['clean_box']}" for s in split],
        "held_out": list(HELD_OUT),
        "encoder_config": enc.describe(),
        "recipe": COMMAND,
    })
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
    _recipe(name)
    shipped = PRESETS_DIR / name / f"{encoder}.safetensors"
    if encoder in SHIPPED_ENCODERS and shipped.is_file():
        return load_calibration(shipped)
    enc = load_encoder(encoder)
    path = _cache_path(name, enc.name)
    if not path.is_file():
        build_preset(name, encoder, out=path)
    return load_calibration(path)


def _write_examples(name: str) -> None:
    for (restored_path, clean_path), (photo, (t, l, h, w)) in zip(_example_paths(name), EXAMPLE_CROPS.items()):
        clean = bundled_photo(photo)[t : t + h, l : l + w]
        restored_path.parent.mkdir(parents=True, exist_ok=True)
        _to_pil(clean).save(clean_path, format="PNG", optimize=True)
        _to_pil(make_restoration(name, clean)).save(restored_path, format="PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m dot_core.presets [NAME ...]``: rebuild presets/ (all presets by default)."""
    parser = argparse.ArgumentParser(prog="python -m dot_core.presets", description="Rebuild the ready calibrations in presets/.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"presets to rebuild (default: all of {', '.join(_BY_NAME)})")
    args = parser.parse_args(argv)
    for name in args.names or list(_BY_NAME):
        _recipe(name)
        folder = PRESETS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.json").write_text(json.dumps(recipe_dict(name), indent=2, ensure_ascii=False) + "\n")
        for enc_name in SHIPPED_ENCODERS:
            path = build_preset(name, enc_name)
            cal = load_calibration(path)
            print(f"{name} / {enc_name}: W2 = {cal.w2:.4g}, {cal.source.n:,} + {cal.target.n:,} patches → {path}")
        _write_examples(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
