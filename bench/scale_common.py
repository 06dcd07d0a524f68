"""Shared by bench_engine.py and bench_memory.py: test images, the SD-VAE architecture, timers,
peak memory, and running one case in a fresh subprocess (so each peak RSS is its own)."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Bundled scikit-image photographs: ten for calibration, one held out to enhance.
CALIBRATION_PHOTOS = (
    "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina", "camera", "brick", "grass", "gravel",
)
HELD_OUT_PHOTO = "astronaut"

# stabilityai/sd-vae-ft-mse's public config.json (the architecture only; weights are random).
SD_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=256,
    act_fn="silu",
)
SD_VAE_NAME = "sd-vae-ft-mse-arch"


def photo(name: str, size: int) -> np.ndarray:
    """A bundled photograph, centre-cropped square and resized to size×size, float32 in [0, 1]."""
    from PIL import Image
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    H, W = img.shape[:2]
    s = min(H, W)
    img = img[(H - s) // 2 : (H - s) // 2 + s, (W - s) // 2 : (W - s) // 2 + s, :3]
    im = Image.fromarray(np.ascontiguousarray(img)).resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


def bicubic_x4(img: np.ndarray) -> np.ndarray:
    """Bicubic ×4 down- then up-sampling: a weight-free 'restoration'."""
    from PIL import Image

    im = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    w, h = im.size
    small = im.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def calibration_images(size: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n restored (bicubic ×4) and n clean images of size×size, unpaired."""
    names = [CALIBRATION_PHOTOS[i % len(CALIBRATION_PHOTOS)] for i in range(n)]
    restored = [bicubic_x4(photo(m, size)) for m in names]
    clean = [photo(names[(i + len(names) // 2) % len(names)], size)[:, ::-1].copy() for i in range(n)]
    return restored, clean


def build_encoder(kind: str, *, device: str, dtype: str, seed: int = 0, **kwargs):
    """``pixel``, ``detail`` or ``sd-vae`` (the SD-VAE architecture with seeded random weights)."""
    from dot_core import DiffusersVAEEncoder, load_encoder

    if kind != "sd-vae":
        return load_encoder(kind, device=device)
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(**SD_VAE_CONFIG)
    return DiffusersVAEEncoder(vae, name=SD_VAE_NAME, device=device, dtype=dtype, **kwargs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    """(result, seconds) with the device synchronised before and after."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def timed_cpu(fn, device: torch.device):
    """(result, wall seconds, CPU seconds of this process): CPU time is steadier on a shared machine."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0, time.process_time() - c0


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1024 * 1024)


def cuda_peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / (1024 * 1024)


def reset_cuda_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def run_case(script: Path, case: dict, *, timeout: float | None = None) -> dict:
    """Run ``script --case JSON`` in a fresh interpreter; its last stdout line is the result JSON."""
    cmd = [sys.executable, str(script), "--case", json.dumps(case)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    extra = {"wall_s": time.perf_counter() - t0, "load_1min": [load0, os.getloadavg()[0]]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {**case, "error": " | ".join(tail) or f"exit code {proc.returncode}", **extra}
    return {**json.loads(lines[-1]), **extra}


def machine() -> dict:
    """Where the figures came from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil

    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_avg": os.getloadavg(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    return info


def machine_line(info: dict) -> str:
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ", no GPU"
    load = ", ".join(f"{x:.1f}" for x in info["load_avg"])
    return (
        f"{info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads), "
        f"{info['ram_gib']} GiB RAM{gpu}; Python {info['python']}, torch {info['torch']}, "
        f"diffusers {info.get('diffusers', '?')}; load average at start {load} (machine shared)"
    )


def command_flags(argv: list[str], *, drop_with_value: tuple[str, ...] = ("--note",)) -> str:
    """The command line's options as a report quotes them: without ``--report-only`` and without
    the options in ``drop_with_value`` and their values (``--note`` texts, output paths)."""
    out, skip = [], False
    for a in argv:
        if skip or a == "--report-only":
            skip = False
            continue
        if a in drop_with_value:
            skip = True
            continue
        out.append(a)
    return "".join(" " + a for a in out)
