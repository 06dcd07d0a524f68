"""Load test: many concurrent visitors, each with its own calibration, moving the α slider.

Starts ``app.py`` in a child process on a free loopback port (127.0.0.1 only), then drives it with
one gradio_client ``Client`` per simulated visitor, all at once:

1. /calibrate on the visitor's own bicubic ×4 restorations and clean crops of bundled photos
   (encoders alternate between ``detail`` and ``pixel``; patch sizes 3 and 5 alternate too);
2. /enhance on the visitor's own test image;
3. N × /blend at random α ∈ [−1, 2] plus α = 1 and α = 0, each result checked against *this*
   visitor's images: α = 1 must be its upload exactly, α = 0 its own x̂0, any other α within two
   grey levels of α·x* + (1 − α)·x̂0. A result from another visitor's session would fail.

Each visitor sends its own (documentation-range) address in ``X-Forwarded-For``, and the app
runs as behind a Space's proxy (``DOT_APP_TRUST_FORWARDED=1``), so admission to the heavy slot
counts them as the distinct visitors they stand for. With ``--hog N`` one more client, from one
address and one session, fires N calibrations at once when the visitors start: admission
(``serving/admission.py``) lets at most its share in and refuses the rest at the door; those
refusals are expected and counted apart.

It reports errors (expected 0), p50/p95 latencies per endpoint, throughput and the server's peak
resident memory (psutil, sampled every 50 ms, children included), and writes
``bench/results/load.md``. Every loop is bounded and every call has a timeout; the server is
stopped at the end whatever happens.

Run: ``python bench/load_test.py [--sessions 16] [--updates 50] [--size 256]`` (about a minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dot_core.io.images import load_image, to_uint8  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "retina", "camera", "immunohistochemistry",
          "hubble_deep_field")  # bundled in scikit-image's wheel: nothing is downloaded
CALL_TIMEOUT_S = 120  # per gradio_client call


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _photo(index: int) -> np.ndarray:
    from skimage import data

    img = getattr(data, PHOTOS[index % len(PHOTOS)])()
    return img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)


def _bicubic_x4(rgb: np.ndarray) -> np.ndarray:
    im = Image.fromarray(rgb[..., :3])
    w, h = im.size
    return np.asarray(im.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC).resize((w, h), Image.BICUBIC))


def _crop(rgb: np.ndarray, side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    H, W = rgb.shape[:2]
    side = min(side, H, W)
    top, left = rng.integers(0, H - side + 1), rng.integers(0, W - side + 1)
    return np.ascontiguousarray(rgb[top:top + side, left:left + side, :3])


@dataclass
class Visitor:
    """One simulated visitor: its own files, encoder and patch size."""

    index: int
    encoder: str
    patch_size: int
    restored: list[str]
    clean: list[str]
    image: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"calibrate": [], "enhance": [], "blend": []})
    errors: list[str] = field(default_factory=list)


def make_visitors(n: int, side: int, folder: Path, encoders: list[str]) -> list[Visitor]:
    """Each visitor gets distinct crops: its own calibration set and its own test image."""
    visitors = []
    for i in range(n):
        sub = folder / f"visitor{i:02d}"
        sub.mkdir()
        restored, clean = [], []
        for k in range(3):
            clean_img = _crop(_photo(i + k), 128, seed=1000 * i + k)
            other = _crop(_photo(i + k + 3), 128, seed=1000 * i + k + 500)  # unpaired restorations
            Image.fromarray(clean_img).save(sub / f"clean{k}.png")
            Image.fromarray(_bicubic_x4(other)).save(sub / f"restored{k}.png")
            clean.append(str(sub / f"clean{k}.png"))
            restored.append(str(sub / f"restored{k}.png"))
        test = _bicubic_x4(_crop(_photo(i + 5), side, seed=7 * i + 1))
        Image.fromarray(test).save(sub / "image.png")
        visitors.append(Visitor(i, encoders[i % len(encoders)], (3, 5)[(i // len(encoders)) % 2],
                                restored, clean, str(sub / "image.png")))
    return visitors


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def run_visitor(url: str, v: Visitor, updates: int, seed: int) -> None:
    """Calibrate, enhance, then `updates` α moves; every result checked for this visitor."""
    from gradio_client import Client, handle_file

    def timed(kind: str, *args, **kwargs):
        start = time.perf_counter()
        job = client.submit(*args, **kwargs)
        out = job.result(timeout=CALL_TIMEOUT_S)
        v.latencies[kind].append(time.perf_counter() - start)
        return out

    try:
        client = Client(url, verbose=False, headers={"X-Forwarded-For": f"198.51.100.{v.index + 1}"})
        timed("calibrate", [handle_file(p) for p in v.restored], [handle_file(p) for p in v.clean], v.encoder,
              v.patch_size, api_name="/calibrate")
        original, transported, _ = timed("enhance", handle_file(v.image), api_name="/enhance")
    except Exception as exc:  # noqa: BLE001 - a load test counts every failure
        v.errors.append(f"visitor {v.index} setup: {type(exc).__name__}: {exc}")
        return
    x_star = to_uint8(load_image(v.image)).astype(np.int16)
    x0 = _pixels(transported)
    if not np.array_equal(_pixels(original), x_star):
        v.errors.append(f"visitor {v.index}: /enhance returned another original")
    rng = np.random.default_rng(seed)
    alphas = [1.0, 0.0, *np.round(rng.uniform(-1.0, 2.0, max(0, updates - 2)), 2)][:updates]
    for alpha in alphas:
        try:
            got = _pixels(timed("blend", float(alpha), api_name="/blend"))
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"visitor {v.index} α={alpha}: {type(exc).__name__}: {exc}")
            continue
        if alpha == 1.0:
            ok = np.array_equal(got, x_star)  # α = 1: this visitor's upload, exactly
        elif alpha == 0.0:
            ok = np.array_equal(got, x0)
        else:
            want = np.clip(np.rint(alpha * x_star + (1 - alpha) * x0), 0, 255)
            ok = got.shape == want.shape and np.abs(got - want).max() <= 2
        if not ok:
            v.errors.append(f"visitor {v.index} α={alpha}: result is not this visitor's x̂α")


class MemorySampler(threading.Thread):
    """Peak resident memory of a process and its children, sampled every `period` seconds."""

    def __init__(self, pid: int, period: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.period = psutil.Process(pid), period
        self.peak = self.last = 0
        self._halt = threading.Event()

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            self.last = self.rss()
            self.peak = max(self.peak, self.last)
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def start_server(port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "DOT_APP_ENCODER": os.environ.get("DOT_APP_ENCODER", "pixel"), "DOT_APP_TRUST_FORWARDED": "1"}
    code = "import app; from webui.layout import launch_options; app.demo.launch(**launch_options(app.SETTINGS))"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def run_hog(url: str, v: Visitor, n: int) -> dict:
    """One address, one session, ``n`` calibrations submitted at once: how many got in."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import ValidationError

    client = Client(url, verbose=False, headers={"X-Forwarded-For": "203.0.113.7"})
    args = ([handle_file(p) for p in v.restored], [handle_file(p) for p in v.clean], v.encoder, v.patch_size)
    jobs = [client.submit(*args, api_name="/calibrate") for _ in range(n)]
    out = {"admitted": 0, "refused": 0, "other": [], "reason": ""}
    for job in jobs:
        try:
            job.result(timeout=CALL_TIMEOUT_S)
            out["admitted"] += 1
        except ValidationError as exc:
            out["refused"] += 1
            out["reason"] = str(exc).splitlines()[-1].lstrip("- ")
        except Exception as exc:  # noqa: BLE001 - reported
            out["other"].append(f"{type(exc).__name__}: {exc}")
    return out


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode} before it was ready")
        try:
            if httpx.get(f"{url}config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the app did not answer on {url} within {timeout:.0f} s")


def _ms(xs: list[float], q: float) -> str:
    return f"{1e3 * float(np.percentile(xs, q)):.0f}" if xs else "–"


def report(args, visitors: list[Visitor], wall: float, rss: dict[str, int], encoders: list[str],
           hog: dict | None) -> str:
    errors = [e for v in visitors for e in v.errors] + [f"hog: {e}" for e in (hog or {}).get("other", [])]
    lat = {k: [x for v in visitors for x in v.latencies[k]] for k in ("calibrate", "enhance", "blend")}
    rows = "\n".join(f"| /{k} | {len(xs)} | {_ms(xs, 50)} | {_ms(xs, 95)} | {_ms(xs, 100)} |" for k, xs in lat.items())
    mb = {k: v / 2**20 for k, v in rss.items()}
    lines = [
        "# Load test: concurrent visitors, each with its own calibration",
        "",
        f"`python bench/load_test.py --sessions {args.sessions} --updates {args.updates} --size {args.size}` "
        f"on {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores "
        "(shared with other work while measured). The app ran in its own process on 127.0.0.1; "
        f"{args.sessions} gradio_client visitors ran at once, each calibrating on its own 3 + 3 "
        f"images (128², encoders {', '.join(encoders)} alternating, p = 3 or 5), enhancing its own "
        f"{args.size}×{args.size} image, then moving α {args.updates} times (α = 1, α = 0, then uniform in [−1, 2]).",
        "",
        "Every result was checked against the visitor's own images: α = 1 is its upload exactly, "
        "α = 0 its own x̂0, any other α within 2 grey levels of α·x* + (1 − α)·x̂0.",
        "",
        f"**Errors: {len(errors)}** (wrong or foreign results included) · wall time {wall:.1f} s · "
        f"{len(lat['blend']) / wall:.1f} α updates/s overall",
        "",
        "| endpoint | calls | p50 (ms) | p95 (ms) | max (ms) |",
        "| --- | --- | --- | --- | --- |",
        rows,
        "",
        "Latencies are gradio_client round trips (queue wait, handler, PNG written, file downloaded). "
        "/calibrate and /enhance share one 'heavy' slot, so under this burst they mostly measure "
        "the queue; /blend has its own 4 slots.",
        "",
        f"Server memory (resident, process and children): {mb['start']:.0f} MB after start-up, "
        f"**peak {mb['peak']:.0f} MB** during the run, {mb['end']:.0f} MB at the end.",
    ]
    if hog:
        lines += ["", f"**A hog** (`--hog {args.hog}`): one more client, one address and one session, fired "
                  f"{args.hog} calibrations at once as the visitors started: **{hog['admitted']} admitted, "
                  f"{hog['refused']} refused at the door** (before Gradio queued them), with the reason: "
                  f"“{hog['reason']}”. The visitors' /calibrate latencies above include waiting behind "
                  "the admitted ones only."]
    if errors:
        lines += ["", "First errors:", "", *[f"- {e}" for e in errors[:20]]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--updates", type=int, default=50, help="α updates per session")
    parser.add_argument("--size", type=int, default=256, help="side of each visitor's test image")
    parser.add_argument("--hog", type=int, default=24, help="calibrations one extra client fires at once (0: none)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    args = parser.parse_args()
    if not (1 <= args.sessions <= 64 and 2 <= args.updates <= 1000 and 16 <= args.size <= 2048
            and 0 <= args.hog <= 200):
        parser.error("keep --sessions in [1, 64], --updates in [2, 1000], --size in [16, 2048], --hog in [0, 200]")
    import importlib.util

    encoders = ["detail", "pixel"] if importlib.util.find_spec("dot_core.latents.detail") else ["pixel"]
    with tempfile.TemporaryDirectory(prefix="dot_load_") as tmp:
        tmp = Path(tmp)
        visitors = make_visitors(args.sessions, args.size, tmp, encoders)
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        server = start_server(port, tmp / "server.log")
        sampler = None
        try:
            wait_ready(url, server)
            sampler = MemorySampler(server.pid)
            rss = {"start": sampler.rss()}
            sampler.start()
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.sessions + 1) as pool:
                hog_job = pool.submit(run_hog, url, visitors[0], args.hog) if args.hog else None
                for f in [pool.submit(run_visitor, url, v, args.updates, seed=v.index) for v in visitors]:
                    f.result(timeout=CALL_TIMEOUT_S * (args.updates + 2))
                hog = hog_job.result(timeout=CALL_TIMEOUT_S * (args.hog + 1)) if hog_job else None
            wall = time.perf_counter() - start
            sampler.stop()
            rss.update(peak=max(sampler.peak, rss["start"]), end=sampler.rss())
        except BaseException:
            print((tmp / "server.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            if sampler is not None:
                sampler.stop()
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    text = report(args, visitors, wall, rss, encoders, hog)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if any(v.errors for v in visitors) or (hog and hog["other"]) else 0


if __name__ == "__main__":
    sys.exit(main())
