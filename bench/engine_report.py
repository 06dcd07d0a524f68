"""The Markdown report of ``bench_engine.py``: one line per case as it finishes, and the tables
and verdicts against the targets written to ``bench/results/engine.md``.

Kept apart from the cases so that ``python bench/bench_engine.py --report-only`` can rewrite the
report from the JSON of earlier runs without running anything.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
from scale_common import SD_VAE_NAME, command_flags, machine_line, median

__all__ = ["TARGET_RATIO", "TARGET_STATS_SHARE", "describe", "report"]

TARGET_RATIO, TARGET_STATS_SHARE = 1.15, 0.05  # enhance ÷ bare VAE; statistics share of calibrate


def _fmt_s(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_x(x: float) -> str:
    return f"{x:.2f}" if x >= 0.1 else f"{x:.4f}"


def _mb(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def describe(r: dict) -> str:
    """One line per finished case, printed as it comes."""
    if "error" in r:
        return f"{r['op']} {r.get('encoder', '')} {r.get('size', '')}: ERROR {r['error']}"
    if r["op"] == "calibrate":
        return (
            f"calibrate {r['encoder']} {r['size']}² {r['images']}+{r['images']} images: {_fmt_s(r['total'])} "
            f"(encode {_fmt_s(r['encode'])}, statistics {_fmt_s(r['stats'])} = {100 * r['stats_share']:.2f} %, "
            f"fit {_fmt_s(r['fit'])}); peak RSS {_mb(r['peak_rss_mb'])} MiB"
        )
    if r["op"] == "enhance":
        ratio = (f", bare VAE {_fmt_s(r['bare_vae'])}, ratio {r['ratio']:.3f}× wall, {r['cpu_ratio']:.3f}× CPU time"
                 if "ratio" in r else "")
        if "untiled_bare" in r:
            ratio += f"; tiles {r['tile']}², untiled bare VAE {_fmt_s(r['untiled_bare'])}"
        return (
            f"enhance {r['encoder']} {r['size']}²: {_fmt_s(r['enhance'])} (transport {_fmt_s(r['transport'])}{ratio}); "
            f"peak RSS {_mb(r['peak_rss_mb'])} MiB"
        )
    parts = []
    for dt, row in r["rows"].items():
        if "error" in row:
            parts.append(f"{dt}: {row['error']}")
        elif "speedup" in row:
            parts.append(
                f"{dt}: {_fmt_s(row['enhance'])}, ×{_fmt_x(row['speedup'])} vs float32, PSNR vs float32 output "
                f"{row['psnr_vs_float32']:.1f} dB, ΔPSNR vs clean {row['delta_psnr_vs_truth']:+.2f} dB"
            )
        else:
            parts.append(f"{dt}: {_fmt_s(row['enhance'])}")
    return f"dtype SD-VAE {r['size']}²: " + "; ".join(parts)


def report(results: list[dict], info: dict, args: argparse.Namespace, elapsed: float) -> str:
    cal = [r for r in results if r["op"] == "calibrate" and "error" not in r]
    enh = [r for r in results if r["op"] == "enhance" and "error" not in r]
    dty = [r for r in results if r["op"] == "dtype" and "error" not in r]
    err = [r for r in results if "error" in r]
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    lines = [
        "# Engine benchmark: calibrate and enhance",
        "",
        f"Machine: {machine_line(info)}.",
        f"Device `{device}`, dtype `{args.dtype}`. Produced by `python bench/bench_engine.py{command_flags(sys.argv[1:])}`"
        + ("" if math.isnan(elapsed) else f" in {elapsed / 60:.1f} min") + ".",
        f"`{SD_VAE_NAME}` is diffusers' AutoencoderKL with stabilityai/sd-vae-ft-mse's public config and "
        "seeded random weights (the Hub is unreachable here): the real model's compute, not its outputs.",
        "Times are medians over the repeats; each case ran in a fresh subprocess, whose peak RSS is "
        "given (it includes Python, torch, diffusers and the model: see the RSS before the timed runs).",
        "",
        "## Calibrate (n restored + n clean images)",
        "",
        "| latent | size | images | repeats | total | encode | statistics | share | fit | RSS before | peak RSS | CUDA peak |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in cal:
        lines.append(
            f"| {r['encoder']} | {r['size']}² | {r['images']}+{r['images']} | {r['repeats']} | {_fmt_s(r['total'])} | "
            f"{_fmt_s(r['encode'])} | {_fmt_s(r['stats'])} | {100 * r['stats_share']:.2f} % | {_fmt_s(r['fit'])} | "
            f"{_mb(r['base_rss_mb'])} MiB | {_mb(r['peak_rss_mb'])} MiB | {_mb(r['cuda_peak_mb'])} |"
        )
    vae_shares = [r["stats_share"] for r in cal if r["encoder"] == "sd-vae"]
    if vae_shares:
        ok = max(vae_shares) <= TARGET_STATS_SHARE
        lines += ["", f"Statistics share with the VAE: at most {100 * max(vae_shares):.2f} % "
                      f"(target ≤ {100 * TARGET_STATS_SHARE:.0f} %: {'met' if ok else 'NOT met'})."]
    lines += [
        "",
        "## Enhance (one image) against the bare VAE encode + decode",
        "",
        "| latent | size | repeats | enhance | transport + fold | bare VAE enc+dec | ratio (wall) | ratio (CPU time) | VAE tile | RSS before | peak RSS | CUDA peak |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in enh:
        ratio = f"{r['ratio']:.3f}×" if "ratio" in r else "n/a"
        cpu_ratio = f"{r['cpu_ratio']:.3f}×" if "cpu_ratio" in r else "n/a"
        tile = "–" if "ratio" not in r else ("untiled" if r.get("tile") is None else f"{r['tile']}²")
        lines.append(
            f"| {r['encoder']} | {r['size']}² | {r['repeats']} | {_fmt_s(r['enhance'])} | {_fmt_s(r['transport'])} | "
            f"{_fmt_s(r.get('bare_vae'))} | {ratio} | {cpu_ratio} | {tile} | {_mb(r['base_rss_mb'])} MiB | {_mb(r['peak_rss_mb'])} MiB | "
            f"{_mb(r['cuda_peak_mb'])} |"
        )
    ratios = [r["ratio"] for r in enh if "ratio" in r]
    if ratios:
        cpu_ratios = [r["cpu_ratio"] for r in enh if "cpu_ratio" in r]
        ok = min(max(ratios), max(cpu_ratios, default=math.inf)) <= TARGET_RATIO
        lines += ["", "Ratio (wall): the median over repeats of enhance / bare VAE of adjacent runs (the "
                      "order alternates), so that changes of the machine's load cancel. Ratio (CPU time): "
                      "median CPU seconds of this process for enhance over those of the bare VAE; other "
                      "processes on the machine do not inflate it.",
                  "", f"Enhance / bare VAE: at most {max(ratios):.3f}× in wall time and "
                      f"{max(cpu_ratios, default=math.nan):.3f}× in CPU time (target ≤ {TARGET_RATIO}×: "
                      f"{'met' if ok else 'NOT met'}). With `pixel` there is no VAE to compare with: "
                      "its enhance time is the engine's own work."]
    tiled = [r for r in enh if "untiled_bare" in r]
    if tiled:
        lines += [
            "",
            "### What automatic VAE tiling costs",
            "",
            "Above the memory budget the VAE runs in overlapping tiles (diffusers' tiling, 25 % overlap): "
            "bounded memory for more compute. One untiled bare run, measured last in the same process:",
            "",
            "| size | tile | bare VAE tiled | bare VAE untiled | CPU time tiled / untiled | peak RSS tiled | peak RSS untiled |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in tiled:
            lines.append(
                f"| {r['size']}² | {r['tile']}² | {_fmt_s(r['bare_vae'])} | {_fmt_s(r['untiled_bare'])} | "
                f"{median(r['cpu_bare']) / r['cpu_untiled_bare']:.2f}× | {_mb(r['peak_rss_mb'])} MiB | "
                f"{_mb(r['untiled_peak_rss_mb'])} MiB |"
            )
    for r in dty:
        lines += [
            "",
            f"## Precision: SD-VAE enhance at {r['size']}²",
            "",
            "One float32 calibration for all; the dtypes take turns within each repeat. PSNR of each "
            "output against the float32 output, and the "
            "change of its PSNR against the clean image (random weights: the outputs are not photographs, "
            "so only the agreement with float32 means something).",
            "",
            "| dtype | enhance (wall) | speed-up (wall) | speed-up (CPU time) | PSNR vs float32 output | ΔPSNR vs clean |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for dt, row in r["rows"].items():
            if "error" in row:
                lines.append(f"| {dt} | failed: {row['error']} | | | | |")
            elif "speedup" in row:
                cpu = f"{_fmt_x(row['cpu_speedup'])}×" if "cpu_speedup" in row else "–"
                lines.append(
                    f"| {dt} | {_fmt_s(row['enhance'])} | {_fmt_x(row['speedup'])}× | {cpu} | "
                    f"{row['psnr_vs_float32']:.1f} dB | {row['delta_psnr_vs_truth']:+.2f} dB |"
                )
            else:
                lines.append(f"| {dt} | {_fmt_s(row['enhance'])} | 1.00× | 1.00× | – | – |")
    notes = [n for n in args.notes if n]
    reduced = [r for r in results if r.get("encoder") == "sd-vae" and r["op"] == "calibrate" and r["images"] < args.images]
    if reduced:
        notes.append(
            "SD-VAE at " + ", ".join(f"{r['size']}²" for r in reduced) + f": {reduced[0]['images']}+"
            f"{reduced[0]['images']} calibration images and a single repeat instead of {args.images}+{args.images} "
            "(one 1024² encode takes minutes on this CPU); encoding time grows linearly with the image count, "
            "the statistics share does not depend on it."
        )
    if err:
        notes += [f"failed: {describe(r)}" for r in err]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
