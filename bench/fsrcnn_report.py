"""FSRCNN ×4 report (issue 18): what DOT does to a real learned restorer's output.

FSRCNN ×4 (MSE-trained; ``dot_core.fsrcnn``) restores the cubic-degraded REPORTING photographs
(Kodak24), split once and for all by their sorted names: restored set = kodim01, 04, …, 22
(names[0::3]), clean set = kodim02, 05, …, 23 (names[1::3]), evaluation = kodim03, 06, …, 24
(names[2::3]). Nothing was tuned on them (the method was chosen on CBSD68, the tuning photographs).

Calibrations, 8 + 8, each latent's defaults:

* ``unpaired``: the 8 restorations against the 8 *other* clean scenes, the default (content matched,
  ``dot_core.calibration.content``);
* ``unpaired, plain``: the same without the content match (``match_content=False``), the method before it;
* ``paired``: the 8 restorations against their own originals.

The restorer's 4-pixel grid is named (``restoration_lattice=4``, ``--restoration-lattice``): the
pipeline keeps the restoration's content around those frequencies. Latents: ``detail`` and taef2
with its default wavelet colour fix (weights from ``DOT_TEST_WEIGHTS`` or ``../shared/weights/taef2``;
skipped, saying why, when absent). Per α ∈ {1, 0.5, 0, −0.5} over the 8 evaluation scenes: ΔPSNR
against the restoration, texture distance over the restoration's, the visible 4-pixel grid
(``dot_core.calibration.restorer_grid.grid_contrast``: the restorer's cells, which the spectral lattice share
does not see) over the restoration's (mean and largest) and luma power per band over the truth's. Crop strips (α = 1,
0.5, 0, −1 and the truth; ``crops.py``) of two evaluation scenes per row go to
``bench/results/crops/fsrcnn_*.png``.

    python bench/fsrcnn_report.py [--only detail|taef2] [--out bench/results/fsrcnn.md]
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

from crops import crop_strip  # noqa: E402

from dot_core import Calibrator, DOTPipeline, LatentCache, TransportConfig, load_encoder  # noqa: E402
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, reporting_photos  # noqa: E402
from dot_core.calibration.restorer_grid import grid_contrast  # noqa: E402
from dot_core.io.images import load_image  # noqa: E402
from dot_core.quality.metrics import psnr, radial_power_spectrum  # noqa: E402
from dot_core.quality.pd_curve import psnr_optimum, texture_distances_along  # noqa: E402

ALPHAS = (1.0, 0.5, 0.0, -0.5)
CROP_ALPHAS = (1.0, 0.5, 0.0, -1.0)
BANDS = ((0.08, 0.125), (0.125, 0.18), (0.18, 0.25), (0.25, 0.35), (0.35, 0.45))  # cycles per pixel
CALIBRATIONS = {"unpaired": {"mode": "unpaired"}, "unpaired, plain": {"mode": "unpaired", "match_content": False},
                "paired": {"mode": "paired"}}
CROP_PHOTOS = 2  # evaluation scenes with crop strips per row
PSNR_ALPHAS = (0.95, 0.9, 0.8, 0.7)  # where an α in (0, 1) might reach the restoration's PSNR


def split() -> dict[str, list[Path]]:
    """The fixed split of Kodak24 (sorted names): restored 0::3, clean 1::3, evaluation 2::3."""
    names = sorted(reporting_photos())
    return {"restored": names[0::3], "clean": names[1::3], "evaluation": names[2::3]}


def taef2_folder() -> Path:
    import os

    return Path(os.environ.get("DOT_TEST_WEIGHTS") or ROOT.parent / "shared" / "weights" / "taef2")


def band_powers(x: np.ndarray, truth: np.ndarray) -> list[float]:
    """Mean luma power of ``x`` over the truth's in each band of :data:`BANDS`."""
    f, px = radial_power_spectrum(x)
    _, pt = radial_power_spectrum(truth)
    return [float(np.mean(10 ** px[(f >= a) & (f < b)]) / np.mean(10 ** pt[(f >= a) & (f < b)])) for a, b in BANDS]


NOTES = "<!-- written by hand below this line; bench/fsrcnn_report.py keeps it -->"


def kept_notes(out: Path) -> str:
    """What a person wrote at the end of the last report (from :data:`NOTES` on), to keep in the new one."""
    text = out.read_text() if out.is_file() else ""
    return "\n" + text[text.index(NOTES):] if NOTES in text else ""


def calibrate(encoder, sets: dict, how: dict, cache: LatentCache, lattice: int | None):
    cal = Calibrator(encoder, encoder.default_patch_size, cache=cache, restoration_lattice=lattice, **how)
    if how["mode"] == "paired":
        for restored, truth in sets["restored"]:
            cal.add_pair(restored, truth)
    else:
        for restored, _ in sets["restored"]:
            cal.add_restored(restored)
        for _, truth in sets["clean"]:
            cal.add_clean(truth)
    return cal.fit()


def measure(pipe: DOTPipeline, evaluation: list, crops: Path, tag: str) -> dict:
    """{α: {metric: [one value per photo]}} and crop strips of the first :data:`CROP_PHOTOS` photos."""
    rows = {a: {"dpsnr": [], "texture": [], "grid": [], "bands": []} for a in ALPHAS}
    rows["psnr_alphas"] = {a: [] for a in PSNR_ALPHAS}
    rows["best_alpha"] = []  # per scene, the α of least squared error on eq. 4's line (1 − ⟨e, Δ⟩ / ‖Δ‖²)
    for i, (name, restored, truth) in enumerate(evaluation):
        enh = pipe.enhance(restored)
        tex = texture_distances_along(restored, enh.transported, truth, ALPHAS)
        base_psnr, base_grid = psnr(restored, truth), grid_contrast(restored, period=4)
        for a, t in zip(ALPHAS, tex):
            x = pipe.blend(enh, a)
            r = rows[a]
            r["dpsnr"].append(psnr(x, truth) - base_psnr)
            r["texture"].append(t / tex[0])
            r["grid"].append(grid_contrast(x, period=4) / base_grid)
            r["bands"].append(band_powers(x, truth))
        for a in PSNR_ALPHAS:
            rows["psnr_alphas"][a].append(psnr(pipe.blend(enh, a), truth) - base_psnr)
        rows["best_alpha"].append(psnr_optimum(restored, enh.transported, truth))
        if i < CROP_PHOTOS:
            crop_strip({a: pipe.blend(enh, a) for a in CROP_ALPHAS}, truth, crops / f"fsrcnn_{tag}_{name}.png", photo=name)
    return rows


def table(label: str, rows: dict) -> list[str]:
    head = ("| α | ΔPSNR (dB) | texture × restoration | grid × restoration (mean, max) | luma power × truth, "
            + ", ".join(f"{a:g}–{b:g}" for a, b in BANDS) + " c/px |")
    out = [f"**{label}**", "", head, "|---:|---:|---:|---:|---|"]
    for a in ALPHAS:
        r = rows[a]
        bands = np.mean(np.array(r["bands"]), axis=0)
        out.append(f"| {a:g} | {np.mean(r['dpsnr']):+.2f} | {np.mean(r['texture']):.2f}× | "
                   f"{np.mean(r['grid']):.2f}×, {np.max(r['grid']):.2f}× | "
                   + ", ".join(f"{b:.2f}" for b in bands) + " |")
    near = ", ".join(f"α = {a:g}: {np.mean(v):+.3f} dB" for a, v in rows["psnr_alphas"].items())
    best = np.array([b for b in rows["best_alpha"] if b is not None])
    return out + ["", f"ΔPSNR near the restoration: {near}",
                  f"α of the highest PSNR along eq. 4, per scene: {', '.join(f'{b:.3f}' for b in best)} "
                  f"({int(np.sum(best < 1.0))} of {len(best)} below 1: there the transport's change points towards the truth)", ""]


def run_latent(name: str, encoder, config: TransportConfig, sets: dict, crops: Path, lattice: int | None) -> list[str]:
    cache = LatentCache()
    out = []
    for cal_name, how in CALIBRATIONS.items():
        t0 = time.time()
        cal = calibrate(encoder, sets, how, cache, lattice)
        rows = measure(DOTPipeline(encoder, cal, config=config), sets["evaluation"], crops,
                       f"{name.split()[0]}_{cal_name.replace(', ', '-')}")
        out += table(f"{name}, {cal_name}", rows)
        out += ["```", cal.summary(), "```", ""]
        print(f"{name} / {cal_name}: {time.time() - t0:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("detail", "taef2"))
    ap.add_argument("--restoration-lattice", type=int, default=4)
    ap.add_argument("--no-degrid", action="store_true", help="transport x* itself (TransportConfig(degrid=False)), for comparison")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fsrcnn.md")
    args = ap.parse_args(argv)
    reason = fsrcnn_unavailable_reason(4) or (None if reporting_photos() else "../shared/data/photos is absent")
    if reason:
        print(f"fsrcnn_report: {reason}", file=sys.stderr)
        return 2
    paths = split()
    sets = {k: [fsrcnn_pair(load_image(str(p)), 4) for p in v] for k, v in paths.items() if k != "evaluation"}
    sets["evaluation"] = [(p.stem, *fsrcnn_pair(load_image(str(p)), 4)) for p in paths["evaluation"]]
    crops = args.out.parent / "crops"  # --no-degrid: beside --out, never over the report's own crops
    if args.no_degrid:
        crops = args.out.parent / "crops_no_degrid"
    lines = ["# FSRCNN ×4: DOT on a real learned restorer", "",
             "Written by `python bench/fsrcnn_report.py`. Reporting photographs only (Kodak24; the method was "
             "chosen on CBSD68). Fixed split by sorted name: " + "; ".join(
                 f"{k}: {', '.join(p.stem for p in v)}" for k, v in paths.items()) + ". "
             f"Restorer's grid named: {args.restoration_lattice} px. α = 1 is the restoration; figures are means "
             "over the 8 evaluation scenes (texture and grid as ratios to the restoration's, taken per scene; grid: "
             "`grid_contrast`, the restorer's cells as visible in the image).", ""]
    if args.only != "taef2":
        enc = load_encoder("detail")
        lines += ["## detail", ""] + run_latent("detail", enc, TransportConfig(degrid=not args.no_degrid), sets,
                                                     crops, args.restoration_lattice)
    if args.only != "detail":
        folder = taef2_folder()
        if not (folder.is_dir() and any(folder.glob("*_encoder.*"))):
            lines += ["## taef2 + wavelet", "", f"skipped: no taef2 weights at {folder}", ""]
        else:
            enc = load_encoder(str(folder), device="cpu")
            lines += ["## taef2 + wavelet colour fix", ""] + run_latent(
                "taef2 + wavelet", enc, TransportConfig(color_fix="wavelet"), sets, crops, args.restoration_lattice)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n" + kept_notes(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
