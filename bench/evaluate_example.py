"""The README's worked examples of ``dot-core evaluate``: a paper's perception–distortion table.

``sr-bicubic-x4``: the shipped preset's ``detail`` calibration, its own restorer (Pillow bicubic ×4
down and up, ``dot_core.presets.recipes.make_restoration``) applied to the first N Kodak24 photographs
(reporting photographs: never in a calibration, never tuned on).

``fsrcnn-x4`` (when ``../shared/weights/fsrcnn`` is there): FSRCNN ×4 on OpenCV's cubic ×4
degradation (``dot_core.fsrcnn.fsrcnn_pair``); a ``detail`` calibration made *paired* on N CBSD68
photographs (tuning photographs) with the restorer's lattice 4, then evaluated on the first N Kodak24.

Each writes its restorations and ground truths under ``--work`` and runs the very command a user
runs (``python -m dot_core evaluate``); the table and plot go to ``bench/results/evaluate_<name>/``.

    python bench/evaluate_example.py --n 8 [--only sr-bicubic-x4|fsrcnn-x4]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, reporting_photos, tuning_photos  # noqa: E402
from dot_core.io.images import load_image, save_image  # noqa: E402
from dot_core.presets.recipes import make_restoration  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def dot_core(*args: str) -> None:
    cmd = [sys.executable, "-m", "dot_core", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code not in (0, 1):
        raise SystemExit(f"{args[0]} failed with exit code {code}")


def bicubic_example(n: int, work: Path) -> None:
    for path in reporting_photos()[:n]:
        clean = load_image(path)
        save_image(work / "restored" / path.name, make_restoration("sr-bicubic-x4", clean))
        save_image(work / "truth" / path.name, clean)
    evaluate("sr-bicubic-x4", ROOT / "presets" / "sr-bicubic-x4" / "detail.safetensors", work)


def fsrcnn_example(n: int, work: Path) -> None:
    for role, photos in (("cal", tuning_photos()[:n]), ("", reporting_photos()[:n])):
        for path in photos:
            restored, truth = fsrcnn_pair(load_image(path), 4)
            save_image(work / f"{role}restored" / path.name, restored)
            save_image(work / f"{role}truth" / path.name, truth)
    cal = work / "fsrcnn-x4_detail_paired.safetensors"
    dot_core("calibrate", "--restored", str(work / "calrestored"), "--clean", str(work / "caltruth"),
             "--encoder", "detail", "--mode", "paired", "--restoration-lattice", "4", "--out", str(cal))
    evaluate("fsrcnn-x4", cal, work)


def evaluate(name: str, cal: Path, work: Path) -> None:
    out = work / "evaluate"
    dot_core("evaluate", "--calibration", str(cal), "--restored", str(work / "restored"),
             "--truth", str(work / "truth"), "--out", str(out))
    dest = RESULTS / f"evaluate_{name}"
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("metrics.csv", "summary.json", "table.md", "pd_plot.png"):
        shutil.copy(out / f, dest / f)
    print(f"copied to {dest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="photographs per set (default: %(default)s)")
    ap.add_argument("--only", choices=["sr-bicubic-x4", "fsrcnn-x4"], default=None)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dot_evaluate_example"))
    args = ap.parse_args()
    if not reporting_photos():
        raise SystemExit("Kodak24 not found (../shared/data/photos or DOT_PHOTOS)")
    if args.only in (None, "sr-bicubic-x4"):
        bicubic_example(args.n, args.work / "sr-bicubic-x4")
    if args.only in (None, "fsrcnn-x4"):
        reason = fsrcnn_unavailable_reason(4)
        if reason:
            print(f"fsrcnn-x4 skipped: {reason}")
        else:
            fsrcnn_example(args.n, args.work / "fsrcnn-x4")


if __name__ == "__main__":
    main()
