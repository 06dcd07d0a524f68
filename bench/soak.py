"""Soak test: many sessions one after another; does the server's memory level off?

Starts ``app.py`` in a child process on a free loopback port (as ``bench/load_test.py`` does) and
runs ``--sessions`` gradio_client visitors through it, ``--parallel`` at a time, each in its own
session: /calibrate on its own 3 + 3 small images (``detail``), /enhance on its own test image,
/ground_truth (the perception–distortion curve and its plot), and ``--updates`` /blend calls. Every
visitor's client is closed when it is done, as a visitor closes the tab; the server keeps its
state until it expires, as a public Space does.

It samples the server's resident memory (psutil, process and children) after every ``--every``
sessions and writes ``bench/results/soak.md``: RSS against sessions served, and the growth over
the second half of the run (a leak grows linearly; a bounded server levels off).

Run: ``python bench/soak.py [--sessions 200] [--parallel 4] [--updates 5] [--size 128]``
(200 sessions of 96² images took 25 minutes on 2 CPU cores shared with other work).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load_test import (  # noqa: E402  (the load test's server, photos and sampler)
    CALL_TIMEOUT_S,
    MemorySampler,
    _bicubic_x4,
    _crop,
    _free_port,
    _photo,
    start_server,
    wait_ready,
)


def make_files(index: int, side: int, folder: Path) -> dict:
    """One visitor's own files: 3 restored + 3 clean 96² crops, a test image and its ground truth."""
    sub = folder / f"v{index:03d}"
    sub.mkdir()
    out = {"restored": [], "clean": []}
    for k in range(3):
        clean = _crop(_photo(index + k), 96, seed=1000 * index + k)
        restored = _bicubic_x4(_crop(_photo(index + k + 3), 96, seed=1000 * index + k + 500))
        for role, img in (("clean", clean), ("restored", restored)):
            Image.fromarray(img).save(sub / f"{role}{k}.png")
            out[role].append(str(sub / f"{role}{k}.png"))
    truth = _crop(_photo(index + 5), side, seed=7 * index + 1)
    Image.fromarray(truth).save(sub / "truth.png")
    Image.fromarray(_bicubic_x4(truth)).save(sub / "image.png")
    out.update(image=str(sub / "image.png"), truth=str(sub / "truth.png"))
    return out


def run_session(url: str, files: dict, updates: int, seed: int) -> str | None:
    """One visitor: calibrate, enhance, ground truth, α moves; an error message or None."""
    from gradio_client import Client, handle_file

    def call(*args, **kwargs):
        return client.submit(*args, **kwargs).result(timeout=CALL_TIMEOUT_S)

    client = None
    try:
        client = Client(url, verbose=False, headers={"X-Forwarded-For": f"198.51.100.{seed % 250 + 1}"})
        call([handle_file(p) for p in files["restored"]], [handle_file(p) for p in files["clean"]], "detail", 5,
             api_name="/calibrate")
        call(handle_file(files["image"]), api_name="/enhance")
        call(handle_file(files["truth"]), 0.5, api_name="/ground_truth")
        for alpha in np.round(np.random.default_rng(seed).uniform(-1.0, 2.0, updates), 2):
            call(float(alpha), api_name="/blend")
        return None
    except Exception as exc:  # noqa: BLE001 - a soak test counts every failure
        return f"session {seed}: {type(exc).__name__}: {exc}"
    finally:
        if client is not None:
            client.close()


def report(args, samples: list[tuple[int, float, float]], errors: list[str], wall: float) -> str:
    """Markdown: the RSS curve and its growth over the second half."""
    half = [s for s in samples if s[0] >= args.sessions / 2]
    growth = (half[-1][2] - half[0][2]) if len(half) > 1 else float("nan")
    per_100 = 100 * growth / max(half[-1][0] - half[0][0], 1) if len(half) > 1 else float("nan")
    rows = "\n".join(f"| {n} | {t:.0f} | {mb:.0f} |" for n, t, mb in samples)
    return "\n".join([
        "# Soak test: sessions one after another",
        "",
        f"`python bench/soak.py --sessions {args.sessions} --parallel {args.parallel} --updates {args.updates} "
        f"--size {args.size}` on {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPU "
        "cores (shared with other work while measured). The app (`app.py`, latent `detail`) ran in its own "
        f"process; {args.sessions} gradio_client visitors, {args.parallel} at a time, each in its own session: "
        "/calibrate on its own 3 + 3 images (96², p = 5), /enhance on its own "
        f"{args.size}² image, /ground_truth (curve and plot), {args.updates} × /blend; each client closed after.",
        "",
        f"**Errors: {len(errors)}** · wall time {wall:.0f} s · resident memory {samples[0][2]:.0f} MB at the start, "
        f"{max(s[2] for s in samples):.0f} MB peak, {samples[-1][2]:.0f} MB at the end; over the second half "
        f"of the run {growth:+.0f} MB ({per_100:+.1f} MB per 100 sessions).",
        "",
        "| sessions served | seconds | server RSS (MB) |",
        "| ---: | ---: | ---: |",
        rows,
        *(["", "First errors:", "", *[f"- {e}" for e in errors[:10]]] if errors else []),
    ]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--updates", type=int, default=5, help="α updates per session")
    parser.add_argument("--size", type=int, default=128, help="side of each visitor's test image")
    parser.add_argument("--every", type=int, default=10, help="sample RSS after this many sessions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.md")
    args = parser.parse_args()
    if not (1 <= args.sessions <= 2000 and 1 <= args.parallel <= 16 and 16 <= args.size <= 1024):
        parser.error("keep --sessions in [1, 2000], --parallel in [1, 16], --size in [16, 1024]")
    os.environ["DOT_APP_ENCODER"] = "detail"
    with tempfile.TemporaryDirectory(prefix="dot_soak_") as tmp:
        tmp = Path(tmp)
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        server = start_server(port, tmp / "server.log")
        errors: list[str] = []
        try:
            wait_ready(url, server)
            sampler = MemorySampler(server.pid)
            start = time.perf_counter()
            samples = [(0, 0.0, sampler.rss() / 2**20)]
            with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                for first in range(0, args.sessions, args.every):
                    batch = range(first, min(first + args.every, args.sessions))
                    files = [make_files(i, args.size, tmp) for i in batch]
                    for err in pool.map(lambda a: run_session(url, a[1], args.updates, a[0]), zip(batch, files)):
                        if err:
                            errors.append(err)
                    samples.append((batch[-1] + 1, time.perf_counter() - start, sampler.rss() / 2**20))
                    print(f"{samples[-1][0]:4d} sessions  {samples[-1][1]:6.0f} s  {samples[-1][2]:6.0f} MB  "
                          f"errors {len(errors)}", flush=True)
            wall = time.perf_counter() - start
        except BaseException:
            print((tmp / "server.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except Exception:  # noqa: BLE001
                server.kill()
    text = report(args, samples, errors, wall)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
