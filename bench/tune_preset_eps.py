"""The sweep that chose each preset's ε for ``detail``, on 256² crops of the TUNING photographs only.

Issue 11 set ``detail``'s defaults (σ = 1, ε = 0.3) on bicubic ×4, where the grid of an amplified
interpolation residue had to go. A denoised or JPEG-decoded restoration has no such residue, and
at ε = 0.3 the synthesised directions (eq. 5 of Adrai et al. 2023 for source variance ≤ ε) take
away part of the texture those presets gained before. This sweep calibrates ``detail`` (σ and p
as shipped) on a preset's 8 + 8 unpaired calibration halves once, fits the operator for each ε
(Σs + εI in every factor of eq. 2, ε relative to the mean eigenvalue of Σs), transports a 256²
crop of every TUNING photograph (``bench/quality_photos.py``: brick, gravel, clock; never
reported) and measures at α ∈ {1, 0.5, 0, −0.5, −1}: the texture distance over the restoration's,
the PSNR change and the lattice ratio (``dot_core.quality.lattice.lattice_ratio``; period 4, 8 for JPEG).

Baseline: the calibrations shipped before issue 11 (``--before REV``, default 832e4dd: σ = 1.25,
ε = 0.05 on the outer factor only), run by that revision's own code in a subprocess on the same
crops. An ε passes when, over the photographs but clock (``LATTICE_ONLY``), the mean texture ratio
at α = 0 is at most the baseline's and, on every photograph, the lattice ratio at α = 0 and
α = −1 is at most max(that of the restoration, the baseline's, 1) × 1.05, and the texture distance
falls from α = 1 to −1 wherever the baseline's did; the LARGEST passing ε wins (least
amplification of what the source lacks). If no ε reaches the baseline's texture, the one with the
lowest texture ratio among those keeping the lattice and monotonicity is chosen, and the table
says so.

Run: ``python bench/tune_preset_eps.py --preset jpeg-q10 [--eps 0.03 0.1 0.3]
[--out bench/results/tune_preset_eps_<preset>.md] [--crops bench/results/crops]``.
``--crops`` writes one PNG per preset: a row per photograph, columns restoration, baseline, each
ε at α = 0, ground truth, the centre 64² of the crop at 3×.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from quality_photos import LATTICE_ONLY, LATTICE_PERIOD, TUNING, load_photo, measure  # noqa: E402

from dot_core.calibration import Calibrator  # noqa: E402
from dot_core.latents.detail import DetailEncoder  # noqa: E402
from dot_core.pipeline import DOTPipeline  # noqa: E402
from dot_core.presets import get_recipe, make_restoration  # noqa: E402
from dot_core.presets.build import calibration_images  # noqa: E402

ALPHAS = (1.0, 0.5, 0.0, -0.5, -1.0)
SIDE = 256
# (top, left) of each tuning crop: multiples of 8, textured areas next to flat ones.
CROP = {"brick": (160, 160), "gravel": (160, 160), "clock": (16, 72)}
# Run inside the earlier revision's tree: its shipped preset, its code, the same crops.
BEFORE_SNIPPET = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from dot_core import DOTPipeline, load_encoder
from dot_core.presets import load_preset
data = np.load(sys.argv[3])
pipe = DOTPipeline(load_encoder("detail"), load_preset(sys.argv[2], "detail"))
out = {}
for name in data.files:
    e = pipe.enhance(data[name])
    for a in (1.0, 0.5, 0.0, -0.5, -1.0):
        out[f"{name}|{a}"] = pipe.blend(e, a)
np.savez(sys.argv[4], **out)
"""


def tuning_crops(preset: str) -> dict:
    """{photo: (clean 256² crop, its restoration by the preset's recipe)}."""
    out = {}
    for name in TUNING:
        t, l = CROP[name]
        clean = np.ascontiguousarray(load_photo(name)[t : t + SIDE, l : l + SIDE])
        out[name] = (clean, make_restoration(preset, clean))
    return out


def before_blends(preset: str, rev: str, photos: dict) -> dict:
    """{photo: {α: image}} from revision ``rev``'s code and shipped ``detail`` calibration."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        np.savez(Path(tmp) / "in.npz", **{n: r for n, (_, r) in photos.items()})
        subprocess.run([sys.executable, "-c", BEFORE_SNIPPET, str(tree), preset, str(Path(tmp) / "in.npz"),
                        str(Path(tmp) / "out.npz")], check=True)
        data = np.load(Path(tmp) / "out.npz")
        return {n: {a: data[f"{n}|{a}"] for a in ALPHAS} for n in photos}


def sweep_blends(preset: str, eps_values: list[float], photos: dict, sigma: float | None = None,
                 patch_size: int | None = None) -> dict:
    """{ε: {photo: {α: image}}}: one moment accumulation, one operator fit per ε (split σ: detail's
    default unless given; patch size: the recipe's unless given)."""
    enc = DetailEncoder(device="cpu") if sigma is None else DetailEncoder(device="cpu", sigma=sigma)
    cal = Calibrator(enc, int(patch_size or get_recipe(preset).patch_sizes["detail"]))
    restored, clean = calibration_images(preset)
    for r in restored:
        cal.add_restored(r)
    for c in clean:
        cal.add_clean(c)
    out = {}
    for eps in eps_values:
        cal.eps = eps
        pipe = DOTPipeline(enc, cal.fit())
        out[eps] = {}
        for name, (_, r) in photos.items():
            e = pipe.enhance(r)
            out[eps][name] = {a: pipe.blend(e, a) for a in ALPHAS}
    return out


def summarise(blends: dict, photos: dict, period: int) -> dict:
    per = {n: {a: measure(blends[n][a], photos[n][0], period) for a in ALPHAS} for n in photos}
    sharp = [n for n in per if n not in LATTICE_ONLY]
    return {
        "per": per,
        "tex0": float(np.mean([per[n][0.0]["texture"] / per[n][1.0]["texture"] for n in sharp])),
        "dpsnr0": float(np.mean([per[n][0.0]["psnr"] - per[n][1.0]["psnr"] for n in sharp])),
        "monotone": {n: all(per[n][a]["texture"] > per[n][b]["texture"] for a, b in zip(ALPHAS, ALPHAS[1:]))
                     for n in per},
    }


def checks(s: dict, before: dict) -> dict:
    """Which of the sweep's conditions setting ``s`` meets against the ``before`` baseline."""
    return {
        "texture": s["tex0"] <= before["tex0"],
        "lattice": all(s["per"][n][a]["lattice"] <= 1.05 * max(r[1.0]["lattice"], before["per"][n][a]["lattice"], 1.0)
                       for n, r in s["per"].items() for a in (0.0, -1.0)),
        "monotone": all(s["monotone"][n] for n, m in before["monotone"].items() if m),
    }


def choose(sums: dict, before: dict) -> tuple[float | None, str]:
    """The largest ε meeting every condition; if none reaches the baseline's texture, the ε with
    the lowest mean texture ratio among those keeping the lattice and monotonicity."""
    ok = {eps: checks(s, before) for eps, s in sums.items()}
    full = [eps for eps, c in ok.items() if all(c.values())]
    if full:
        return max(full), "largest ε meeting every condition"
    safe = [eps for eps, c in ok.items() if c["lattice"] and c["monotone"]]
    if not safe:
        return None, "no ε keeps the lattice and monotonicity"
    return min(safe, key=lambda e: sums[e]["tex0"]), "no ε reaches the baseline's texture: lowest texture ratio among those keeping lattice and monotonicity"


def strip(columns: dict, photos: dict, path: Path, scale: int = 3, side: int = 64) -> None:
    """Rows: photographs; columns: {label: {photo: image}}; the centre side² at scale× (nearest)."""
    labels = ["restoration", *columns, "ground truth"]
    cell, label_h = side * scale, 14
    canvas = Image.new("RGB", (len(labels) * (cell + 4), label_h + len(photos) * (cell + 4)), "white")
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    for j, label in enumerate(labels):
        draw.text((j * (cell + 4) + 2, 1), label, fill="black")
    o = (SIDE - side) // 2
    for i, (name, (clean, restored)) in enumerate(photos.items()):
        for j, label in enumerate(labels):
            img = restored if label == "restoration" else clean if label == "ground truth" else columns[label][name]
            u8 = np.rint(np.clip(img[o : o + side, o : o + side], 0, 1) * 255).astype(np.uint8)
            canvas.paste(Image.fromarray(np.kron(u8, np.ones((scale, scale, 1), np.uint8))),
                         (j * (cell + 4), label_h + i * (cell + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def row(label: str, s: dict, ok: str) -> str:
    per = s["per"]
    cells = " | ".join(f"{per[n][0.0]['texture'] / per[n][1.0]['texture']:.2f}× / {per[n][0.0]['lattice']:.2f}× / "
                       f"{per[n][-1.0]['lattice']:.2f}×" for n in per)
    bad = [n for n, m in s["monotone"].items() if not m]
    return (f"| {label} | {s['tex0']:.3f}× | {s['dpsnr0']:+.2f} dB | {cells} | "
            f"{'not monotone: ' + ', '.join(bad) if bad else 'monotone'} | {ok} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True, choices=sorted(LATTICE_PERIOD))
    parser.add_argument("--eps", type=float, nargs="+", default=[0.03, 0.1, 0.3])
    parser.add_argument("--sigma", type=float, default=None, help="detail's split σ (default: its default)")
    parser.add_argument("--patch-size", type=int, default=None, help="detail's patch size (default: the recipe's)")
    parser.add_argument("--before", default="832e4dd", metavar="REV")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--crops", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or ROOT / "bench" / "results" / f"tune_preset_eps_{args.preset}.md"
    torch.manual_seed(0)
    t0 = time.time()
    period = LATTICE_PERIOD[args.preset]
    photos = tuning_crops(args.preset)
    old = before_blends(args.preset, args.before, photos)
    new = sweep_blends(args.preset, sorted(args.eps), photos, args.sigma, args.patch_size)
    sigma = args.sigma if args.sigma is not None else DetailEncoder(device="cpu").describe()["sigma"]
    before = summarise(old, photos, period)
    sums = {eps: summarise(b, photos, period) for eps, b in new.items()}
    chosen, why = choose(sums, before)
    heads = " | ".join(f"{n}: texture α=0 / lattice α=0 / α=−1" for n in photos)
    lines = [f"# ε of `detail` for {args.preset}, on 256² crops of the tuning photographs ({', '.join(TUNING)})", "",
             f"Written by `python bench/tune_preset_eps.py --preset {args.preset} --eps {' '.join(f'{e:g}' for e in sorted(args.eps))}"
             + (f" --sigma {args.sigma:g}" if args.sigma is not None else "")
             + (f" --patch-size {args.patch_size}" if args.patch_size is not None else "") + "` "
             f"(split σ = {sigma:g}, patch {args.patch_size or get_recipe(args.preset).patch_sizes['detail']}; "
             f"{time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s). Texture is the ratio to the restoration's distance, "
             f"lattice (period {period}) the ratio to the ground truth's; means over the photographs but "
             f"{', '.join(LATTICE_ONLY)}. Lattice of the restoration (α = 1): "
             + ", ".join(f"{n} {before['per'][n][1.0]['lattice']:.2f}×" for n in photos) + ".", "",
             f"| setting | mean texture α=0 | mean ΔPSNR α=0 | {heads} | texture α = 1 → −1 | passes |",
             "|---|---:|---:|" + "---:|" * len(photos) + "---|---|",
             row(f"before issue 11 ({args.before}: σ 1.25, ε 0.05)", before, "baseline")]
    for eps, s in sums.items():
        missed = [k for k, v in checks(s, before).items() if not v]
        lines.append(row(f"ε = {eps:g}", s, "yes" if not missed else "missed: " + ", ".join(missed)))
    lines += ["", f"Chosen ({why}): {'none' if chosen is None else f'ε = {chosen:g}'}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.crops is not None:
        cols = {"before": {n: old[n][0.0] for n in photos}}
        cols.update({f"eps {eps:g}": {n: b[n][0.0] for n in photos} for eps, b in new.items()})
        strip(cols, photos, args.crops / f"tune_eps_{args.preset}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
