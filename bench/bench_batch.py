"""How long does the page's batch enhancement take for 10 images of 500×500? To bench/results/batch.md.

The handler behind the page's "Enhance all" button (``webui.batch.BatchHandlers.enhance_batch``):
read each PNG, transport it once, write its PNGs at every α into one zip. Ten 500² bicubic ×4
"restorations" of bundled photos (resized), α = 0, 0.5, 1 (30 PNGs), on the weight-free latents
``detail`` (the page's offline default) and ``pixel``, each calibrated on three other bundled photos.
Medians of ``--repeats`` runs, with the load average printed (this machine is shared).
Run: ``python bench/bench_batch.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data, transform  # noqa: E402

from dot_core import Calibrator, DOTPipeline, load_encoder  # noqa: E402
from webui.batch import BatchHandlers  # noqa: E402
from webui.settings import Settings  # noqa: E402
from webui.state import CalibrationState  # noqa: E402

SIDE, COUNT, ALPHAS = 500, 10, "0, 0.5, 1"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "cat", "colorwheel", "logo")


def photo(name: str, side: int) -> np.ndarray:
    img = getattr(data, name)()
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    return transform.resize(img, (side, side), anti_aliasing=True).astype(np.float32)


def bicubic_x4(img: np.ndarray) -> np.ndarray:
    low = transform.resize(img, (img.shape[0] // 4, img.shape[1] // 4), anti_aliasing=True)
    return np.clip(transform.resize(low, img.shape[:2], order=3), 0, 1).astype(np.float32)


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, *args, **kwargs):
        return iterable


def calibrated(encoder: str) -> CalibrationState:
    cal = Calibrator(load_encoder(encoder), 3)
    for name in ("coins", "camera", "moon"):
        clean = photo(name, 256)
        cal.add_restored(bicubic_x4(clean))
        cal.add_clean(clean)
    return CalibrationState(pipeline=DOTPipeline(load_encoder(encoder), cal.fit()), file="", source="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "batch.md"))
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for name in PHOTOS[:COUNT]:
            path = Path(folder) / f"{name}.png"
            Image.fromarray((bicubic_x4(photo(name, SIDE)) * 255).round().astype(np.uint8)).save(path)
            files.append(str(path))
        handler = BatchHandlers(Settings())
        for encoder in ("detail", "pixel"):
            state = calibrated(encoder)
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                archive, _ = handler.enhance_batch(files, ALPHAS, state, NoProgress())
                times.append(time.perf_counter() - t)
            assert len(zipfile.ZipFile(archive).namelist()) == 3 * COUNT
            rows[encoder] = times
    load = os.getloadavg()
    lines = [
        f"# Batch enhancement: {COUNT} images of {SIDE}×{SIDE}, α = {ALPHAS} ({3 * COUNT} PNGs in one zip)",
        "",
        f"`python bench/bench_batch.py --repeats {args.repeats}` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); load average at the "
        f"end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared machine: other jobs ran).",
        "",
        "| latent | median (s) | min (s) | per image (s, median) | runs |",
        "|---|---|---|---|---|",
        *[f"| {enc} | {statistics.median(t):.2f} | {min(t):.2f} | {statistics.median(t) / COUNT:.2f} | {len(t)} |"
          for enc, t in rows.items()],
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
