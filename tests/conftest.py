"""Shared test set-up: offline, no analytics, small real photographs and tiny random VAEs."""

import atexit
import contextlib
import os
import shutil
import tempfile

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's upload cache is /tmp/gradio for every process, and an app's delete_cache sweeps it when
# it closes: a second test run on the same machine (another developer's, a benchmark) would delete
# this run's uploads mid-test. Each run gets its own cache folder, removed when the run ends.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="dot-tests-gradio-")
atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


def photo(name: str, size: int | None = None) -> np.ndarray:
    """A bundled scikit-image photograph as float32 (H, W, 3) in [0, 1], optionally a centre crop."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3].astype(np.float32) / 255.0
    if size is not None:
        H, W = img.shape[:2]
        top, left = (H - size) // 2, (W - size) // 2
        img = img[top : top + size, left : left + size]
    return np.ascontiguousarray(img)


def bicubic_x4(img: np.ndarray) -> np.ndarray:
    """Bicubic ×4 down- then up-sampling with Pillow: a weight-free 'restoration'."""
    from PIL import Image

    im = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    w, h = im.size
    small = im.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC)).astype(np.float32) / 255.0


def jump_ratio(x: torch.Tensor) -> float:
    """Largest mean jump between neighbouring columns or rows over its median: a seam detector."""
    r = []
    for dim in (-1, -2):
        j = x.diff(dim=dim).abs().mean(dim=tuple(d for d in range(4) if d != x.ndim + dim))
        r.append((j.max() / j.median()).item())
    return max(r)


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed 70-byte PNG whose header declares width × height (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def tiny_kl_dir(tmp_path_factory):
    """A random diffusers AutoencoderKL (×2, 4 channels) saved with save_pretrained."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(32, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=32,
    )
    path = tmp_path_factory.mktemp("tiny_kl")
    vae.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_taesd_dir(tmp_path_factory):
    """A random diffusers AutoencoderTiny (×2, 4 channels) saved with save_pretrained."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(16, 16),
        decoder_block_out_channels=(16, 16),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    path = tmp_path_factory.mktemp("tiny_taesd")
    vae.save_pretrained(path)
    return path


# ---- app fixtures (tests/test_app_api.py, tests/test_browser.py) ----------------------------


@contextlib.contextmanager
def serve(demo, settings, **options):
    """Launch a Gradio ``demo`` in this process on a free loopback port; yields its URL.

    ``options`` override ``webui.layout.launch_options(settings)`` (e.g. ``max_file_size``).
    """
    import socket

    from webui.layout import launch_options

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **{**launch_options(settings), **options})
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def pixel_demo(services, **kwargs):
    """The page on the pixel latent (no start-up probe) sharing ``services``; ``kwargs`` go to build_demo."""
    from webui.layout import build_demo
    from webui.startup import Startup

    return build_demo(Startup(encoder="pixel", online=False, notice="test", choices=[("pixel", "pixel")]),
                      services, **kwargs)


@pytest.fixture(scope="session")
def app_url():
    """The Gradio app (app.py, as the Space runs it) launched in this process; yields its URL."""
    import app as dot_app

    with serve(dot_app.demo, dot_app.SETTINGS) as url:
        yield url


@pytest.fixture(scope="session")
def app_images(tmp_path_factory) -> dict:
    """Small PNGs for the app: bicubic ×4 restorations and clean crops (96 px) of bundled photos
    for calibration, a test restoration and its ground truth (128 px)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("app_images")

    def save(img: np.ndarray, name: str) -> str:
        path = folder / name
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path)
        return str(path)

    cal = ("coffee", "chelsea", "rocket")
    test = photo("astronaut", 128)
    return {
        "restored": [save(bicubic_x4(photo(n, 96)), f"{n}_restored.png") for n in cal],
        "clean": [save(photo(n, 96), f"{n}_clean.png") for n in cal],
        "image": save(bicubic_x4(test), "astronaut_restored.png"),
        "ground_truth": save(test, "astronaut_clean.png"),
        "other_image": save(bicubic_x4(photo("coffee", 128)[::-1]), "coffee_flipped_restored.png"),
    }


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium for a test module (test_browser_page, test_browser_states)."""
    from playwright.sync_api import sync_playwright
    from test_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()
