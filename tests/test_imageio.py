"""Tests for dot_core.io.images on small crops of scikit-image's bundled photographs."""
import io
import warnings

import numpy as np
import pytest
import torch
from conftest import png_declaring
from PIL import Image
from skimage import data

from dot_core.io import images as imageio
from dot_core.io.images import image_to_tensor, load_image, save_image, tensor_to_image, to_uint8
from dot_core.io.paths import collect_image_paths

RGB = np.ascontiguousarray(data.astronaut()[100:148, 180:244])  # (48, 64, 3) uint8
GRAY = np.ascontiguousarray(data.camera()[200:248, 200:264])  # (48, 64) uint8


def _encode(im, fmt, **kwargs):
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _check_image(img, shape=RGB.shape):
    assert img.shape == shape and img.dtype == np.float32 and img.flags.c_contiguous
    assert img.min() >= 0.0 and img.max() <= 1.0


@pytest.mark.parametrize("fmt, kwargs, tol", [
    ("PNG", {}, 0.0), ("TIFF", {}, 0.0), ("BMP", {}, 0.0), ("WEBP", {"lossless": True}, 0.0),
    ("JPEG", {"quality": 95}, 0.03), ("WEBP", {"quality": 90}, 0.05), ("GIF", {}, 0.08),
])
def test_load_image_formats(tmp_path, fmt, kwargs, tol):
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(_encode(Image.fromarray(RGB), fmt, **kwargs))
    img = load_image(path)
    _check_image(img)
    assert np.abs(img - RGB / 255.0).mean() <= tol + 1e-6


@pytest.mark.parametrize("mode, fmt", [
    ("1", "PNG"), ("L", "PNG"), ("L", "JPEG"), ("P", "PNG"), ("P", "GIF"), ("PA", "TIFF"),
    ("LA", "PNG"), ("RGBA", "PNG"), ("RGBA", "WEBP"), ("CMYK", "TIFF"), ("CMYK", "JPEG"),
    ("YCbCr", "JPEG"), ("LAB", "TIFF"),
])
def test_load_image_modes_match_pillow(mode, fmt):
    encoded = _encode(Image.fromarray(RGB).convert(mode), fmt)
    img = load_image(encoded)
    _check_image(img)
    reopened = Image.open(io.BytesIO(encoded))
    if "A" in reopened.mode:  # alpha over white
        rgba = np.asarray(reopened.convert("RGBA")) / 255.0
        expected = rgba[..., :3] * rgba[..., 3:] + 1.0 - rgba[..., 3:]
    else:
        expected = np.asarray(reopened.convert("RGB")) / 255.0
    np.testing.assert_allclose(img, expected, atol=1e-6)


@pytest.mark.parametrize("mode, fmt, tol", [
    ("CMYK", "TIFF", 1e-6), ("YCbCr", "JPEG", 0.03), ("LAB", "TIFF", 0.03),
])
def test_load_image_color_spaces_keep_colors(mode, fmt, tol):
    img = load_image(_encode(Image.fromarray(RGB).convert(mode), fmt))
    assert np.abs(img - RGB / 255.0).mean() < tol


def test_load_image_in_memory_ycbcr():
    img = load_image(Image.fromarray(RGB).convert("YCbCr"))
    assert np.abs(img - RGB / 255.0).mean() < 0.01


def test_load_image_grayscale_replicated():
    img = load_image(_encode(Image.fromarray(GRAY), "PNG"))
    np.testing.assert_array_equal(img, np.repeat(GRAY[..., None] / np.float32(255), 3, axis=2))


def test_load_image_one_bit_is_binary():
    img = load_image(_encode(Image.fromarray(GRAY).convert("1"), "PNG"))
    assert set(np.unique(img)) <= {0.0, 1.0}


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_load_image_alpha_over_white(mode):
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    rgba[:, :32, 3] = 0  # left half fully transparent
    im = Image.fromarray(rgba).convert(mode) if mode != "P" else Image.fromarray(rgba).quantize()
    if mode == "P":
        im.info["transparency"] = im.getpixel((0, 0))
    img = load_image(_encode(im, "PNG", **({"transparency": im.info["transparency"]}
                                           if mode == "P" else {})))
    np.testing.assert_array_equal(img[:, :32], 1.0)
    assert img[:, 40:].mean() < 0.9


def _values_16bit(shape):
    values = (np.arange(np.prod(shape)) * 7919 + 1) % 65535
    values[values % 257 == 0] += 1  # no value that 8 bits can represent exactly
    return values.reshape(shape).astype(np.uint16)


@pytest.mark.parametrize("mode, fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF"),
                                       ("I", "TIFF")])
def test_load_image_16bit_gray_keeps_precision(mode, fmt):
    values = _values_16bit(GRAY.shape)
    if mode == "I;16B":  # Pillow's convert("I;16B") clips to 255, so build it from bytes
        im = Image.frombytes(mode, values.shape[::-1], values.astype(">u2").tobytes())
    else:
        im = Image.fromarray(values) if mode == "I;16" else Image.fromarray(values).convert(mode)
    img = load_image(_encode(im, fmt))
    np.testing.assert_allclose(img[..., 0] * 65535.0, values, atol=0.02)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])


@pytest.mark.parametrize("channels", [3, 4])
def test_load_image_16bit_png_color_keeps_precision(channels):
    values = _values_16bit(GRAY.shape + (channels,))
    if channels == 4:
        values[..., 3] = 65535
    img = load_image(imageio.encode_png(values), name="deep.png")
    np.testing.assert_allclose(img * 65535.0, values[..., :3], atol=0.02)


def test_load_image_float_tiff():
    values = (GRAY / 255.0).astype(np.float32)
    img = load_image(_encode(Image.fromarray(values, mode="F"), "TIFF"))
    np.testing.assert_allclose(img[..., 1], values, atol=1e-6)


@pytest.mark.parametrize("orientation, turn", [(3, 2), (6, -1), (8, 1)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_load_image_exif_orientation(orientation, turn, fmt):
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = load_image(_encode(Image.fromarray(RGB), fmt, exif=exif.tobytes()))
    expected = np.rot90(RGB, turn) / 255.0
    assert img.shape == expected.shape
    assert np.abs(img - expected).mean() < (0.03 if fmt == "JPEG" else 1e-6)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_load_image_animated_first_frame(fmt):
    frames = [Image.new("RGB", (16, 12), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    encoded = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50,
                      loop=0, **({"lossless": True} if fmt == "WEBP" else {}))
    assert Image.open(io.BytesIO(encoded)).n_frames == 3
    np.testing.assert_allclose(load_image(encoded).mean(axis=(0, 1)), [1, 0, 0], atol=0.02)


@pytest.mark.parametrize("source", ["bytes", "file", "stream", "pil", "path"])
def test_load_image_sources(tmp_path, source):
    encoded = _encode(Image.fromarray(RGB), "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(encoded)

    class Stream:  # readable, not seekable
        def read(self, *args):
            return encoded

    opener = {"bytes": lambda: io.BytesIO(encoded).getvalue(), "file": lambda: open(path, "rb"),
              "stream": Stream, "pil": lambda: Image.open(path), "path": lambda: str(path)}
    src = opener[source]()
    img = load_image(src)
    if hasattr(src, "close"):
        src.close()
    np.testing.assert_array_equal(img, RGB / np.float32(255))


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255), (np.uint16, 65535),
                                          (np.float32, 1), (np.float64, 1)])
@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 1), (48, 64, 3), (48, 64, 4)])
def test_load_image_arrays(dtype, scale, shape):
    base = np.random.default_rng(0).random(shape)
    if len(shape) == 3 and shape[2] == 4:
        base[..., 3] = 1.0
    arr = (base * scale).round().astype(dtype) if scale > 1 else base.astype(dtype)
    img = load_image(arr)
    _check_image(img, (48, 64, 3))
    gray = base if len(shape) == 2 else base[..., 0]
    np.testing.assert_allclose(img[..., 0], gray, atol=0.5 / scale + 1e-6)


@pytest.mark.parametrize("arr, match", [
    (np.zeros((4, 5, 2)), r"shape \(4, 5, 2\)"), (np.zeros((3, 4, 5)), r"shape \(3, 4, 5\)"),
    (np.zeros((1, 4, 5, 3)), "shape"), (np.zeros(7), "shape"),
    (np.zeros((0, 5, 3)), "zero-size"), (np.zeros((4, 5), np.int32), "dtype int32"),
    (np.full((4, 5, 3), np.nan), "NaN or Inf"), (np.full((4, 5), np.inf), "NaN or Inf"),
    (np.full((4, 5, 3), 255.0), r"expected \[0, 1\]"),
])
def test_load_image_bad_arrays(arr, match):
    with pytest.raises(ValueError, match=match):
        load_image(arr)


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (10_000, 10_000), (9000, 8000)])
def test_load_image_bomb_refused_from_header(width, height):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow DecompressionBombWarning may escape either
        with pytest.raises(ValueError, match=rf"big.png: declares {width}×{height} = .* over "
                                             r"the limit of 67.1 megapixels; downscale"):
            load_image(png_declaring(width, height), name="big.png")


def test_load_image_max_pixels_lowered(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(RGB).save(path)
    with pytest.raises(ValueError, match=r"photo.png: declares 64×48 = .*limit of 0.001 mega"):
        load_image(path, max_pixels=1000)
    with pytest.raises(ValueError, match="<array>: declares 64×48"):
        load_image(RGB, max_pixels=1000)
    assert load_image(path, max_pixels=64 * 48).shape == (48, 64, 3)


@pytest.mark.parametrize("pillow_limit", [100, 2000])
def test_load_image_pillow_limit_never_escapes(monkeypatch, pillow_limit):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)  # 64*48 = 3072 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = load_image(_encode(Image.fromarray(RGB), "PNG"))
    np.testing.assert_array_equal(img, RGB / np.float32(255))


def test_load_image_bomb_error_while_decoding_is_value_error(monkeypatch):
    def refuse(im):  # as Pillow's GIF and TIFF plugins may do for a frame or tile
        raise Image.DecompressionBombError("Image size (9 pixels) exceeds limit")
    monkeypatch.setattr(imageio.ImageOps, "exif_transpose", refuse)
    with pytest.raises(ValueError, match="a.gif: too large to decode safely .*downscale"):
        load_image(_encode(Image.fromarray(RGB), "GIF"), name="a.gif")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_load_image_truncated(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    encoded = _encode(Image.fromarray(np.tile(RGB, (4, 4, 1))), fmt)
    path.write_bytes(encoded[: len(encoded) // 2])
    with pytest.raises(ValueError, match=rf"x.{fmt.lower()}: .*(truncated or corrupt|not an im)"):
        load_image(path)


def test_load_image_not_an_image(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("hello, I am a text file")
    with pytest.raises(ValueError, match=r"photo.jpg: not an image Pillow can read \(supported"):
        load_image(path)
    with pytest.raises(ValueError, match="<upload>: not an image"):
        load_image(b"\x00\x01garbage" * 10)


@pytest.mark.parametrize("kind, match", [("empty", "e.png: empty file"), ("missing", "no such"),
                                         ("dir", "is a directory")])
def test_load_image_bad_paths(tmp_path, kind, match):
    path = tmp_path / ("e.png" if kind != "dir" else "d")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "dir":
        path.mkdir()
    with pytest.raises(ValueError, match=match):
        load_image(path)


def test_load_image_empty_upload_and_name():
    with pytest.raises(ValueError, match="^cat.png: empty file"):
        load_image(b"", name="cat.png")
    with pytest.raises(TypeError, match="source"):
        load_image(42)


def test_load_image_zero_size_pil():
    with pytest.raises(ValueError, match="zero-size"):
        load_image(Image.new("RGB", (0, 5)))


def test_collect_image_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    for rel in ["b.png", "a.JPG", "c.txt", ".hidden.png", "sub/d.webp"]:
        (tmp_path / rel).write_bytes(b"x")
    got = collect_image_paths([tmp_path / "sub" / "d.webp", tmp_path, str(tmp_path / "b.png")])
    assert [p.name for p in got] == ["d.webp", "a.JPG", "b.png"]
    assert [p.name for p in collect_image_paths(tmp_path, recursive=True)] == ["a.JPG", "b.png",
                                                                               "d.webp"]


def test_collect_image_paths_errors(tmp_path):
    with pytest.raises(ValueError, match="nope: no such file or directory"):
        collect_image_paths([tmp_path / "nope"])
    (tmp_path / "empty" / "deep").mkdir(parents=True)
    (tmp_path / "empty" / "deep" / "x.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="empty: directory holds no image files.*sub-folders are not searched"):
        collect_image_paths([tmp_path / "empty"])
    assert len(collect_image_paths([tmp_path / "empty"], recursive=True)) == 1


def test_to_uint8_clips_and_rounds():
    x = np.array([[[-0.5, 0.0, 0.6 / 255], [0.499, 1.0, 7.0]]])
    np.testing.assert_array_equal(to_uint8(x), [[[0, 0, 1], [127, 255, 255]]])
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.full((2, 2, 3), np.nan))


@pytest.mark.parametrize("bits, atol", [(8, 0.5 / 255), (16, 0.5 / 65535)])
def test_save_image_round_trip(tmp_path, bits, atol):
    img = np.random.default_rng(1).random((37, 53, 3)).astype(np.float32)
    path = save_image(tmp_path / "new" / "dir" / "out.png", img, bits=bits)
    back = load_image(path)
    np.testing.assert_allclose(back, img, atol=atol + 1e-6)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"


@pytest.mark.parametrize("name, bits, match", [("o.jpg", 8, r"\.png"), ("o.png", 12, "8 or 16")])
def test_save_image_bad_arguments(tmp_path, name, bits, match):
    with pytest.raises(ValueError, match=match):
        save_image(tmp_path / name, np.zeros((4, 4, 3)), bits=bits)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_image_to_tensor_round_trip(dtype):
    img = RGB / np.float32(255)
    x = image_to_tensor(img, dtype=dtype)
    assert x.shape == (1, 3, 48, 64) and x.dtype == dtype
    assert x.min() >= -1 and x.max() <= 1
    np.testing.assert_allclose(tensor_to_image(x), img, atol=1e-6)
    clipped = tensor_to_image(torch.tensor([-5.0, 0.0, 5.0]).reshape(3, 1, 1))
    np.testing.assert_array_equal(clipped, [[[0.0, 0.5, 1.0]]])


@pytest.mark.parametrize("bad, match", [(np.zeros((4, 4)), r"\(H, W, 3\)"),
                                        (np.zeros((4, 4, 3), np.uint8), "dtype uint8")])
def test_image_to_tensor_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        image_to_tensor(bad)


@pytest.mark.parametrize("bad", [RGB.astype(np.float32), RGB / np.float32(255) - 0.5])
def test_image_to_tensor_refuses_floats_outside_unit_range(bad):
    """8-bit data as floats (0–255) would give garbage statistics: refused with the fix."""
    with pytest.raises(ValueError, match=r"divide 8-bit data by 255"):
        image_to_tensor(bad)
    image_to_tensor(np.clip(RGB / np.float32(255) + 5e-4, 0, 1 + 5e-4))  # rounding slack is fine


def test_python_api_refuses_images_in_0_255():
    from dot_core import Calibrator, DOTPipeline, load_encoder

    encoder = load_encoder("pixel", device="cpu")
    calibrator = Calibrator(encoder, 2)
    as_255 = RGB.astype(np.float32)
    with pytest.raises(ValueError, match=r"span \[\d+, 2\d\d\]; expected \[0, 1\].*divide 8-bit data by 255"):
        calibrator.add_restored(as_255)
    assert calibrator.source.n == 0  # nothing was added
    calibrator.add_restored(RGB / np.float32(255))
    calibrator.add_clean(RGB[::-1] / np.float32(255))
    pipe = DOTPipeline(encoder, calibrator.fit())
    with pytest.raises(ValueError, match="divide 8-bit data by 255"):
        pipe.enhance(as_255)


def test_tensor_to_image_bad_shape():
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        tensor_to_image(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("level", [0, 1, 6])
@pytest.mark.parametrize("channels", [3, 4])
def test_encode_png_8bit_round_trips_through_pillow(level, channels):
    rng = np.random.default_rng(level)
    a = rng.integers(0, 256, size=(13, 29, channels), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(imageio.encode_png(a, level=level))))
    np.testing.assert_array_equal(back, a)


def test_encode_png_rejects_float_input():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        imageio.encode_png(np.zeros((4, 4, 3), np.float32))
