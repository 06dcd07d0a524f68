"""A bounded fuzz run over the image loader: mutated bytes of real files.

Seeds are real photographs (a crop of scikit-image's astronaut) written as PNG, JPEG
(baseline and progressive), WebP (lossy, lossless, animated), GIF, TIFF and BMP. Hypothesis
applies bit flips, byte and header edits, insertions, deletions and truncations. Every outcome
must be a valid float32 (H, W, 3) array in [0, 1] of at most MAX_PIXELS pixels, or a ``ValueError``
naming the upload, never another exception. The size limit is low so each case's work is bounded;
how long a case takes is not asserted (a test asserts outcomes; speed is for bench/).
"""
import io
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data

from dot_core.io.images import load_image

MAX_PIXELS = 256 * 256  # a mutated header may declare anything up to this: bounded work per case

_PHOTO = np.ascontiguousarray(data.astronaut()[96:160, 160:224])  # (64, 64, 3) uint8


def _seed(fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(_PHOTO)
    if kwargs.pop("animated", False):
        kwargs.update(save_all=True, append_images=[Image.fromarray(_PHOTO[::-1])])
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


SEEDS = {
    "png": _seed("PNG"),
    "jpeg": _seed("JPEG", quality=85),
    "jpeg-progressive": _seed("JPEG", quality=85, progressive=True),
    "webp": _seed("WEBP", quality=80),
    "webp-lossless": _seed("WEBP", lossless=True),
    "webp-animated": _seed("WEBP", animated=True),
    "gif": _seed("GIF"),
    "tiff": _seed("TIFF", compression="tiff_deflate"),
    "bmp": _seed("BMP"),
}

positions = st.one_of(st.integers(0, 63), st.integers(0, 1 << 16))  # headers first, then anywhere
edits = st.one_of(
    st.tuples(st.just("flip"), positions, st.integers(0, 7)),
    st.tuples(st.just("set"), positions, st.integers(0, 255)),
    st.tuples(st.just("max"), positions, st.sampled_from([0x00, 0x7F, 0x80, 0xFF])),
    st.tuples(st.just("insert"), positions, st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("delete"), positions, st.integers(1, 64)),
    st.tuples(st.just("truncate"), positions, st.just(0)),
)


def _mutate(seed: bytes, ops) -> bytes:
    b = bytearray(seed)
    for op, pos, arg in ops:
        if not b:
            break
        i = pos % len(b)
        if op == "flip":
            b[i] ^= 1 << arg
        elif op in ("set", "max"):
            b[i] = arg
        elif op == "insert":
            b[i:i] = arg
        elif op == "delete":
            del b[i:i + arg]
        else:
            del b[i:]
    return bytes(b)


def _load_or_refuse(data_: bytes, name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Pillow's "corrupt EXIF" notes
            img = load_image(data_, max_pixels=MAX_PIXELS, name=name)
    except ValueError as exc:
        assert str(exc).startswith(f"{name}: "), exc
    else:
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
        assert img.shape[0] * img.shape[1] <= MAX_PIXELS
        assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(edits, min_size=1, max_size=6))
def test_fuzz_load_image_mutated_real_files(fmt, ops):
    _load_or_refuse(_mutate(SEEDS[fmt], ops), f"fuzz.{fmt}")


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(blob=st.binary(min_size=1, max_size=512), magic=st.sampled_from(
    [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a", b"II*\x00",
     b"MM\x00*", b"BM"]))
def test_fuzz_load_image_random_bytes_behind_real_magic_numbers(blob, magic):
    _load_or_refuse(magic + blob, "random.bin")


def test_fuzz_seeds_themselves_load():
    for fmt, seed in SEEDS.items():
        assert load_image(seed, name=fmt).shape == (64, 64, 3)
