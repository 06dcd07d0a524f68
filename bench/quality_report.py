"""Quality of every preset on the REPORTING photographs: tables, crops and a perception–distortion plot.

The REPORTING photographs (``bench/quality_photos.py``: astronaut, coffee, chelsea, camera) are
never in a calibration and never measured by the sweep that chose the defaults of ``detail``
(``bench/tune_detail.py`` runs on the TUNING photographs brick, gravel, cell, clock only).
For each preset (``dot_core.presets``) and each shipped latent (``detail``, ``pixel``), every
reporting photograph is degraded and restored by the preset's
recipe, transported with the preset's calibration (x̂0), and interpolated over α (eq. 4 of
Adrai et al. 2023: x̂α = α·x* + (1 − α)·x̂0, in pixel space, clipped to [0, 1]). Against the
ground truth we measure PSNR, SSIM, the texture distance (sliced Wasserstein between Laplacian
pyramid neighbourhoods) and the spectrum distance (log radial power spectra), all from
``dot_core.quality.metrics``, plus the periodic-artifact measure: the share of high-pass luma energy on
the p-pixel lattice frequencies over the ground truth's (p = 4 for ×4 super-resolution, 8 for
JPEG; ``lattice_ratio``). Every reporting photograph is used, whole; none is picked or left out.

Writes ``bench/results/quality.md``, ``bench/results/quality_pd.png`` and, for each preset,
latent and photograph, ``bench/results/crops/<preset>_<latent>_<photo>.png``: α = 1, 0.5, 0, −1
and the ground truth side by side at 1:1 and 3× (``bench/crops.py``). Look at them.

Then the taef2 rows (``bench/quality_taef2.py``: a real learned latent, plain and colour-fixed) to
``bench/results/quality_taef2.md`` and their crops, or a printed reason when the weights are absent.

Run: ``python bench/quality_report.py [--step 0.25] [--presets NAME ...]`` (about 10 minutes on a shared 2-core CPU;
the texture distance dominates); ``--only taef2``: the taef2 rows alone (about 7 minutes).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import quality_taef2  # noqa: E402
import torch  # noqa: E402
from crops import crop_strip  # noqa: E402
from quality_photos import LATTICE_PERIOD, REPORTING, TUNING, load_photo, target_check  # noqa: E402
from quality_photos import measure as measure_photo

from dot_core import DOTPipeline, encoder_for  # noqa: E402
from dot_core.presets import SHIPPED_ENCODERS, list_presets, load_preset, make_restoration  # noqa: E402
from dot_core.presets.recipes import fit_to_restorer  # noqa: E402
from dot_core.quality.metrics import spectrum_distance  # noqa: E402

RESULTS = ROOT / "bench" / "results"
METRICS = ("psnr", "ssim", "texture", "spectrum", "lattice")


def measure(y: np.ndarray, x: np.ndarray, period: int) -> dict[str, float]:
    return {**measure_photo(y, x, period), "spectrum": spectrum_distance(y, x)}


def evaluate(preset: str, encoder: str, alphas: np.ndarray, held: dict, crops: Path) -> dict:
    """Per-photograph metrics over α for one preset and latent: {photo: {α: {metric: value}}}."""
    cal = load_preset(preset, encoder)
    pipe = DOTPipeline(encoder_for(cal), cal)  # the preset's own latent settings (e.g. detail's σ)
    period = LATTICE_PERIOD[preset]
    out = {}
    for photo, (clean, restored) in held.items():
        enhanced = pipe.enhance(restored)
        out[photo] = {float(a): measure(pipe.blend(enhanced, float(a)), clean, period) for a in alphas}
        crop_strip({a: pipe.blend(enhanced, a) for a in (1.0, 0.5, 0.0, -1.0)}, clean,
                   crops / f"{preset}_{encoder}_{photo}.png", photo=photo)
    return out


def mean_curve(per_photo: dict, alphas: np.ndarray) -> dict[str, np.ndarray]:
    return {m: np.array([np.mean([per_photo[p][float(a)][m] for p in per_photo]) for a in alphas]) for m in METRICS}


def fmt_pct(v: float) -> str:
    return f"{100 * v:+.0f} %"


def table(curve: dict, alphas: np.ndarray) -> list[str]:
    rows = ["| α | PSNR (dB) | SSIM | texture distance | spectrum distance | lattice ratio |", "|---:|---:|---:|---:|---:|---:|"]
    for i, a in enumerate(alphas):
        label = f"{a:g}" + (" (restoration)" if a == 1 else " (x̂0)" if a == 0 else "")
        cells = [f"{curve['psnr'][i]:.2f}", f"{curve['ssim'][i]:.4f}", f"{curve['texture'][i]:.4f}", f"{curve['spectrum'][i]:.3f}",
                 f"{curve['lattice'][i]:.2f}×"]
        if a in (0.0, 1.0):
            cells = [f"**{c}**" for c in cells]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def plot(curves: dict, alphas: np.ndarray, path: Path) -> None:
    presets = list(dict.fromkeys(p for p, _ in curves))
    cols = 2
    rows = -(-len(presets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.6 * rows), squeeze=False)
    styles = {"detail": ("tab:blue", "o"), "pixel": ("tab:orange", "s")}
    for ax, preset in zip(axes.flat, presets):
        for enc in SHIPPED_ENCODERS:
            if (preset, enc) not in curves:
                continue
            c = curves[(preset, enc)]
            colour, marker = styles.get(enc, ("tab:gray", "^"))
            ax.plot(c["psnr"], c["texture"], "-", color=colour, marker=marker, ms=3.5, lw=1.3, label=enc)
            for i, a in enumerate(alphas):
                if a in (-1.0, 0.0, 0.5, 1.0, 2.0):
                    ax.annotate(f"α={a:g}", (c["psnr"][i], c["texture"][i]), textcoords="offset points",
                                xytext=(4, 4), fontsize=7, color=colour)
            i0 = int(np.flatnonzero(alphas == 0.0)[0])
            ax.plot(c["psnr"][i0], c["texture"][i0], marker="*", ms=11, color=colour, ls="none")
        i1 = int(np.flatnonzero(alphas == 1.0)[0])
        first = curves[(preset, SHIPPED_ENCODERS[0])]
        ax.plot(first["psnr"][i1], first["texture"][i1], marker="D", ms=7, color="black", ls="none", label="restoration (α=1)")
        ax.set_title(preset)
        ax.set_xlabel("PSNR (dB) → better")
        ax.set_ylabel("texture distance to ground truth ↓ better")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(presets):]:
        ax.axis("off")
    fig.suptitle(f"Perception–distortion over α ∈ [{alphas[0]:g}, {alphas[-1]:g}] (★ α = 0), "
                 f"mean over the reporting photographs {', '.join(REPORTING)}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def photo_rows(preset: str, enc: str, res: dict, check=None) -> list[str]:
    """One table row per photograph: lattice, texture ratio and PSNR change at α = 0 and −1, targets
    (``check(rows) -> {target: met}``; issue 11's ``target_check`` unless given)."""
    rows = []
    for photo, r in res.items():
        k = check(r) if check else target_check(r, sr=preset.startswith(("sr-", "fsrcnn-")))
        cells = []
        for a in (0.0, -1.0):
            cells += [f"{r[a]['lattice']:.2f}×", f"{r[a]['texture'] / r[1.0]['texture']:.2f}×",
                      f"{r[a]['psnr'] - r[1.0]['psnr']:+.2f} dB"]
        missed = [name for name, ok in k.items() if not ok]
        rows.append(f"| {preset} | {enc} | {photo} | {r[1.0]['lattice']:.2f}× | " + " | ".join(cells)
                    + f" | {'all met' if not missed else 'missed: ' + ', '.join(missed)} |")
    return rows


def taef2_held() -> dict:
    """{photo: (clean, restored)} of the reporting photographs under the taef2 rows' recipe."""
    clean = {p: load_photo(p) for p in REPORTING}
    return {p: (c, make_restoration(quality_taef2.RECIPE, c)) for p, c in clean.items()}


def write_taef2(out: Path, held: dict) -> None:
    """The taef2 rows (``bench/quality_taef2.py``) to ``out/quality_taef2.md``; skipped, with the reason
    printed, when the weights are absent."""
    folder = quality_taef2.weights_folder()
    reason = quality_taef2.missing_reason(folder)
    if reason:
        print(f"taef2 rows skipped: {reason}", flush=True)
        return
    t_start = time.time()
    res, info = quality_taef2.evaluate(held, measure, out / "crops", folder)
    alphas = np.array(sorted(quality_taef2.ALPHAS))
    r = quality_taef2.RECIPE
    lines = [
        "# taef2 rows of the quality report (sr-bicubic-x4, reporting photographs)", "",
        f"Written by `python bench/quality_report.py --only taef2` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"torch {torch.__version__}, {time.time() - t_start:.0f} s). Figures as measured; see `bench/quality_taef2.py`.", "",
        f"Latent: taef2 (FLUX.2 tiny autoencoder, C = 32, ×8; weights from `{folder.name}/`, not in the repository), "
        f"calibrated at run time on the `{r}` recipe's unpaired 8 restored + 8 clean halves: {info}. "
        f"Reporting photographs {', '.join(REPORTING)}, whole, as for the presets. **taef2 plain**: the paper's "
        "method (no colour fix, no lattice fix). **taef2 + wavelet**: the pipeline's default for learned latents "
        "(the wavelet colour fix, `dot_core.colorfix`; the lattice fix is opt-in and off). Metrics as in [quality.md](quality.md), but the "
        f"lattice ratio at p = {quality_taef2.LATTICE} (the decoder's ×8 nearest up-sampling; its frequencies "
        "include the ×4 restorer's). Targets (issue 12, at α = 0): PSNR ≥ restoration − 2 dB, texture ≤ 0.7×; "
        "and texture falling from α = 1 to −1.", "",
        "Crops (α = 1, 0.5, 0, −1, ground truth; 1:1 and 3×): `crops/sr-bicubic-x4_taef2-plain_<photo>.png`, "
        "`crops/sr-bicubic-x4_taef2-wavelet_<photo>.png`.", "",
        "## Per photograph", "",
        "| preset | latent | photo | lattice α=1 | lattice α=0 | texture α=0 | ΔPSNR α=0 | lattice α=−1 | texture α=−1 "
        "| ΔPSNR α=−1 | targets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, per_photo in res.items():
        lines += photo_rows(r, label, per_photo, check=quality_taef2.taef2_targets)
    lines += ["", "## Per α (mean over the reporting photographs)", ""]
    for label, per_photo in res.items():
        lines += [f"### {r} — {label}", "", *table(mean_curve(per_photo, alphas), alphas), ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality_taef2.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'quality_taef2.md'} and its crops", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.25, help="α step over [-1, 2]")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=("taef2",), help="only the taef2 rows (quality_taef2.md); quality.md is left as it is")
    parser.add_argument("--no-taef2", action="store_true",
                        help="leave the taef2 rows (quality_taef2.md) as they are, e.g. after a change that only "
                             "concerns the shipped latents")
    parser.add_argument("--presets", nargs="+", metavar="NAME", default=None,
                        choices=[p.name for p in list_presets()],
                        help="measure only these presets (default: all); quality.md then holds only them")
    args = parser.parse_args(argv)
    alphas = np.round(np.arange(-1.0, 2.0 + 1e-9, args.step), 6)
    if 0.0 not in alphas or 1.0 not in alphas or -1.0 not in alphas:
        raise SystemExit("--step must divide 1 so that α = −1, 0 and 1 are on the grid")
    torch.manual_seed(0)
    t_start = time.time()
    if args.only == "taef2":
        write_taef2(args.out, taef2_held())
        return 0
    curves, per_image = {}, {}
    for preset in list_presets():
        if args.presets is not None and preset.name not in args.presets:
            continue
        held = {}
        for photo in REPORTING:
            clean = fit_to_restorer(load_photo(photo), preset.name)
            held[photo] = (clean, make_restoration(preset.name, clean))
        for enc in preset.encoders:
            t = time.time()
            res = evaluate(preset.name, enc, alphas, held, args.out / "crops")
            curves[(preset.name, enc)] = mean_curve(res, alphas)
            per_image[(preset.name, enc)] = res
            print(f"{preset.name} / {enc}: {time.time() - t:.0f} s", flush=True)

    lines = [
        "# Quality of the presets on the reporting photographs",
        "",
        f"Written by `python bench/quality_report.py` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"torch {torch.__version__}, {time.time() - t_start:.0f} s). Figures as measured.",
        "",
        f"**Reporting photographs** (scikit-image, whole): {', '.join(REPORTING)}. **Tuning photographs** "
        f"(the only ones `bench/tune_detail.py` measures to choose the defaults of `detail`): {', '.join(TUNING)}. "
        "Neither set is in any calibration. Each photograph is degraded and restored by the preset's recipe "
        "(`dot_core.presets.make_restoration`), then transported with the preset's shipped calibration (unpaired: "
        "8 restored + 8 clean halves of eight other bundled photographs; see `presets/<name>/recipe.json`). "
        "x̂α = α·x* + (1 − α)·x̂0 in pixel space, clipped to [0, 1]. Metrics from `dot_core.quality.metrics` against the "
        "ground truth: PSNR and SSIM (higher is better), texture distance (sliced Wasserstein between 7×7 "
        "Laplacian-pyramid neighbourhoods, 4 levels), spectrum distance (mean |Δ log10 power| of the radial power "
        "spectra) and the **lattice ratio**: the share of high-pass luma energy on the p-pixel lattice frequencies "
        "(k/p cycles/pixel; p = 4 for ×4 super-resolution and the denoisers, 8 for JPEG blocks) over the ground "
        "truth's share (1 = no more lattice than the ground truth; a visible grid is typically ≥ 3).",
        "",
        "Crops (α = 1, 0.5, 0, −1, ground truth; 1:1 and 3×) of every preset, latent and photograph: "
        "`crops/<preset>_<latent>_<photo>.png`.",
        "",
        "A real learned latent (taef2, plain and with the colour fix) on `sr-bicubic-x4`: "
        "[quality_taef2.md](quality_taef2.md) (`--only taef2` rewrites it alone).",
        "",
        "![perception–distortion](quality_pd.png)",
        "",
        "## Per photograph (issue 11's targets)",
        "",
        "Texture is the ratio to the restoration's distance, PSNR the change from the restoration. Targets for "
        "the ×4 super-resolution presets (`sr-bicubic-x4`, `fsrcnn-x4`): lattice ≤ 2× at α = 0 and ≤ 3× at α = −1, texture ≤ 0.7×, PSNR ≥ −1 dB at "
        "α = 0, texture falling monotonically from α = 1 to −1; for the other presets: texture no worse than the "
        "restoration's at α = 0, lattice not increased, monotone.",
        "",
        "| preset | latent | photo | lattice α=1 | lattice α=0 | texture α=0 | ΔPSNR α=0 | lattice α=−1 | texture α=−1 "
        "| ΔPSNR α=−1 | targets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (preset, enc), res in per_image.items():
        lines += photo_rows(preset, enc, res)
    lines += ["", "## Per α (mean over the reporting photographs)", ""]
    for (preset, enc), c in curves.items():
        lines += [f"### {preset} — {enc}", "", *table(c, alphas), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    plot(curves, alphas, args.out / "quality_pd.png")
    if not args.no_taef2:
        write_taef2(args.out, taef2_held())
    print(f"wrote {args.out / 'quality.md'}, {args.out / 'quality_pd.png'} and {args.out / 'crops'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
