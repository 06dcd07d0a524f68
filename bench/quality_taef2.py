"""The quality report's taef2 rows: sr-bicubic-x4 through a real learned latent, plain and colour-fixed.

taef2 (FLUX.2's tiny autoencoder, C = 32, ×8; MIT weights, never in the repository) is read from
``DOT_TEST_WEIGHTS`` or ``../shared/weights/taef2``. Its calibration is built at run time from the
``sr-bicubic-x4`` recipe exactly as a preset's (``dot_core.presets.recipes``: unpaired, the 8 restored
+ 8 clean halves of the eight calibration photographs), with the latent's own patch size and ε.

Two variants share one transport per photograph (x̂0 of eq. 4 of Adrai et al. 2023):

* ``taef2 plain``: ``TransportConfig(color_fix="none", lattice_fix=False)``, the paper's method;
* ``taef2 + wavelet``: ``TransportConfig(color_fix="wavelet")``, the pipeline's
  default for learned latents (``dot_core.colorfix``), applied by that pipeline's own ``fix``.

The lattice ratio is measured at p = 8, the decoder's three ×2 nearest up-samplings (its lattice
frequencies k/8 include the ×4 restorer's k/4). Targets are issue 12's, at α = 0: PSNR within 2 dB
of the restoration and texture at most 0.7× the restoration's.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from crops import crop_strip

from dot_core import Calibrator, DOTPipeline, TransportConfig, load_encoder
from dot_core.presets.recipes import bundled_photo, calibration_split, crop, make_restoration

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "sr-bicubic-x4"
ALPHAS = (1.0, 0.5, 0.0, -0.5, -1.0)  # fewer than the presets': taef2 is slow on a shared CPU
LATTICE = 8  # the tiny decoder's ×8 nearest up-sampling
VARIANTS = {  # row label → (file-name tag, how x̂0 is fixed)
    "taef2 plain": ("taef2-plain", TransportConfig(color_fix="none", lattice_fix=False)),
    "taef2 + wavelet": ("taef2-wavelet", TransportConfig(color_fix="wavelet")),
}


def weights_folder() -> Path:
    """Where the taef2 weights are looked for: ``DOT_TEST_WEIGHTS`` or ``../shared/weights/taef2``."""
    return Path(os.environ.get("DOT_TEST_WEIGHTS") or ROOT.parent / "shared" / "weights" / "taef2")


def missing_reason(folder: Path) -> str | None:
    """Why the taef2 rows cannot run (a sentence), or None when the weight files are there."""
    if not folder.is_dir():
        return f"no taef2 weights folder at {folder}; set DOT_TEST_WEIGHTS to a folder holding taef2_encoder/decoder"
    if not any(folder.glob("*_encoder.*")) or not any(folder.glob("*_decoder.*")):
        return f"{folder} holds no *_encoder.* and *_decoder.* weight files; set DOT_TEST_WEIGHTS to a taef2 folder"
    return None


def calibrate(encoder):
    """The sr-bicubic-x4 recipe's unpaired 8 + 8 calibration, fitted in ``encoder``'s latent."""
    cal = Calibrator(encoder, encoder.default_patch_size)
    for item in calibration_split():
        photo = bundled_photo(item["photo"])
        cal.add_restored(crop(make_restoration(RECIPE, photo), item["restored_box"]))
        cal.add_clean(crop(photo, item["clean_box"]))
    return cal.fit()


def taef2_targets(rows: dict[float, dict[str, float]]) -> dict[str, bool]:
    """Issue 12's targets for one photograph at α = 0, and texture falling from α = 1 to −1."""
    r1, r0 = rows[1.0], rows[0.0]
    down = sorted((a for a in rows if -1.0 <= a <= 1.0), reverse=True)
    return {"psnr0": r0["psnr"] >= r1["psnr"] - 2.0, "texture0": r0["texture"] <= 0.7 * r1["texture"],
            "monotone": all(rows[a]["texture"] > rows[b]["texture"] for a, b in zip(down, down[1:]))}


def evaluate(held: dict, measure, crops: Path, folder: Path) -> tuple[dict, str]:
    """{variant: {photo: {α: metrics}}} over :data:`ALPHAS` and a line saying what was calibrated.

    ``held``: {photo: (clean, restored)}; ``measure(y, clean, period)`` gives one α's metrics.
    Writes ``crops/sr-bicubic-x4_<tag>_<photo>.png`` (α = 1, 0.5, 0, −1 and the ground truth).
    """
    t0 = time.time()
    encoder = load_encoder(str(folder), device="cpu")
    cal = calibrate(encoder)
    info = (f"patch {cal.patch_size} (d = {cal.dim}), ε = {cal.eps:g}, calibrated in {time.time() - t0:.0f} s")
    print(f"taef2 calibration: {info}", flush=True)
    pipes = {label: DOTPipeline(encoder, cal, config=config) for label, (_, config) in VARIANTS.items()}
    plain = pipes["taef2 plain"]
    out = {label: {} for label in VARIANTS}
    for photo, (clean, restored) in held.items():
        raw = plain.enhance(restored)  # x̂0 unfixed: one transport for both variants
        for label, (tag, _) in VARIANTS.items():
            pipe = pipes[label]
            enh = dataclasses.replace(raw, transported=pipe.fix(raw.transported, raw.original),
                                      provenance=pipe.provenance)
            out[label][photo] = {a: measure(pipe.blend(enh, a), clean, LATTICE) for a in ALPHAS}
            crop_strip({a: pipe.blend(enh, a) for a in (1.0, 0.5, 0.0, -1.0)}, clean,
                       crops / f"{RECIPE}_{tag}_{photo}.png", photo=photo)
        print(f"taef2 / {photo}: {time.time() - t0:.0f} s", flush=True)
    return out, info

