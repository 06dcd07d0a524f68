"""How long does the page's ground-truth step take at 500×500? Before/after; to bench/results/ground_truth.md.

The step computes, for each α of the perception–distortion curve, the PSNR and texture distance of
x̂α = clip(α·x* + (1 − α)·x̂0) to the ground truth (then SSIM at the current α and the plot).

- before: the loop the page ran until now: ``texture_distance`` (and ``psnr``) of each blend at
  the 7 α (−1, −0.5, 0, 0.5, 1, 1.5, 2);
- after: ``webui.pd_curve.pd_curve`` (``dot_core.quality.pd_curve.texture_distances_along``) at the page's
  ``CURVE_ALPHAS`` (9 α) and at the old 7, and the whole handler (``compare_ground_truth``: read the
  PNG, keep it, the curve, SSIM, the figure) as the visitor waits for it.

The test image is a 500² crop of the bundled astronaut, bicubic ×4 "restored", transported on the
weight-free ``detail`` latent calibrated on three other bundled photos (coffee, chelsea, rocket).
Medians of ``--repeats`` runs, wall and CPU time, with the load average printed (this machine is
shared: wall time grows with the other jobs' load, CPU time much less).
Run: ``python bench/bench_ground_truth.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data, transform  # noqa: E402

from dot_core import Calibrator, DOTPipeline, load_encoder, psnr, texture_distance  # noqa: E402
from dot_core.quality.pd_curve import pd_curve  # noqa: E402
from serving.image_store import ArrayStore  # noqa: E402
from webui.engine_calls import new_image  # noqa: E402
from webui.ground_truth import GroundTruthHandlers  # noqa: E402
from webui.pd_plot import ALPHA_GRID  # noqa: E402
from webui.settings import CURVE_ALPHAS, Settings  # noqa: E402

SIDE = 500
OLD_ALPHAS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)


def bicubic_x4(img: np.ndarray) -> np.ndarray:
    low = transform.resize(img, (img.shape[0] // 4, img.shape[1] // 4), anti_aliasing=True)
    return np.clip(transform.resize(low, img.shape[:2], order=3), 0, 1).astype(np.float32)


def photo(name: str, side: int) -> np.ndarray:
    return np.ascontiguousarray(getattr(data, name)()[:side, :side, :3].astype(np.float32) / 255)


def before(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray) -> dict:
    """The page's former curve: one full texture_distance per α."""
    out = {"alpha": [], "psnr": [], "distance": []}
    for a in OLD_ALPHAS:
        x = np.clip(a * x_star + (1 - a) * x0, 0, 1)
        out["alpha"].append(a)
        out["psnr"].append(psnr(x, gt))
        out["distance"].append(texture_distance(x, gt))
    return out


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, *args, **kwargs):
        return iterable


def timed(fn, repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each run; CPU time counts every thread of this process."""
    times = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t, time.process_time() - c))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ground_truth.md"))
    args = parser.parse_args()

    calibrator = Calibrator(load_encoder("detail"), 3)
    for name in ("coffee", "chelsea", "rocket"):
        clean = photo(name, 256)
        calibrator.add_restored(bicubic_x4(clean))
        calibrator.add_clean(clean)
    pipeline = DOTPipeline(load_encoder("detail"), calibrator.fit())
    gt = photo("astronaut", SIDE)
    x_star = bicubic_x4(gt)
    enhanced = pipeline.enhance(x_star)
    x0 = enhanced.transported

    with tempfile.TemporaryDirectory() as folder:
        gt_png = str(Path(folder) / "astronaut_clean.png")
        Image.fromarray((gt * 255).round().astype(np.uint8)).save(gt_png)
        gt_read = np.asarray(Image.open(gt_png), dtype=np.float32) / 255
        settings = Settings()
        store = ArrayStore(settings.image_memory)
        state = new_image(store, pipeline, x_star, "astronaut")
        handler = GroundTruthHandlers(settings, store)
        old, new = before(x_star, x0, gt_read), pd_curve(x_star, x0, gt_read, OLD_ALPHAS, ALPHA_GRID)
        worst = float(np.max(np.abs(np.subtract(old["distance"], new["distance"]))))
        rows = {
            f"before: texture_distance per α ({len(OLD_ALPHAS)} α)": timed(lambda: before(x_star, x0, gt_read),
                                                                          max(2, args.repeats // 2)),
            f"after: pd_curve, the same {len(OLD_ALPHAS)} α": timed(
                lambda: pd_curve(x_star, x0, gt_read, OLD_ALPHAS, ALPHA_GRID), args.repeats),
            f"after: pd_curve, the page's {len(CURVE_ALPHAS)} α": timed(
                lambda: pd_curve(x_star, x0, gt_read, CURVE_ALPHAS, ALPHA_GRID), args.repeats),
            f"after: whole handler compare_ground_truth ({len(CURVE_ALPHAS)} α, SSIM, figure)": timed(
                lambda: handler.compare_ground_truth(gt_png, 0.5, state, NoProgress()), args.repeats),
        }
    load = os.getloadavg()
    lines = [
        f"# Ground truth at {SIDE}×{SIDE}: the perception–distortion curve, before and after",
        "",
        f"`python bench/bench_ground_truth.py --repeats {args.repeats}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(a shared machine: other jobs ran).",
        "",
        "| what | wall, median (s) | wall, min (s) | CPU, median (s) | runs |",
        "|---|---|---|---|---|",
        *[f"| {name} | {statistics.median(w for w, _ in t):.2f} | {min(w for w, _ in t):.2f} | "
          f"{statistics.median(c for _, c in t):.2f} | {len(t)} |" for name, t in rows.items()],
        "",
        f"Largest difference between the old and new texture distances at the same α: {worst:.1e}.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
