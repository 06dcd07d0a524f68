"""Memory benchmark: peak RSS of enhancing one large image, each case in a fresh subprocess.

Targets (issue 6): a 4096×4096 image through ``pixel`` and ``detail`` under 3 GB peak RSS; a
1536×1536 image through the SD-VAE architecture under 4 GB peak RSS on CPU.

Each case follows the command line's steps for one input: ``load_image`` (a PNG on disk) →
``DOTPipeline.enhance`` (encode, chunked transport, decode; VAE tiling chosen automatically) →
``blend`` at α = 0 and 0.5 → ``save_image``. The calibration comes from four small images (its
cost does not depend on the image enhanced). The RSS before the enhancement (interpreter, torch,
the model, the operator) is reported next to the peak.

Usage::

    python bench/bench_memory.py                       # the targets on this machine
    python bench/bench_memory.py --untiled             # also the SD-VAE untiled at 512² and 1024²
    python bench/bench_memory.py --device cuda         # adds the CUDA peak
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from scale_common import (
    HELD_OUT_PHOTO,
    SD_VAE_NAME,
    bicubic_x4,
    build_encoder,
    calibration_images,
    command_flags,
    cuda_peak_mb,
    machine,
    machine_line,
    peak_rss_mb,
    photo,
    reset_cuda_peak,
    rss_mb,
    run_case,
    timed,
)

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results" / "memory.md"
GB = 1000**3 / 2**20  # MiB in a decimal gigabyte; the stricter reading of the targets
GIB = 1024.0  # MiB in a gibibyte
TARGETS_MB = {("pixel", 4096): 3 * GB, ("detail", 4096): 3 * GB, ("sd-vae", 1536): 4 * GB}


def case_enhance(c: dict) -> dict:
    """Load, enhance, blend and save one large image; report peak RSS (and CUDA peak)."""
    from dot_core import Calibrator, DOTPipeline, load_image, save_image

    kwargs = {} if c.get("tiling", "auto") == "auto" else {"tiling": False}
    enc = build_encoder(c["encoder"], device=c["device"], dtype=c["dtype"], **kwargs)
    dev = enc.device
    cal = Calibrator(enc, c["patch"])
    for r, k in zip(*calibration_images(128, 2)):
        cal.add_restored(r)
        cal.add_clean(k)
    pipe = DOTPipeline(enc, cal.fit())
    out_dir = Path(c["out_dir"])
    base = rss_mb()
    reset_cuda_peak(dev)
    t0 = time.perf_counter()
    img = load_image(c["input"])
    res, t_enh = timed(lambda: pipe.enhance(img), dev)
    for a in (0.0, 0.5):
        save_image(out_dir / f"{c['encoder']}_{c['size']}_alpha{a:g}.png", pipe.blend(res, a))
    total = time.perf_counter() - t0
    tile = enc.tile_size_for(*img.shape[:2]) if hasattr(enc, "tile_size_for") else None
    return {**c, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb(), "cuda_peak_mb": cuda_peak_mb(dev),
            "enhance_s": t_enh, "total_s": total, "tile": tile}


def make_input(size: int, folder: Path) -> Path:
    """A size×size restored photograph (bicubic ×4) as a PNG, made once per size."""
    path = folder / f"input_{size}.png"
    if not path.exists():
        from dot_core import save_image

        save_image(path, bicubic_x4(photo(HELD_OUT_PHOTO, size)))
    return path


def plan(args: argparse.Namespace, folder: Path) -> list[dict]:
    common = {"device": args.device, "dtype": args.dtype, "out_dir": str(folder)}
    cases = []
    for enc, size, patch in (("pixel", 4096, 3), ("detail", 4096, 5), ("sd-vae", 1536, 3)):
        if enc not in args.encoders:
            continue
        cases.append({**common, "encoder": enc, "size": size, "patch": patch, "tiling": "auto"})
    if args.untiled and "sd-vae" in args.encoders:
        for size in (512, 1024):
            cases.append({**common, "encoder": "sd-vae", "size": size, "patch": 3, "tiling": "off"})
    for c in cases:
        c["input"] = str(make_input(c["size"], folder))
    return cases


def describe(r: dict) -> str:
    name = SD_VAE_NAME if r["encoder"] == "sd-vae" else r["encoder"]
    head = f"{name} {r['size']}² (VAE tiling {r.get('tiling', 'auto')})"
    if "error" in r:
        return f"{head}: ERROR {r['error']}"
    target = TARGETS_MB.get((r["encoder"], r["size"])) if r.get("tiling") == "auto" else None
    verdict = "" if target is None else f" (target < {target / GB:.0f} GB: {'met' if r['peak_rss_mb'] <= target else 'NOT met'})"
    return (
        f"{head}: peak RSS {r['peak_rss_mb']:,.0f} MiB = {r['peak_rss_mb'] / GB:.2f} GB = "
        f"{r['peak_rss_mb'] / GIB:.2f} GiB{verdict}; "
        f"RSS before {r['base_rss_mb']:,.0f} MiB; enhance {r['enhance_s']:.1f} s, with load/blend/save "
        f"{r['total_s']:.1f} s" + ("" if r.get("tile") is None else f"; VAE tiles {r['tile']}²")
    )


def report(results: list[dict], info: dict, elapsed: float, notes: list[str]) -> str:
    lines = [
        "# Memory benchmark: one large image, peak RSS",
        "",
        f"Machine: {machine_line(info)}.",
        f"Produced by `python bench/bench_memory.py{command_flags(sys.argv[1:], drop_with_value=('--note', '--out'))}`"
        + ("" if elapsed != elapsed else f" in {elapsed / 60:.1f} min") + ". Each case is a fresh subprocess: load the PNG, enhance, blend "
        "at α = 0 and 0.5, save both (the CLI's steps). RSS in MiB; targets judged in decimal GB "
        "(10⁹ bytes), the stricter reading.",
        "",
        "| latent | image | VAE tiling | tile | RSS before (MiB) | peak RSS (MiB) | peak GB | peak GiB | target | enhance | load+enhance+save |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        name = SD_VAE_NAME if r["encoder"] == "sd-vae" else f"`{r['encoder']}`"
        if "error" in r:
            lines.append(f"| {name} | {r['size']}² | {r.get('tiling')} | | | failed: {r['error'][:120]} | | | | | |")
            continue
        target = TARGETS_MB.get((r["encoder"], r["size"])) if r.get("tiling") == "auto" else None
        verdict = "–" if target is None else f"< {target / GB:.0f} GB {'✓' if r['peak_rss_mb'] <= target else '✗'}"
        tile = "untiled" if r.get("tile") is None else f"{r['tile']}²"
        lines.append(
            f"| {name} | {r['size']}² | {r.get('tiling')} | {tile if r['encoder'] == 'sd-vae' else '–'} | "
            f"{r['base_rss_mb']:,.0f} | {r['peak_rss_mb']:,.0f} | {r['peak_rss_mb'] / GB:.2f} | "
            f"{r['peak_rss_mb'] / GIB:.2f} | {verdict} | "
            f"{r['enhance_s']:.1f} s | {r['total_s']:.1f} s |"
        )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--encoders", default="pixel,detail,sd-vae", type=lambda s: s.split(","))
    ap.add_argument("--untiled", action="store_true", help="also the SD-VAE untiled at 512² and 1024²")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--note", dest="notes", action="append", default=[], help="a line for the report's notes")
    ap.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the JSON, run nothing")
    args = ap.parse_args()
    raw = args.out.with_suffix(".json")
    if args.report_only:
        data = json.loads(raw.read_text())
        args.out.write_text(report(data["results"], data["machine"], data.get("elapsed_s", float("nan")), args.notes))
        print(f"wrote {args.out}")
        return 0
    if args.case:
        torch.manual_seed(0)
        print(json.dumps(case_enhance(json.loads(args.case))), flush=True)
        return 0
    info, t0, results = machine(), time.perf_counter(), []
    print(machine_line(info), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dot_bench_memory_") as tmp:
        for c in plan(args, Path(tmp)):
            r = run_case(HERE, c)
            r = {k: v for k, v in r.items() if k not in ("input", "out_dir")}
            results.append(r)
            print(describe(r), flush=True)
            raw.write_text(json.dumps({"machine": info, "results": results}, indent=1))
    elapsed = time.perf_counter() - t0
    raw.write_text(json.dumps({"machine": info, "results": results, "elapsed_s": elapsed}, indent=1))
    args.out.write_text(report(results, info, elapsed, args.notes))
    print(f"wrote {args.out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
