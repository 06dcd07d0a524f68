"""Recipes of the ready calibrations: which weight-free degradation and restorer, on which photographs.

A preset names a degradation and a restorer that need no weights (Pillow, scikit-image), and
the bundled scikit-image photographs its calibration uses. This module holds those facts and
makes the restorations; :mod:`dot_core.presets` builds, ships and loads the calibrations.

Calibration protocol (unpaired, the weight-free restorers): each of the eight calibration photographs is restored whole,
then cut into two halves along its longer side; one half of the restoration joins the restored
set and the *other* half of the clean photograph joins the clean set (alternating sides), so no
clean image is the ground truth of any restored image, and both sets cover the same kinds of
content. The held-out photographs (:data:`HELD_OUT`) are never used for calibration; the
examples and ``bench/quality_report.py`` use only them.

Calibration protocol (paired, ``fsrcnn-x4``: a real learned restorer, FSRCNN ×4, whose weights
and tuning photographs are test data, never shipped; :mod:`dot_core.fsrcnn`): eight CBSD68
tuning photographs (:data:`FSRCNN_PHOTOS`), each degraded as FSRCNN was trained (OpenCV's cubic
×4 down-sampling) and restored by FSRCNN; each restoration is paired with its own original, as a
restoration researcher's validation set would be. Its examples are the same held-out crops.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "HELD_OUT",
    "CALIBRATION_PHOTOS",
    "EXAMPLE_CROPS",
    "COMMAND",
    "DETAIL_EPS",
    "DETAIL_SIGMA",
    "FSRCNN_PHOTOS",
    "Recipe",
    "RECIPES",
    "get_recipe",
    "bundled_photo",
    "to_pil",
    "estimate_noise_sigma",
    "make_restoration",
    "fit_to_restorer",
    "calibration_split",
    "crop",
]

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
# ε of ``detail`` for the presets whose restorations carry no interpolation grid. ``detail``'s
# default (0.3, chosen against the ×4 grid of bicubic restorations) synthesises (eq. 5) directions
# these restorations still have, and gains less texture than before; each value here was chosen by
# ``bench/tune_preset_eps.py`` on 256² crops of the TUNING photographs only, lattice not raised:
# the largest ε whose texture gain at α = 0 is at least the pre-issue-11 one (JPEG), else the ε of
# the largest gain (NLM-25: at detail's σ = 1 no ε reaches its gain with the former σ = 1.25,
# ε = 0.05). NLM-50 keeps a split σ of its own, 1.25 (a calibration records it; see DETAIL_SIGMA):
# at σ = 1 no ε or patch size (3, 5, 7) reached its former gain on the tuning crops, at σ = 1.25
# ε = 0.03 does (0.774× vs 0.783×). Figures in ``bench/results/tune_preset_eps_<name>*.md``.
DETAIL_EPS = {"denoise-nlm-25": 0.01, "denoise-nlm-50": 0.03, "jpeg-q10": 0.1}
# detail's split σ for the presets that choose their own (bench/tune_preset_eps.py --sigma).
DETAIL_SIGMA = {"denoise-nlm-50": 1.25}
# fsrcnn-x4's calibration pairs: the first eight CBSD68 tuning photographs (dot_core.fsrcnn.tuning_photos)
FSRCNN_PHOTOS = ("101085", "101087", "102061", "103070", "105025", "106024", "108005", "108070")


@dataclass(frozen=True)
class Recipe:
    """What a preset does to a clean photograph and how it restores it."""

    name: str
    title: str
    description: str
    degradation: dict  # what was done to the clean image
    restorer: dict  # what restored it
    patch_sizes: dict  # latent patch size per shipped encoder
    eps: dict  # ε of eq. 2 per latent that sets its own (relative to mean λ(Σs)); others: the encoder's
    # the restorer's lattice period in pixels (a ×p upscaler: p), recorded in every calibration of
    # the preset (Calibration.restoration_lattice); None: the restorer has none; "auto": found in the
    # restorations (dot_core.calibration.restorer_grid)
    restoration_lattice: int | str | None = None
    # settings of a latent that this preset chooses itself (detail: {"sigma": ...}); recorded in the
    # calibration's encoder_config, so dot_core.latents.registry.encoder_for rebuilds that latent
    encoder_settings: dict | None = None
    # CBSD68 tuning photographs calibrated as pairs (restoration, own original); empty: the unpaired
    # halves of CALIBRATION_PHOTOS
    paired_photos: tuple[str, ...] = ()


def _nlm_recipe(sigma_255: int, look: str, detail_eps: float, detail_sigma: float | None = None) -> Recipe:
    """Seeded Gaussian noise of σ = sigma_255/255, removed by scikit-image's non-local means."""
    return Recipe(
        f"denoise-nlm-{sigma_255}",
        f"Non-local means denoising, σ = {sigma_255}",
        f"Gaussian noise of σ = {sigma_255}/255 removed by scikit-image's non-local means: {look}.",
        {"kind": "gaussian-noise", "sigma": sigma_255 / 255, "sigma_255": sigma_255, "seed": sigma_255,
         "clip": [0, 1], "seeding": "numpy default_rng([seed, crc32 of the 8-bit clean image])"},
        {"kind": "non-local-means", "library": "scikit-image", "function": "skimage.restoration.denoise_nl_means",
         "h": "0.6·σ̂", "sigma": "σ̂", "patch_size": 5, "patch_distance": 6, "fast_mode": True,
         "sigma_estimate": "σ̂ = mean over channels of median(|Haar HH|)/0.6745 (estimate_sigma's estimator)"},
        {"detail": 5, "pixel": 3},
        {"detail": detail_eps},
        encoder_settings=None if detail_sigma is None else {"detail": {"sigma": detail_sigma}},
    )


RECIPES = (
    Recipe(
        "fsrcnn-x4",
        "FSRCNN ×4 super-resolution (a learned network)",
        "OpenCV's cubic ×4 down-sampling restored by FSRCNN, an MSE-trained CNN: sharp edges, smooth "
        "textures and a faint 4-pixel grid; calibrated on pairs.",
        {"kind": "downscale-opencv", "factor": 4, "filter": "cubic", "library": "OpenCV",
         "crop": "to a multiple of 4 from the top left", "size": "W/4 × H/4"},
        {"kind": "fsrcnn", "factor": 4, "library": "OpenCV dnn_superres", "weights": "FSRCNN_x4.pb",
         "source": "github.com/Saafke/FSRCNN_Tensorflow (Apache-2.0), not shipped: DOT_FSRCNN_WEIGHTS"},
        {"detail": 5, "pixel": 3},
        {},  # detail's own ε
        restoration_lattice="auto",  # found in the restorations: FSRCNN's stride-4 output prints a 4-pixel grid
        paired_photos=FSRCNN_PHOTOS,
    ),
    Recipe(
        "sr-bicubic-x4",
        "Bicubic ×4 super-resolution",
        "Downscaled ×4 and upscaled ×4 with Pillow's bicubic filter: smooth, blurred detail.",
        {"kind": "downscale", "factor": 4, "filter": "bicubic", "library": "Pillow",
         "size": "ceil(W/4) × ceil(H/4)"},
        {"kind": "upscale", "factor": 4, "filter": "bicubic", "library": "Pillow"},
        {"detail": 5, "pixel": 3},
        # with the restorer's ×4 band, ε = 0.2 meets every target on the tuning photographs with more
        # texture than detail's own 0.3 (bench/tune_detail.py --grid band); 0.1 breaks brick's monotonicity
        {"detail": 0.2},
        restoration_lattice=4,  # Pillow's bicubic ×4 leaves its 4-pixel interpolation phase
    ),
    _nlm_recipe(25, "waxy, flattened texture", DETAIL_EPS["denoise-nlm-25"]),
    _nlm_recipe(50, "strongly smoothed", DETAIL_EPS["denoise-nlm-50"], DETAIL_SIGMA["denoise-nlm-50"]),
    Recipe(
        "jpeg-q10",
        "JPEG decoding, quality 10",
        "Saved as JPEG at quality 10 (4:2:0) and decoded by Pillow: blocking, ringing, lost texture.",
        {"kind": "jpeg", "quality": 10, "subsampling": "4:2:0", "library": "Pillow"},
        {"kind": "jpeg-decode", "library": "Pillow"},
        {"detail": 5, "pixel": 3},
        {"detail": DETAIL_EPS["jpeg-q10"]},
    ),
)
_BY_NAME = {r.name: r for r in RECIPES}

def get_recipe(name: str) -> Recipe:
    """The recipe of preset ``name``; ``ValueError`` naming the valid ones otherwise."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]



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


def to_pil(x: np.ndarray) -> Image.Image:
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
    small = to_pil(x).resize((-(-W // f), -(-H // f)), Image.BICUBIC)
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
    to_pil(x).save(buf, format="JPEG", quality=int(d["quality"]), subsampling=2, optimize=False)
    buf.seek(0)
    return _from_pil(Image.open(buf))


def _fsrcnn(x: np.ndarray, factor: int) -> np.ndarray:
    """FSRCNN ×factor of the cubic-degraded ``x`` (sides a multiple of ``factor``); needs its weights."""
    from ..fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason

    if x.shape[0] % factor or x.shape[1] % factor:
        raise ValueError(f"clean_image sides must be multiples of {factor} for FSRCNN ×{factor}, got shape {x.shape}; "
                         "crop it first")
    reason = fsrcnn_unavailable_reason(factor)
    if reason is not None:
        raise ValueError(f"cannot restore with FSRCNN ×{factor}: {reason}")
    return fsrcnn_pair(x, factor)[0].astype(np.float32)


def fit_to_restorer(clean_image: np.ndarray, name: str) -> np.ndarray:
    """``clean_image`` cropped at its bottom and right to sides that are multiples of preset ``name``'s
    factor when its restorer needs them (FSRCNN: OpenCV's cubic down, then up); otherwise as it is."""
    r = get_recipe(name)
    if r.degradation["kind"] != "downscale-opencv":
        return clean_image
    f = int(r.degradation["factor"])
    return np.ascontiguousarray(clean_image[: clean_image.shape[0] // f * f, : clean_image.shape[1] // f * f])


def make_restoration(name: str, clean_image: np.ndarray) -> np.ndarray:
    """Degrade ``clean_image`` (H, W, 3) in [0, 1] and restore it as preset ``name`` says.

    Returns a float32 (H, W, 3) image in [0, 1] on the 8-bit grid; deterministic.
    """
    r = get_recipe(name)
    x = np.asarray(clean_image)
    if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < 8:
        raise ValueError(f"clean_image must be an (H, W, 3) array with sides ≥ 8, got shape {x.shape}")
    x = x.astype(np.float32)
    kind = r.degradation["kind"]
    if kind == "downscale-opencv":
        return _fsrcnn(x, int(r.degradation["factor"]))
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


def crop(x: np.ndarray, box: list[int]) -> np.ndarray:
    t, l, b, r = box
    return np.ascontiguousarray(x[t:b, l:r])
