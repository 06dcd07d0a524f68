"""Quality of every preset on held-out photographs: a table and a perception–distortion plot.

For each preset (``dot_core.presets``) and each shipped latent (``detail``, ``pixel``), every
held-out photograph (never used by any calibration) is degraded and restored by the preset's
recipe, transported with the preset's calibration (x̂0), and interpolated over α (eq. 4 of
Adrai et al. 2023: x̂α = α·x* + (1 − α)·x̂0, in pixel space, clipped to [0, 1]). Against the
ground truth we measure PSNR, SSIM, the texture distance (sliced Wasserstein between Laplacian
pyramid neighbourhoods) and the spectrum distance (log radial power spectra), all from
``dot_core.metrics``, and average them over the photographs. Every held-out photograph is used,
whole; none is picked or left out.

Writes ``bench/results/quality.md`` and ``bench/results/quality_pd.png``.

Run: ``python bench/quality_report.py [--step 0.25] [--samples DIR]`` (about 20 minutes on a
shared 2-core CPU; the texture distance, computed 416 times, dominates).
``--samples`` also saves, for each preset and latent, the first held-out photograph's
restoration, x̂0 and x̂(-1) as PNGs, to look at.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dot_core import DOTPipeline, load_encoder  # noqa: E402
from dot_core.imageio import save_image  # noqa: E402
from dot_core.metrics import psnr, spectrum_distance, ssim, texture_distance  # noqa: E402
from dot_core.presets import HELD_OUT, SHIPPED_ENCODERS, bundled_photo, list_presets, load_preset, make_restoration  # noqa: E402

RESULTS = ROOT / "bench" / "results"
METRICS = ("psnr", "ssim", "texture", "spectrum")


def measure(y: np.ndarray, x: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(y, x), "ssim": ssim(y, x), "texture": texture_distance(y, x), "spectrum": spectrum_distance(y, x)}


def evaluate(preset: str, encoder: str, alphas: np.ndarray, held: dict, samples: Path | None) -> dict:
    """Per-photograph metrics over α for one preset and latent: {photo: {α: {metric: value}}}."""
    pipe = DOTPipeline(load_encoder(encoder), load_preset(preset, encoder))
    out = {}
    for i, (photo, (clean, restored)) in enumerate(held.items()):
        enhanced = pipe.enhance(restored)
        out[photo] = {float(a): measure(pipe.blend(enhanced, float(a)), clean) for a in alphas}
        if samples is not None and i == 0:
            folder = samples / preset / encoder
            save_image(folder / f"{photo}_restored.png", restored)
            save_image(folder / f"{photo}_alpha0.png", enhanced.transported)
            save_image(folder / f"{photo}_alpha-1.png", pipe.blend(enhanced, -1.0))
    return out


def mean_curve(per_photo: dict, alphas: np.ndarray) -> dict[str, np.ndarray]:
    return {m: np.array([np.mean([per_photo[p][float(a)][m] for p in per_photo]) for a in alphas]) for m in METRICS}


def targets(curve: dict, alphas: np.ndarray) -> dict:
    """Issue 4's three targets, measured on one mean curve."""
    i1, i0 = int(np.flatnonzero(alphas == 1.0)[0]), int(np.flatnonzero(alphas == 0.0)[0])
    d_tex = curve["texture"][i0] / curve["texture"][i1] - 1
    d_psnr = curve["psnr"][i0] - curve["psnr"][i1]
    inside = [i for i, a in enumerate(alphas) if 0 < a < 1
              and curve["psnr"][i] >= curve["psnr"][i1] - 0.2 and curve["texture"][i] < curve["texture"][i1]]
    best = min(inside, key=lambda i: curve["texture"][i]) if inside else None
    down = [i for i, a in enumerate(alphas) if -1 <= a <= 1][::-1]  # α from 1 to −1
    tex, ps = curve["texture"][down], curve["psnr"][down]
    tex_min = int(np.argmin(tex))
    return {
        "alpha0_texture_change": d_tex, "alpha0_psnr_change": d_psnr,
        "t1": d_tex <= -0.40 and d_psnr >= -1.5,
        "t2_alpha": None if best is None else float(alphas[best]),
        "t2_psnr_change": None if best is None else curve["psnr"][best] - curve["psnr"][i1],
        "t2_texture_change": None if best is None else curve["texture"][best] / curve["texture"][i1] - 1,
        "texture_monotone": bool(np.all(np.diff(tex) < 0)),
        "texture_min_alpha": float(alphas[down][tex_min]),
        "texture_falls_to_min": bool(np.all(np.diff(tex[: tex_min + 1]) < 0)),
        "psnr_peak_alpha": float(alphas[down][int(np.argmax(ps))]),
        "psnr_falls_after_peak": bool(np.all(np.diff(ps[int(np.argmax(ps)):]) < 0)),
    }


def fmt_pct(v: float) -> str:
    return f"{100 * v:+.0f} %"


def table(curve: dict, alphas: np.ndarray) -> list[str]:
    rows = ["| α | PSNR (dB) | SSIM | texture distance | spectrum distance |", "|---:|---:|---:|---:|---:|"]
    for i, a in enumerate(alphas):
        label = f"{a:g}" + (" (restoration)" if a == 1 else " (x̂0)" if a == 0 else "")
        cells = [f"{curve['psnr'][i]:.2f}", f"{curve['ssim'][i]:.4f}", f"{curve['texture'][i]:.4f}", f"{curve['spectrum'][i]:.3f}"]
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
                 f"mean over held-out {', '.join(HELD_OUT)}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.25, help="α step over [-1, 2]")
    parser.add_argument("--samples", type=Path, default=None, help="folder for a few output images")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    alphas = np.round(np.arange(-1.0, 2.0 + 1e-9, args.step), 6)
    if 0.0 not in alphas or 1.0 not in alphas:
        raise SystemExit("--step must divide 1 so that α = 0 and α = 1 are on the grid")
    torch.manual_seed(0)
    t_start = time.time()
    presets = list_presets()
    curves, per_image, checks = {}, {}, {}
    for preset in presets:
        held = {}
        for photo in HELD_OUT:
            clean = bundled_photo(photo)
            held[photo] = (clean, make_restoration(preset.name, clean))
        for enc in preset.encoders:
            t = time.time()
            res = evaluate(preset.name, enc, alphas, held, args.samples)
            curves[(preset.name, enc)] = mean_curve(res, alphas)
            per_image[(preset.name, enc)] = res
            checks[(preset.name, enc)] = targets(curves[(preset.name, enc)], alphas)
            print(f"{preset.name} / {enc}: {time.time() - t:.0f} s", flush=True)

    lines = [
        "# Quality of the presets on held-out photographs",
        "",
        f"Written by `python bench/quality_report.py` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"torch {torch.__version__}, {time.time() - t_start:.0f} s). Figures as measured.",
        "",
        f"Held-out photographs (scikit-image, never in any calibration set), whole: {', '.join(HELD_OUT)}. "
        "Each is degraded and restored by the preset's recipe (`dot_core.presets.make_restoration`), then "
        "transported with the preset's shipped calibration (unpaired, halves of eight other bundled photographs; "
        "see `presets/<name>/recipe.json`). x̂α = α·x* + (1 − α)·x̂0 in pixel space, clipped to [0, 1]. "
        "Metrics from `dot_core.metrics` against the ground truth, averaged over the photographs: PSNR and SSIM "
        "(higher is better), texture distance (sliced Wasserstein between 7×7 Laplacian-pyramid neighbourhoods, "
        "4 levels) and spectrum distance (mean |Δ log10 power| of the radial power spectra) — lower is better.",
        "",
        "![perception–distortion](quality_pd.png)",
        "",
        "## Summary: restoration (α = 1) against x̂0 (α = 0)",
        "",
        "| preset | latent | PSNR α=1 → α=0 | SSIM α=1 → α=0 | texture α=1 → α=0 | spectrum α=1 → α=0 | PSNR-neutral α in (0, 1) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    i1, i0 = int(np.flatnonzero(alphas == 1.0)[0]), int(np.flatnonzero(alphas == 0.0)[0])
    for (preset, enc), c in curves.items():
        k = checks[(preset, enc)]
        neutral = "none" if k["t2_alpha"] is None else (
            f"α={k['t2_alpha']:g}: {k['t2_psnr_change']:+.2f} dB, texture {fmt_pct(k['t2_texture_change'])}")
        lines.append(
            f"| {preset} | {enc} | {c['psnr'][i1]:.2f} → {c['psnr'][i0]:.2f} ({c['psnr'][i0] - c['psnr'][i1]:+.2f} dB) "
            f"| {c['ssim'][i1]:.3f} → {c['ssim'][i0]:.3f} "
            f"| {c['texture'][i1]:.4f} → {c['texture'][i0]:.4f} ({fmt_pct(k['alpha0_texture_change'])}) "
            f"| {c['spectrum'][i1]:.3f} → {c['spectrum'][i0]:.3f} ({fmt_pct(c['spectrum'][i0] / c['spectrum'][i1] - 1)}) "
            f"| {neutral} |"
        )
    lines += ["", "## Targets of issue 4 (bicubic ×4, `detail`)", ""]
    k = checks.get(("sr-bicubic-x4", "detail"))
    if k is not None:
        lines += [
            f"- α = 0: texture distance {fmt_pct(k['alpha0_texture_change'])} (target ≤ −40 %), PSNR "
            f"{k['alpha0_psnr_change']:+.2f} dB (target ≥ −1.5 dB): **{'met' if k['t1'] else 'missed'}**.",
            "- some α in (0, 1) within 0.2 dB of the restoration's PSNR while the distance falls: "
            + ("**missed**." if k["t2_alpha"] is None else
               f"**met** at α = {k['t2_alpha']:g} ({k['t2_psnr_change']:+.2f} dB, texture {fmt_pct(k['t2_texture_change'])})."),
            f"- α from 1 to −1: PSNR peaks at α = {k['psnr_peak_alpha']:g} and "
            f"{'falls monotonically' if k['psnr_falls_after_peak'] else 'does not fall monotonically'} after it; "
            f"the texture distance {'falls monotonically all the way' if k['texture_monotone'] else 'falls monotonically' if k['texture_falls_to_min'] else 'does not fall monotonically'}"
            + ("" if k["texture_monotone"] else f" to its minimum at α = {k['texture_min_alpha']:g}, then rises again") + ".",
            "",
        ]
    lines += ["## Per α (mean over the held-out photographs)", ""]
    for (preset, enc), c in curves.items():
        lines += [f"### {preset} — {enc}", "", *table(c, alphas), ""]
    lines += ["## Per photograph: restoration → x̂0", "",
              "| preset | latent | photo | PSNR α=1 → α=0 | texture α=1 → α=0 |", "|---|---|---|---:|---:|"]
    for (preset, enc), res in per_image.items():
        for photo, r in res.items():
            lines.append(f"| {preset} | {enc} | {photo} | {r[1.0]['psnr']:.2f} → {r[0.0]['psnr']:.2f} "
                         f"| {r[1.0]['texture']:.4f} → {r[0.0]['texture']:.4f} ({fmt_pct(r[0.0]['texture'] / r[1.0]['texture'] - 1)}) |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    plot(curves, alphas, args.out / "quality_pd.png")
    print(f"wrote {args.out / 'quality.md'} and {args.out / 'quality_pd.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
