"""The written form of an evaluation (:mod:`dot_core.evaluation.dataset`): CSV, JSON, Markdown and a plot.

Per row of the table (the restoration, every α, the round trip D(E(y))), the mean and the standard
deviation over the images (ddof = 1) of each per-image measure, and the set-level FID and KID of
that row's images against the ground truths (:func:`dot_core.quality.perceptual.fid_kid`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from ..quality.perceptual import FID_NOTE, Perceptual, fid_kid
from .dataset import COLUMNS, Evaluation, row_label

__all__ = ["summarize", "markdown_table", "write_report", "plot_pd"]

MEASURES = ("psnr", "ssim", "texture_distance", "lattice_ratio", "lpips")


def _order(rows: list[dict]) -> list[tuple[str, float | None]]:
    """(kind, α) of the table's lines: the restoration, the α in increasing order, the round trip."""
    alphas = sorted({r["alpha"] for r in rows if r["kind"] == "alpha"})
    return [("restoration", None)] + [("alpha", a) for a in alphas] + [("roundtrip", None)]


def _stats(values: list) -> dict:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = float(np.mean(v)) if np.isfinite(v).all() else float("inf") if (v == np.inf).all() else None
    std = float(np.std(v, ddof=1)) if v.size > 1 and np.isfinite(v).all() else None
    return {"mean": mean, "std": std, "n": int(v.size)}


def _set_level(ev: Evaluation, label: str) -> dict | None:
    fake = [im.features[label] for im in ev.images if label in im.features and "truth" in im.features]
    real = [im.features["truth"] for im in ev.images if label in im.features and "truth" in im.features]
    if len(fake) < 2:
        return None
    return fid_kid(np.stack(real), np.stack(fake))


def summarize(ev: Evaluation, perceptual: Perceptual = Perceptual()) -> dict:
    """Per line of the table, every measure's mean and spread over the images, and FID/KID of the set.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:132, 180:244] / 255.0  # (32, 64, 3) in [0, 1]
    >>> truth, other = photo[:, :32], photo[:, 32:]
    >>> def blur(x):  # a weight-free "restorer"
    ...     return (x + np.roll(x, 1, axis=1)) / 2
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(blur(other)), cal.add_clean(other)
    (900, 900)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> from dot_core import Evaluation, evaluate_image, summarize
    >>> one = evaluate_image(pipe, blur(truth), truth, name="crop", alphas=(0.5,))
    >>> summary = summarize(Evaluation(images=[one], skipped=[], settings={}, settings_hash=""))
    >>> [(line["kind"], line["alpha"], line["images"]) for line in summary["lines"]]
    [('restoration', None, 1), ('alpha', 0.5, 1), ('roundtrip', None, 1)]
    >>> summary["lines"][0]["psnr"]["n"], summary["lines"][0]["psnr"]["std"]  # no spread over 1 image
    (1, None)
    >>> summary["not_measured"]
    ['FID/KID not requested', 'LPIPS not requested']
    """
    rows = ev.rows
    lines = []
    for kind, alpha in _order(rows):
        mine = [r for r in rows if r["kind"] == kind and r["alpha"] == alpha]
        line = {"kind": kind, "alpha": alpha, "images": len(mine)}
        line.update({m: _stats([r[m] for r in mine]) for m in MEASURES})
        line["set"] = _set_level(ev, row_label(kind, alpha))
        lines.append(line)
    notes = [FID_NOTE] if any(line["set"] for line in lines) else []
    reasons = [r for r in (perceptual.features_reason, perceptual.lpips_reason) if r]
    if perceptual.features is not None and len(ev.images) < 2:
        reasons.append("FID/KID skipped: they need at least 2 images")
    return {"images": [im.name for im in ev.images], "n_images": len(ev.images), "lines": lines,
            "skipped_images": ev.skipped, "not_measured": reasons, "notes": notes,
            "settings": ev.settings, "settings_hash": ev.settings_hash}


def _fmt(stat: dict, digits: int) -> str:
    if stat["mean"] is None:
        return "–"
    if stat["mean"] == float("inf"):
        return "∞ (lossless)"
    text = f"{stat['mean']:.{digits}f}"
    return text + (f" ± {stat['std']:.{digits}f}" if stat["std"] is not None else "")


def _line_name(line: dict) -> str:
    names = {"restoration": "restoration x*", "roundtrip": "round trip D(E(y))"}
    return names[line["kind"]] if line["kind"] in names else f"α = {line['alpha']:g}"


def markdown_table(summary: dict) -> str:
    """The table a paper needs: per line mean ± standard deviation over the images, set-level FID/KID."""
    s = summary
    pipe = s["settings"]["pipeline"]
    cal = pipe["calibration"]
    head = [f"**Perception–distortion table of {s['n_images']} image{'s' * (s['n_images'] != 1)}** "
            f"(latent {cal['encoder']}, patch {cal['patch_size']}, {cal['mode']} calibration; α interpolated in "
            f"{s['settings']['space']} space; lattice period {s['settings']['lattice_period']} px; "
            f"settings {s['settings_hash']}). Mean ± standard deviation over the images.", ""]
    cols = ["line", "PSNR (dB) ↑", "SSIM ↑", "texture distance ↓", "lattice ratio (GT = 1)", "LPIPS ↓", "FID ↓",
            "KID ×10³ ↓"]
    table = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for line in s["lines"]:
        st = line["set"]
        fid = "–" if st is None else f"{st['fid']:.4g}"
        kid = "–" if st is None else f"{1e3 * st['kid']:.4g} ± {1e3 * st['kid_std']:.3g}"
        cells = [_line_name(line), _fmt(line["psnr"], 2), _fmt(line["ssim"], 4), _fmt(line["texture_distance"], 4),
                 _fmt(line["lattice_ratio"], 2), _fmt(line["lpips"], 4), fid, kid]
        table.append("| " + " | ".join(cells) + " |")
    tail = [""] + [f"- {n}" for n in s["notes"] + s["not_measured"]]
    if any(line["set"] for line in s["lines"]):
        st = next(line["set"] for line in s["lines"] if line["set"])
        tail.append(f"- KID: mean ± std over {st['kid_subsets']} random subsets of {st['kid_subset_size']} images.")
    tail += [f"- skipped {x}" for x in s["skipped_images"]]
    return "\n".join(head + table + (tail if len(tail) > 1 else [])) + "\n"


def _json_safe(value):
    """Infinite PSNR (a lossless round trip) written as the string "inf": JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_csv(rows: list[dict], path: Path) -> Path:
    """metrics.csv: one row per image and line, the columns of ``COLUMNS`` (empty where not measured)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else repr(r[c]) if isinstance(r[c], float) else r[c] for c in COLUMNS])
    return path


def write_report(ev: Evaluation, summary: dict, out) -> dict[str, Path]:
    """``metrics.csv``, ``summary.json``, ``table.md`` and ``pd_plot.png`` in ``out``; their paths.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:132, 180:244] / 255.0  # (32, 64, 3) in [0, 1]
    >>> truth, other = photo[:, :32], photo[:, 32:]
    >>> def blur(x):  # a weight-free "restorer"
    ...     return (x + np.roll(x, 1, axis=1)) / 2
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(blur(other)), cal.add_clean(other)
    (900, 900)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> import os, tempfile
    >>> from dot_core import evaluate_dataset, save_image, summarize, write_report
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     restored = save_image(os.path.join(folder, "restored", "0801.png"), blur(truth))
    ...     gt = save_image(os.path.join(folder, "truth", "0801.png"), truth)
    ...     ev = evaluate_dataset(pipe, [restored], [gt], os.path.join(folder, "evaluation"),
    ...                           alphas=(0.5,), progress=False)
    ...     paths = write_report(ev, summarize(ev), os.path.join(folder, "report"))
    ...     print(sorted(p.name for p in paths.values()))
    ...     print(paths["markdown"].read_text().splitlines()[4])  # doctest: +ELLIPSIS
    ['metrics.csv', 'pd_plot.png', 'summary.json', 'table.md']
    | restoration x* | ... |
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "metrics.csv", "json": out / "summary.json", "markdown": out / "table.md",
             "plot": out / "pd_plot.png"}
    write_csv(ev.rows, paths["csv"])
    paths["json"].write_text(json.dumps(_json_safe(summary), indent=1, allow_nan=False) + "\n")
    paths["markdown"].write_text(markdown_table(summary))
    plot_pd(summary, paths["plot"])
    return paths


def _panel(ax, lines: list[dict], x_of, xlabel: str) -> None:
    """PSNR against one perceptual measure: the α line, α marked, the two reference points."""
    alpha_lines = [ln for ln in lines if ln["kind"] == "alpha" and x_of(ln) is not None and ln["psnr"]["mean"] is not None]
    xs, ys = [x_of(ln) for ln in alpha_lines], [ln["psnr"]["mean"] for ln in alpha_lines]
    ax.plot(xs, ys, "-o", color="#4c72b0", markersize=4, label="x̂α, α from −1 to 2")
    for ln, x, y in zip(alpha_lines, xs, ys):
        if float(ln["alpha"]) * 2 == round(float(ln["alpha"]) * 2):  # every half: the rest would crowd
            ax.annotate(f"α={ln['alpha']:g}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    marks = {"restoration": ("*", "#dd8452", 13, "restoration x*"), "roundtrip": ("D", "#55a868", 8, "round trip D(E(y))")}
    for ln in lines:
        if ln["kind"] in marks and x_of(ln) is not None:
            shape, color, size, label = marks[ln["kind"]]
            y = ln["psnr"]["mean"]
            if y is None or not math.isfinite(y):
                ax.plot([], [], shape, color=color, label=f"{label}: lossless (∞ dB)")
                continue
            ax.plot(x_of(ln), y, shape, color=color, markersize=size, label=label, linestyle="none")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR, dB (higher = less distortion)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def plot_pd(summary: dict, path: Path) -> Path:
    """The set's perception–distortion plane: PSNR against texture distance, and against FID and KID
    where they were measured (means over the images; α marked; restoration and round trip as points)."""
    from matplotlib.figure import Figure  # Agg canvas: no display needed

    lines = summary["lines"]
    panels = [(lambda ln: ln["texture_distance"]["mean"], "texture distance to ground truth (lower = more realistic)")]
    if any(ln["set"] for ln in lines):
        panels.append((lambda ln: ln["set"] and ln["set"]["kid"] * 1e3, "KID ×10³ (lower = more realistic)"))
        panels.append((lambda ln: ln["set"] and ln["set"]["fid"], "FID (lower; not meaningful on few images)"))
    fig = Figure(figsize=(5.2 * len(panels), 4.2), dpi=110, layout="constrained")
    for i, (x_of, xlabel) in enumerate(panels):
        _panel(fig.add_subplot(1, len(panels), i + 1), lines, x_of, xlabel)
    fig.suptitle(f"Perception–distortion over α, {summary['n_images']} images (means)", fontsize=11)
    fig.savefig(path)
    return path
