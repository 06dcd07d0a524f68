"""Which photographs tune the defaults and which report them, and the measurement both share.

TUNING photographs choose every default of ``detail`` (``bench/tune_detail.py``); REPORTING
photographs are what ``bench/quality_report.py`` and README report, and no sweep ever measures
them. Neither set is in any calibration (``dot_core.presets.CALIBRATION_PHOTOS``: the 8 + 8
unpaired halves of rocket, motorcycle left/right, immunohistochemistry, hubble_deep_field, moon,
coins, grass). All are bundled in scikit-image's wheel (no download).
"""

from __future__ import annotations

import numpy as np

from dot_core.quality.lattice import lattice_ratio
from dot_core.quality.metrics import psnr, ssim, texture_distance

# Defaults are chosen on these (all gray, replicated to RGB): two textures and a motion-blurred
# photograph of a clock on a flat wall, where a grid shows. (cell was tried and left out: its
# bicubic restoration is already at 52 dB, and already 7× its ground truth's lattice share.)
TUNING = ("brick", "gravel", "clock")
# Tuning photographs with large flat regions, which brick and gravel lack: they join TUNING for the
# stages that decide what happens there (how eq. 5's noise is spread, bench/tune_detail.py --grid
# noise; the colour fix, bench/taef2_colorfix.py). Never reported either.
TUNING_FLAT = ("retina",)
# Tuning photographs that count for the lattice targets only: clock's restoration is already close
# to its motion-blurred ground truth, so texture and PSNR there say little about a sharp photo.
LATTICE_ONLY = ("clock",)
# Figures are reported on these only; the presets' example crops come from them too.
REPORTING = ("astronaut", "coffee", "chelsea", "camera")
# Lattice period of each preset's artifact: ×4 upscaling's phase, JPEG's 8×8 blocks.
LATTICE_PERIOD = {"sr-bicubic-x4": 4, "fsrcnn-x4": 4, "jpeg-q10": 8, "denoise-nlm-25": 4, "denoise-nlm-50": 4}


def load_photo(name: str) -> np.ndarray:
    """A bundled photograph of either set as float32 (H, W, 3) in [0, 1]."""
    from skimage import data

    if name not in TUNING + TUNING_FLAT + REPORTING:
        raise ValueError(f"unknown photograph {name!r}; use one of {TUNING + TUNING_FLAT + REPORTING}")
    img = getattr(data, name)()
    if name == "retina":
        h, w = img.shape[:2]
        img = img[(h - 512) // 2 : (h + 512) // 2, (w - 512) // 2 : (w + 512) // 2]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3], dtype=np.float32) / 255.0


def measure(x: np.ndarray, clean: np.ndarray, period: int, *, fast: bool = False) -> dict[str, float]:
    """PSNR, SSIM, texture distance and lattice ratio of ``x`` against the ground truth ``clean``."""
    tex = {"n_patches": 1024, "n_projections": 64} if fast else {}
    return {
        "psnr": psnr(x, clean), "ssim": ssim(x, clean), "texture": texture_distance(x, clean, **tex),
        "lattice": lattice_ratio(x, clean, period=period),
    }


def target_check(rows: dict[float, dict[str, float]], *, sr: bool) -> dict[str, bool]:
    """Issue 11's targets for one photograph, from its metrics per α (α = 1 is the restoration).

    ``sr``: the ×4 super-resolution targets (lattice ≤ 2× GT at α = 0, ≤ 3× at α = −1, texture
    ≤ 0.7× the restoration's, PSNR ≥ restoration − 1 dB); otherwise texture no worse than the
    restoration and the lattice not increased. Always: texture falls monotonically from α = 1 to −1.
    """
    r1, r0, rm = rows[1.0], rows[0.0], rows[-1.0]
    down = sorted((a for a in rows if -1.0 <= a <= 1.0), reverse=True)
    monotone = all(rows[a]["texture"] > rows[b]["texture"] for a, b in zip(down, down[1:]))
    if sr:
        return {"lattice0": r0["lattice"] <= 2.0, "lattice-1": rm["lattice"] <= 3.0,
                "texture0": r0["texture"] <= 0.7 * r1["texture"], "psnr0": r0["psnr"] >= r1["psnr"] - 1.0,
                "monotone": monotone}
    return {"texture0": r0["texture"] <= r1["texture"], "lattice0": r0["lattice"] <= max(r1["lattice"], 1.0) * 1.05,
            "monotone": monotone}
