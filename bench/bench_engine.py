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
import sys
import time
from pathlib import Path

import numpy as np
import torch
from engine_report import describe, report
from scale_common import (
    HELD_OUT_PHOTO,
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
    timed,
    timed_cpu,
)

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results" / "engine.md"
PATCH = {"pixel": 3, "sd-vae": 3}


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
    from dot_core.io.images import image_to_tensor

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
    for dt, run in runs.items():
        rows[dt] = {"enhance": median(run["wall"]), "cpu": median(run["cpu"]), "psnr_vs_truth": psnr(run["x0"], truth)}
    ref_dt = c["dtypes"][0]
    if ref_dt in runs:  # every other dtype against the first (float32)
        ref, ref_row = runs[ref_dt], rows[ref_dt]
        for dt, row in rows.items():
            if dt != ref_dt:
                row["speedup"] = ref_row["enhance"] / row["enhance"]
                row["cpu_speedup"] = ref_row["cpu"] / row["cpu"]
                row["psnr_vs_float32"] = psnr(runs[dt]["x0"], ref["x0"])
                row["delta_psnr_vs_truth"] = row["psnr_vs_truth"] - ref_row["psnr_vs_truth"]
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
