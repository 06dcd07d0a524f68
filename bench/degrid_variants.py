"""Where x̂0 is built when the restorer has a grid: the shipped copy against the variants tried.

Issue 18 asks for two things that pull apart on a ×4 upscaler's output: the restorer's grid must
not grow (FSRCNN ×4: ≤ 1.1× the restoration's at α = 0), and bicubic ×4 must keep the texture it
had when x̂0 was the transport of x* itself (then its cells, sharpened, counted as texture). This
script measures, on TUNING photographs only, how each way of building x̂0 (``dot_core.degrid``)
trades one for the other:

- ``shipped``: x̂0 = x̃ + Q(T(x̃) − x̃), x̃ = degrid(x*) (the pipeline's default);
- ``no copy``: x̂0 = T(x*) (``TransportConfig(degrid=False)``);
- ``calibrated on x̃``: the shipped x̂0 with the restored calibration images degridded too, so that
  the transport meets the statistics it was calibrated on;
- ``change of x* on x̃``: x̂0 = x̃ + Q(T(x*) − x*), the transport of x* as calibrated, its change
  equalised and added to the copy;
- ``degrid of T(x*)``: x̂0 = degrid(T(x*)), the transport of x* with its grid taken out afterwards.

Each is followed by the pipeline's lattice band (``restoration_lattice``), as shipped. Photographs:
bicubic ×4 (the ``sr-bicubic-x4`` preset's calibration) on scikit-image's brick, gravel and retina;
FSRCNN ×4 on CBSD68 (sorted, the first 24: restored 0::3, clean 1::3, evaluated 2::3), unpaired and
paired. Figures at α = 0 and −1 (pixel blend, eq. 4): texture over the restoration's, the same with
both images degridded first ("grid-blind": neither image's 4-px grid counts as texture), ΔPSNR, and
the grid (``grid_contrast``) over the restoration's, mean and largest.

Run: ``python bench/degrid_variants.py [--out bench/results/degrid_variants.md]`` (about 5 minutes
on two cores; the FSRCNN rows need ``../shared/weights/fsrcnn`` and ``../shared/data/photos``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fsrcnn_report import calibrate  # noqa: E402
from quality_photos import load_photo  # noqa: E402

from dot_core import Calibrator, DOTPipeline, LatentCache, TransportConfig, load_encoder  # noqa: E402
from dot_core.calibration.restorer_grid import grid_contrast  # noqa: E402
from dot_core.degrid import degrid, transported_copy  # noqa: E402
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, tuning_photos  # noqa: E402
from dot_core.io.images import load_image  # noqa: E402
from dot_core.presets import load_preset  # noqa: E402
from dot_core.presets.build import calibration_images  # noqa: E402
from dot_core.presets.catalog import recipe_encoder, recipe_eps, recipe_patch_size  # noqa: E402
from dot_core.presets.recipes import get_recipe, make_restoration  # noqa: E402
from dot_core.quality.metrics import psnr, texture_distance  # noqa: E402

PERIOD = 4
ALPHAS = (0.0, -1.0)
BICUBIC_PHOTOS = ("brick", "gravel", "retina")  # bench/quality_photos.py: TUNING (texture) + TUNING_FLAT
VARIANTS = ("shipped", "no copy", "calibrated on x̃", "change of x* on x̃", "degrid of T(x*)")


def transported_x_star(pipe: DOTPipeline, x_star: np.ndarray) -> np.ndarray:
    """T(x*) decoded and fixed (the lattice band) as the pipeline does: x̂0 of ``no copy``."""
    z0 = pipe.transport(pipe.encode(x_star))
    return pipe.fix(pipe.decode(z0, x_star.shape[:2]), x_star)


def x_hat_0s(pipes: dict[str, DOTPipeline], x_star: np.ndarray) -> dict[str, np.ndarray]:
    """{variant: x̂0} (module docstring); T(x*) is computed once for the three variants built from it.

    ``pipes``: "shipped" and "calibrated on x̃" degrid, "plain" does not (the shipped calibration)."""
    t = transported_x_star(pipes["plain"], x_star)
    fix = pipes["shipped"].fix  # detail has no colour fix: the lattice band, as the pipeline ends
    return {
        "shipped": pipes["shipped"].enhance(x_star).transported,
        "no copy": t,
        "calibrated on x̃": pipes["calibrated on x̃"].enhance(x_star).transported,
        "change of x* on x̃": fix(transported_copy(x_star, t, PERIOD, base=degrid(x_star, PERIOD)), x_star),
        "degrid of T(x*)": fix(degrid(t, PERIOD), x_star),
    }


def reference(x_star: np.ndarray, truth: np.ndarray) -> dict:
    """What every variant of one photograph is measured against: the restoration's own figures."""
    blind_truth = degrid(truth, PERIOD)
    return {"x_star": x_star, "truth": truth, "blind_truth": blind_truth, "texture": texture_distance(x_star, truth),
            "blind": texture_distance(degrid(x_star, PERIOD), blind_truth), "psnr": psnr(x_star, truth),
            "grid": grid_contrast(x_star, period=PERIOD)}


def measure(ref: dict, x0: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Per α: (texture, grid-blind texture, ΔPSNR, grid), each against the restoration (:func:`reference`)."""
    x_star, truth = ref["x_star"], ref["truth"]
    rows = []
    for a in ALPHAS:
        x = np.clip(a * x_star + (1 - a) * x0, 0.0, 1.0)
        rows.append((texture_distance(x, truth) / ref["texture"],
                     texture_distance(degrid(x, PERIOD), ref["blind_truth"]) / ref["blind"],
                     psnr(x, truth) - ref["psnr"], grid_contrast(x, period=PERIOD) / ref["grid"]))
    return rows


def bicubic_calibrations() -> dict:
    """The sr-bicubic-x4 preset's shipped calibration, and the same built with its restored images degridded
    (as ``dot_core.presets.build.build_preset`` builds it)."""
    r = get_recipe("sr-bicubic-x4")
    enc = recipe_encoder(r, "detail")
    restored, clean = calibration_images("sr-bicubic-x4")
    cal = Calibrator(enc, recipe_patch_size(r, enc), eps=recipe_eps(r, enc), restoration_lattice=r.restoration_lattice,
                     mode="unpaired", match_content=False)
    for img in restored:
        cal.add_restored(degrid(img, PERIOD))
    for img in clean:
        cal.add_clean(img)
    return {"encoder": enc, "calibrations": {"shipped": load_preset("sr-bicubic-x4", "detail"),
                                             "calibrated on x̃": cal.fit()}}


def fsrcnn_calibrations(mode: str, sets: dict) -> dict:
    """FSRCNN ×4 calibrations on the tuning split, as the CLI makes them and with the restored side degridded."""
    enc, cache = load_encoder("detail"), LatentCache()
    degridded = {**sets, "restored": [(degrid(r, PERIOD), t) for r, t in sets["restored"]]}
    return {"encoder": enc, "calibrations": {"shipped": calibrate(enc, sets, {"mode": mode}, cache, PERIOD),
                                             "calibrated on x̃": calibrate(enc, degridded, {"mode": mode}, None, PERIOD)}}


def run_case(case: dict, photos: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """{variant: (photos, α, 4) array of :func:`measure`}."""
    enc, cals = case["encoder"], case["calibrations"]
    pipes = {name: DOTPipeline(enc, cal) for name, cal in cals.items()}
    pipes["plain"] = DOTPipeline(enc, cals["shipped"], config=TransportConfig(degrid=False))
    out = {variant: [] for variant in VARIANTS}
    for x, t in photos:
        ref = reference(x, t)
        for variant, x0 in x_hat_0s(pipes, x).items():
            out[variant].append(measure(ref, x0))
    return {variant: np.array(rows) for variant, rows in out.items()}


def table(title: str, results: dict[str, np.ndarray]) -> list[str]:
    head = "| x̂0 | " + " | ".join(f"texture α={a:g} | grid-blind α={a:g} | ΔPSNR α={a:g} | grid α={a:g} (mean, max)"
                                  for a in ALPHAS) + " |"
    lines = [f"**{title}**", "", head, "|---|" + "---:|" * (4 * len(ALPHAS))]
    for variant, m in results.items():
        cells = []
        for i in range(len(ALPHAS)):
            mean = m[:, i].mean(0)
            cells += [f"{mean[0]:.3f}×", f"{mean[1]:.3f}×", f"{mean[2]:+.2f} dB", f"{mean[3]:.2f}×, {m[:, i, 3].max():.2f}×"]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "degrid_variants.md")
    args = ap.parse_args(argv)
    t0 = time.time()
    lines = ["# Where x̂0 is built on a restorer with a grid: the variants tried", "",
             ("Written by `python bench/degrid_variants.py` (its docstring says what each row is). Tuning "
              "photographs only; the reporting ones were not measured to choose."), ""]
    bicubic = []
    for name in BICUBIC_PHOTOS:
        truth = load_photo(name)
        bicubic.append((make_restoration("sr-bicubic-x4", truth), truth))
    lines += table(f"bicubic ×4, the sr-bicubic-x4 preset's calibration; {', '.join(BICUBIC_PHOTOS)}",
                   run_case(bicubic_calibrations(), bicubic))
    print(f"bicubic: {time.time() - t0:.0f} s", flush=True)
    reason = fsrcnn_unavailable_reason(4) or (None if tuning_photos() else "../shared/data/photos is absent")
    if reason:
        lines += [f"FSRCNN ×4: skipped ({reason}).", ""]
    else:
        paths = sorted(tuning_photos())[:24]
        pairs = [fsrcnn_pair(load_image(str(p)), 4) for p in paths]
        sets = {"restored": pairs[0::3], "clean": pairs[1::3]}
        for mode in ("unpaired", "paired"):
            lines += table(f"FSRCNN ×4, CBSD68 tuning split, {mode} (CLI defaults)",
                           run_case(fsrcnn_calibrations(mode, sets), pairs[2::3]))
            print(f"FSRCNN {mode}: {time.time() - t0:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
