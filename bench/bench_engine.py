"""Engine benchmark: time and peak memory of calibrate and enhance (issue 2 "Benchmark", issue 6).

Latent spaces: ``pixel`` and the SD-VAE architecture (diffusers AutoencoderKL with
stabilityai/sd-vae-ft-mse's public config and seeded random weights: the same compute as the real
weights). Sizes 256², 512², 1024². Every case runs in a fresh subprocess, so its peak RSS is its
own; on CUDA the peak of allocated GPU memory is reported too.

calibrate  n restored (bicubic ×4) + n clean photographs, split into encoding, statistics
           accumulation (moments of the valid patches) and the operator fit.
           Target: statistics ≤ 5 % of the calibration time with a VAE.
enhance    ``DOTPipeline.enhance`` (encode → transport → fold → decode) against the bare VAE
           encode + decode of the same image with the same tiling, measured in the same process,
           interleaved. Target: enhance ≤ 1.15 × bare.
dtype      enhance in bfloat16 / float16 against float32: speed-up, PSNR between the outputs, and
           the change of PSNR against the clean image.

Usage::

    python bench/bench_engine.py                          # this machine (CPU plan, see PLANS)
    python bench/bench_engine.py --device cuda            # full plan on a GPU
    python bench/bench_engine.py --device cuda --dtype bfloat16
    python bench/bench_engine.py --quick                  # a smoke run in a minute
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scale_common import (
    HELD_OUT_PHOTO,
    SD_VAE_NAME,
    bicubic_x4,
    build_encoder,
    calibration_images,
    cuda_peak_mb,
    machine,
    machine_line,
    median,
    peak_rss_mb,
    photo,
    psnr,
    reset_cuda_peak,
    rss_mb,
    run_case,
    sync,
    timed,
    timed_cpu,
)

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results" / "engine.md"
PATCH = {"pixel": 3, "sd-vae": 3}
TARGET_RATIO, TARGET_STATS_SHARE = 1.15, 0.05


# ---------------------------------------------------------------------------------------------
# cases (each runs in its own subprocess)


def case_calibrate(c: dict) -> dict:
    from dot_core import Calibrator

    enc = build_encoder(c["encoder"], device=c["device"], dtype=c["dtype"])
    dev = enc.device
    restored, clean = calibration_images(c["size"], c["images"])
    warm = restored[0] if dev.type == "cuda" else restored[0][:128, :128]
    Calibrator(enc, PATCH[c["encoder"]]).add_restored(np.ascontiguousarray(warm))
    base = rss_mb()
    reset_cuda_peak(dev)
    runs = []
    for _ in range(c["repeats"]):
        cal = Calibrator(enc, PATCH[c["encoder"]])
        t_enc = t_stats = 0.0
        for add, imgs in ((cal.add_restored, restored), (cal.add_clean, clean)):
            for img in imgs:
                z, t = timed(lambda: cal.encode(img), dev)
                t_enc += t
                _, t = timed(lambda: add(img, latent=z), dev)
                t_stats += t
        _, t_fit = timed(cal.fit, dev)
        runs.append({"encode": t_enc, "stats": t_stats, "fit": t_fit, "total": t_enc + t_stats + t_fit})
    out = {k: median([r[k] for r in runs]) for k in runs[0]}
    out["stats_share"] = median([r["stats"] / r["total"] for r in runs])
    return {**c, **out, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb(), "cuda_peak_mb": cuda_peak_mb(dev)}


def _small_calibration(enc, patch: int):
    """An operator from two small image pairs: enhance's cost does not depend on its values."""
    from dot_core import Calibrator

    cal = Calibrator(enc, patch)
    restored, clean = calibration_images(128, 2)
    for r, k in zip(restored, clean):
        cal.add_restored(r)
        cal.add_clean(k)
    return cal.fit()


def _bare_vae(enc, img: np.ndarray, *, tiled: bool = True):
    """The diffusers VAE alone on the image tensor, with the tiling the encoder would choose
    (``tiled=False``: untiled whatever the size)."""
    from dot_core.imageio import image_to_tensor

    H, W = img.shape[:2]
    x = image_to_tensor(img).to(enc.device, enc.dtype)
    vae = enc.vae

    def run():
        enc._set_tiles(enc.tile_size_for(H, W) if tiled else None)  # each time: enhance sets its own
        with torch.inference_mode():
            return vae.decode(vae.encode(x).latent_dist.mean).sample

    return run


def case_enhance(c: dict) -> dict:
    from dot_core import DOTPipeline

    enc = build_encoder(c["encoder"], device=c["device"], dtype=c["dtype"])
    dev = enc.device
    pipe = DOTPipeline(enc, _small_calibration(enc, PATCH[c["encoder"]]))
    img = bicubic_x4(photo(HELD_OUT_PHOTO, c["size"]))
    vae = c["encoder"] == "sd-vae"
    bare = _bare_vae(enc, img) if vae else None
    pipe.enhance(img if dev.type == "cuda" else np.ascontiguousarray(img[:128, :128]))  # warm-up
    if vae and dev.type == "cuda":
        bare()
    base = rss_mb()
    reset_cuda_peak(dev)
    t_enh, t_bare, t_tr, c_enh, c_bare = [], [], [], [], []
    for r in range(c["repeats"]):
        order = ("bare", "enhance") if r % 2 == 0 else ("enhance", "bare")
        for what in order:
            if what == "bare" and bare is not None:
                _, t, cpu = timed_cpu(bare, dev)
                t_bare.append(t)
                c_bare.append(cpu)
            elif what == "enhance":
                res, t, cpu = timed_cpu(lambda: pipe.enhance(img), dev)
                t_enh.append(t)
                c_enh.append(cpu)
        t_tr.append(timed(lambda: pipe.transport(res.latent), dev)[1])
    out = {"enhance": median(t_enh), "transport": median(t_tr), "runs_enhance": t_enh, "runs_bare": t_bare,
           "cpu_enhance": c_enh, "cpu_bare": c_bare, "peak_rss_mb": peak_rss_mb(), "cuda_peak_mb": cuda_peak_mb(dev)}
    if t_bare:  # the ratio of each adjacent (bare, enhance) pair, so load drifts cancel
        out["bare_vae"] = median(t_bare)
        out["ratio"] = median([e / b for e, b in zip(t_enh, t_bare)])
        out["ratio_of_medians"] = out["enhance"] / out["bare_vae"]
        out["cpu_ratio"] = median(c_enh) / median(c_bare)
        out["tile"] = enc.tile_size_for(*img.shape[:2])
        if out["tile"] is not None:  # what tiling costs: one untiled bare run, last (its peak apart)
            reset_cuda_peak(dev)
            _, t, cpu = timed_cpu(_bare_vae(enc, img, tiled=False), dev)
            out.update(untiled_bare=t, cpu_untiled_bare=cpu, untiled_peak_rss_mb=peak_rss_mb(),
                       untiled_cuda_peak_mb=cuda_peak_mb(dev))
    return {**c, **out, "base_rss_mb": base}


def case_dtype(c: dict) -> dict:
    """Enhance with each dtype, one float32 calibration; speed and agreement with float32.

    The dtypes take turns within each repeat (the order rotates), so a change of the machine's
    load does not favour one of them; CPU time is recorded next to wall time.
    """
    from dot_core import DOTPipeline

    img = bicubic_x4(photo(HELD_OUT_PHOTO, c["size"]))
    truth = photo(HELD_OUT_PHOTO, c["size"])
    pipes, rows, calib = {}, {}, None
    for dtype in c["dtypes"]:  # dtypes[0] is the reference (float32)
        try:
            enc = build_encoder("sd-vae", device=c["device"], dtype=dtype)
            calib = calib or _small_calibration(enc, PATCH["sd-vae"])
            pipes[dtype] = DOTPipeline(enc, calib)
            pipes[dtype].enhance(img)  # warm-up at the measured size
        except Exception as exc:  # e.g. a dtype the device has no kernels for
            rows[dtype] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
    runs = {dt: {"wall": [], "cpu": [], "x0": None} for dt in pipes}
    order = list(pipes)
    for r in range(c["repeats"]):
        for dt in order[r % len(order):] + order[: r % len(order)]:
            pipe = pipes[dt]
            res, t, cpu = timed_cpu(lambda: pipe.enhance(img), pipe.encoder.device)
            runs[dt]["wall"].append(t)
            runs[dt]["cpu"].append(cpu)
            runs[dt]["x0"] = res.transported
    ref = runs.get(c["dtypes"][0])
    for dt, run in runs.items():
        row = {"enhance": median(run["wall"]), "cpu": median(run["cpu"]), "psnr_vs_truth": psnr(run["x0"], truth)}
        if ref is not None and run is not ref:
            row["speedup"] = ref_row["enhance"] / row["enhance"]
            row["cpu_speedup"] = ref_row["cpu"] / row["cpu"]
            row["psnr_vs_float32"] = psnr(run["x0"], ref["x0"])
            row["delta_psnr_vs_truth"] = row["psnr_vs_truth"] - ref_row["psnr_vs_truth"]
        else:
            ref_row = row
        rows[dt] = row
    return {**c, "rows": rows, "peak_rss_mb": peak_rss_mb()}


CASES = {"calibrate": case_calibrate, "enhance": case_enhance, "dtype": case_dtype}


# ---------------------------------------------------------------------------------------------
# plans: what runs where


def plan(args: argparse.Namespace) -> list[dict]:
    """The cases for this device. On CPU the SD-VAE's heavy sizes are reduced (stated in the report)."""
    cuda = torch.device(args.device).type == "cuda" if args.device != "auto" else torch.cuda.is_available()
    common = {"device": args.device, "dtype": args.dtype}
    if args.quick:
        sizes, n, cases = [64, 128], 3, []
        for enc in args.encoders:
            for s in sizes:
                cases.append({**common, "op": "calibrate", "encoder": enc, "size": s, "images": n, "repeats": 2})
                cases.append({**common, "op": "enhance", "encoder": enc, "size": s, "repeats": 2})
        cases.append({**common, "op": "dtype", "size": 64, "repeats": 2, "dtypes": ["float32", "bfloat16"]})
        return cases
    cases = []
    for enc in args.encoders:
        for s in args.sizes:
            n, rc, re = args.images, args.repeats, max(args.repeats, 3)
            if enc == "sd-vae" and not cuda:  # 2 CPU cores: an SD-VAE 1024² encode takes minutes
                if s >= 1024:
                    n, rc, re = min(n, 2), 1, 1
                elif s >= 512:
                    rc = 1
            cases.append({**common, "op": "calibrate", "encoder": enc, "size": s, "images": n, "repeats": rc})
            cases.append({**common, "op": "enhance", "encoder": enc, "size": s, "repeats": re})
    if "sd-vae" in args.encoders and not args.no_dtype:
        if cuda:
            cases.append({**common, "op": "dtype", "size": 512, "repeats": args.repeats,
                          "dtypes": ["float32", "bfloat16", "float16"]})
        else:  # CPU float16 has no fast kernels: a 64² SD-VAE round trip takes minutes
            cases.append({**common, "op": "dtype", "size": 256, "repeats": args.repeats, "dtypes": ["float32", "bfloat16"]})
            cases.append({**common, "op": "dtype", "size": 64, "repeats": 1, "dtypes": ["float32", "float16"]})
    return cases


# ---------------------------------------------------------------------------------------------
# report


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


def _flags() -> str:
    """The command line's options, without --note texts and --report-only."""
    out, skip = [], False
    for a in sys.argv[1:]:
        if skip or a == "--report-only":
            skip = False
            continue
        if a == "--note":
            skip = True
            continue
        out.append(a)
    return "".join(" " + a for a in out)


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
        f"Device `{device}`, dtype `{args.dtype}`. Produced by `python bench/bench_engine.py{_flags()}`"
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


def _key(c: dict) -> tuple:
    return tuple(str(c.get(k)) for k in ("op", "encoder", "size", "images", "device", "dtype", "dtypes"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="VAE precision")
    ap.add_argument("--encoders", default="pixel,sd-vae", type=lambda s: s.split(","))
    ap.add_argument("--sizes", default="256,512,1024", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--images", type=int, default=10, help="restored and clean images for calibrate (each)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-dtype", action="store_true", help="skip the precision comparison")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    ap.add_argument("--note", dest="notes", action="append", default=[], help="a line for the report's notes")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--resume", action="store_true", help="keep the finished cases of the previous run's JSON")
    ap.add_argument("--only", type=lambda s: s.split(","), default=[], help="with --resume: ops to run again")
    ap.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the JSON, run nothing")
    args = ap.parse_args()
    if args.case:
        c = json.loads(args.case)
        torch.manual_seed(0)
        print(json.dumps(CASES[c["op"]](c)), flush=True)
        return 0
    raw = args.out.with_suffix(".json")
    if args.report_only:  # rewrite the Markdown from the JSON of earlier runs
        data = json.loads(raw.read_text())
        args.out.write_text(report(data["results"], data["machine"], args, data.get("elapsed_s", float("nan"))))
        print(f"wrote {args.out}")
        return 0
    info, t0, results = machine(), time.perf_counter(), []
    print(machine_line(info), flush=True)
    previous = json.loads(raw.read_text())["results"] if args.resume and raw.exists() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for c in plan(args):
        old = next((r for r in previous if _key(r) == _key(c) and "error" not in r), None)
        if old is not None and (not args.only or c["op"] not in args.only):
            r = old  # --resume: kept from the previous run
        else:
            r = run_case(HERE, c)
        results.append(r)
        print(describe(r), flush=True)
        raw.write_text(json.dumps({"machine": info, "results": results}, indent=1))  # progress survives
    text = report(results, info, args, time.perf_counter() - t0)
    args.out.write_text(text)
    raw.write_text(json.dumps({"machine": info, "results": results, "elapsed_s": time.perf_counter() - t0}, indent=1))
    print(f"wrote {args.out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
