"""Hostile and odd uploads at the image loader: every size, mode and format, and bombs.

Properties checked with Hypothesis: whatever Pillow can write in a supported format, at any size
from 1×1 to 1×4000, ``load_image`` returns a finite C-contiguous float32 (H, W, 3) array in
[0, 1] that matches Pillow's own decoding (alpha over white, 16-bit kept). Decompression bombs
(a small file declaring a huge size) are refused from the header in every format, and an image
just under the limit costs a bounded number of bytes per pixel.
"""
import io
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dot_core.io.images import DECODERS, load_image

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# (mode, format) pairs Pillow 10+ can write; extra keyword arguments make WebP lossless.
WRITABLE = {
    "L": ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"),
    "LA": ("PNG", "WEBP", "TIFF", "GIF"),
    "P": ("PNG", "WEBP", "TIFF", "BMP", "GIF"),
    "PA": ("WEBP", "TIFF"),
    "RGB": ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"),
    "RGBA": ("PNG", "WEBP", "TIFF", "GIF"),
    "CMYK": ("JPEG", "WEBP", "TIFF"),
    "I;16": ("PNG", "TIFF"),
    "1": ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"),
}
CASES = sorted((mode, fmt) for mode, fmts in WRITABLE.items() for fmt in fmts)
LOSSY = ("JPEG",)
EXTREME_SIZES = [(1, 1), (1, 4000), (4000, 1), (2, 2500), (2500, 3), (1, 2)]  # (width, height)

sizes = st.one_of(st.tuples(st.integers(1, 40), st.integers(1, 40)), st.sampled_from(EXTREME_SIZES))


def _make(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    return Image.fromarray(rgba, "RGBA").convert(mode)


def _encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}), **kwargs)
    return buf.getvalue()


def _pillow_reference(encoded: bytes) -> np.ndarray:
    """Pillow's own reading of the file: 16-bit on the 16-bit scale, alpha over white."""
    with Image.open(io.BytesIO(encoded)) as im:
        if im.mode.startswith("I;16"):
            gray = np.asarray(im, dtype=np.float64) / 65535.0
            return np.repeat(gray[..., None], 3, axis=2)
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
    return rgba[..., :3] * rgba[..., 3:] + 1.0 - rgba[..., 3:]


def _check_image(img: np.ndarray, width: int, height: int) -> None:
    assert img.shape == (height, width, 3) and img.dtype == np.float32
    assert img.flags.c_contiguous and np.isfinite(img).all()
    assert img.min() >= 0.0 and img.max() <= 1.0


@settings(SETTINGS, max_examples=150)
@given(case=st.sampled_from(CASES), size=sizes, seed=st.integers(0, 2**32 - 1))
def test_load_image_any_mode_format_and_size_matches_pillow(case, size, seed):
    mode, fmt = case
    width, height = size
    encoded = _encode(_make(mode, width, height, seed), fmt)
    img = load_image(encoded, name=f"x.{fmt.lower()}")
    _check_image(img, width, height)
    expected = _pillow_reference(encoded)
    if fmt in LOSSY:
        assert np.abs(img - expected).mean() < 1e-6 + 0.02
    else:
        np.testing.assert_allclose(img, expected, atol=1e-6)


@SETTINGS
@given(fmt=st.sampled_from(["GIF", "WEBP", "PNG", "TIFF"]), frames=st.integers(2, 5),
       size=st.tuples(st.integers(1, 24), st.integers(1, 24)), seed=st.integers(0, 2**32 - 1))
def test_load_image_animated_or_multipage_gives_the_first_frame(fmt, frames, size, seed):
    rng = np.random.default_rng(seed)
    colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(frames)]
    ims = [Image.new("RGB", size, c) for c in colours]
    if len(set(colours)) < 2:
        ims[1] = Image.new("RGB", size, tuple(255 - c for c in colours[0]))
    encoded = _encode(ims[0], fmt, save_all=True, append_images=ims[1:])
    img = load_image(encoded)
    _check_image(img, *size)
    tol = 0.02 if fmt == "GIF" else 1e-6  # GIF palettes may shift a colour slightly
    np.testing.assert_allclose(img, np.broadcast_to(np.array(colours[0]) / 255.0, img.shape), atol=tol)


# ---- decompression bombs: tiny files declaring huge images, in every supported format ----

def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def _small(fmt: str, **kwargs) -> bytearray:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, format=fmt, **kwargs)
    return bytearray(buf.getvalue())


def png_bomb(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1024))
            + _chunk(b"IEND", b""))


def gif_bomb(w: int, h: int) -> bytes:
    b = _small("GIF")
    b[6:10] = struct.pack("<HH", w, h)  # logical screen
    i = b.index(b"\x2c")  # image descriptor
    b[i + 5:i + 9] = struct.pack("<HH", w, h)
    return bytes(b)


def bmp_bomb(w: int, h: int) -> bytes:
    b = _small("BMP")
    b[18:26] = struct.pack("<ii", w, h)
    return bytes(b)


def jpeg_bomb(w: int, h: int) -> bytes:
    b = _small("JPEG")
    i = b.index(b"\xff\xc0")  # baseline start-of-frame: precision, height, width
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def webp_bomb(w: int, h: int) -> bytes:
    b = _small("WEBP", lossless=True)
    i = b.index(b"VP8L") + 8
    bits = int.from_bytes(b[i + 1:i + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)  # 14-bit width-1, height-1
    b[i + 1:i + 5] = bits.to_bytes(4, "little")
    return bytes(b)


def tiff_bomb(w: int, h: int) -> bytes:
    data_at = 8 + 2 + 12 * 9 + 4
    entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, data_at),
               (277, 3, 1), (278, 4, h), (279, 4, w * h)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, 1, value, 0)
        for tag, kind, value in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 64


BOMBS = {"png": png_bomb, "gif": gif_bomb, "bmp": bmp_bomb, "jpeg": jpeg_bomb, "webp": webp_bomb,
         "tiff": tiff_bomb}


@pytest.mark.parametrize("fmt", sorted(BOMBS))
def test_bomb_in_every_format_is_refused_from_its_header(fmt):
    data = BOMBS[fmt](16000, 16000)  # 256 megapixels declared in under 700 bytes
    assert len(data) < 1024
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"bomb.{fmt}: declares 16000×16000 = 256.0 megapixels"):
        load_image(data, name=f"bomb.{fmt}")
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("fmt", sorted(BOMBS))
def test_bomb_under_a_low_limit_is_refused(fmt):
    with pytest.raises(ValueError, match=r"declares 1000×1000 = 1.0 megapixels, over the limit of"):
        load_image(BOMBS[fmt](1000, 1000), max_pixels=500 * 500)


def test_bomb_just_under_the_limit_costs_bounded_memory_per_pixel():
    """A 640-byte JPEG that decodes to 2000×2000: peak memory stays ≤ 40 bytes per pixel.

    Run in a fresh interpreter so that its peak resident size measures this load alone.
    """
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path[:0] = {sys.path!r}
        from tests.test_robust_imageio import jpeg_bomb, webp_bomb
        from dot_core.io.images import load_image
        out = []
        for bomb in (jpeg_bomb, webp_bomb):
            data = bomb(2000, 2000)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            img = load_image(data, max_pixels=2000 * 2000)
            del img
            out.append((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
        print(*out)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for peak in map(int, run.stdout.split()):
        assert peak / (2000 * 2000) <= 40, f"{peak / 4e6:.1f} bytes per pixel"


# ---- formats outside the supported list never reach their decoders ----

@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA", "PCX", "SGI", "EPS", "JPEG2000"])
def test_unsupported_formats_are_refused_before_decoding(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, format=fmt)
    with pytest.raises(ValueError, match=r"x.img: not an image Pillow can read \(supported: PNG"):
        load_image(buf.getvalue(), name="x.img")


def test_eps_never_starts_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    def boom(*args, **kwargs):
        raise AssertionError("the EPS plugin was reached")
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", boom)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n%%EOF\n"
    with pytest.raises(ValueError, match="not an image"):
        load_image(eps)
    assert set(DECODERS) == {"PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"}
