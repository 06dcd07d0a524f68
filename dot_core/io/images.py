"""Load, validate, convert and save images.

Every image enters the engine through :func:`load_image` as a C-contiguous float32 array of
shape (H, W, 3) in [0, 1], whatever its format, bit depth or colour mode; every problem with
the input is a ``ValueError`` that names the file, says what is wrong and what to do.
Transparent pixels are composited over white. 16-bit images keep their 16-bit precision.
"""
from __future__ import annotations

import io
import os
import pathlib
import struct
import warnings
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .png import encode_png

DEFAULT_MAX_PIXELS = 8192 * 8192
UNIT_RANGE_SLACK = 1e-3  # float images may overshoot [0, 1] by rounding; beyond this they are refused

ImageSource = Union[str, os.PathLike, bytes, BinaryIO, Image.Image, np.ndarray]

_SUPPORTED = "supported: PNG, JPEG, WebP, TIFF, BMP, GIF"
# The only Pillow plugins an encoded file may reach (JPEG covers camera MPO files too). Uploads
# come from strangers: the many other plugins (EPS runs Ghostscript; PSD, FITS, DDS, ICNS, ...)
# are attack surface we do not need.
DECODERS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
_PNG16_RAWMODES = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}  # high byte -> low byte


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               name: str | None = None) -> np.ndarray:
    """Load an image as float32 RGB in [0, 1].

    Parameters
    ----------
    source : str, os.PathLike, bytes, binary file object, PIL.Image.Image or numpy.ndarray
        A file path, encoded file bytes, an open binary file, a PIL image, or an array of shape
        (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with dtype uint8, uint16 or float in [0, 1].
    max_pixels : int, optional
        Refuse images whose declared width × height exceeds this, before decoding anything.
    name : str, optional
        Name used in error messages (default: the path, or ``"<upload>"``).

    Returns
    -------
    numpy.ndarray
        (H, W, 3) float32, C-contiguous, in [0, 1].

    Raises
    ------
    ValueError
        Missing, empty, unreadable, truncated or oversized file; bad array shape, dtype or values.
    TypeError
        ``source`` is none of the accepted types.

    Notes
    -----
    Grayscale is replicated to three channels; alpha (RGBA, LA, PA, palette transparency) is
    composited over white; CMYK, YCbCr and LAB are converted by Pillow; EXIF orientation is
    applied; animated GIF/WebP and multi-page TIFF give their first frame. 16-bit data is
    divided by 65535 (16-bit RGB(A) PNGs too, which Pillow alone reduces to 8 bits). Mode ``I``
    is read on the 16-bit scale and clipped; mode ``F`` is kept when within [0, 1], otherwise
    read on the 16-bit scale.

    Examples
    --------
    >>> import numpy as np
    >>> from dot_core import load_image
    >>> gray = np.array([[0, 255], [51, 102]], dtype=np.uint8)  # 8-bit grayscale, (2, 2)
    >>> img = load_image(gray)
    >>> img.shape, img.dtype
    ((2, 2, 3), dtype('float32'))
    >>> print(img[1, 0])  # 51 / 255, on all three channels
    [0.2 0.2 0.2]
    >>> from PIL import Image
    >>> load_image(Image.new("RGBA", (4, 3), (255, 0, 0, 0)))[0, 0].tolist()  # alpha over white
    [1.0, 1.0, 1.0]
    >>> load_image(b"not an image", name="upload.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: upload.png: ...
    """
    label = name or _describe(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our check replaces it
        try:
            img = _load_any(source, label, max_pixels)
        except Image.DecompressionBombError as exc:  # raised by some plugins while decoding
            raise ValueError(f"{label}: too large to decode safely ({exc}); "
                             "downscale it first") from None
    return np.ascontiguousarray(img, dtype=np.float32)


def _describe(source) -> str:
    """Default name of a source in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, np.ndarray):
        return "<array>"
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<image>"
    file_name = getattr(source, "name", None)
    return os.fspath(file_name) if isinstance(file_name, (str, os.PathLike)) else "<upload>"


def _load_any(source: ImageSource, label: str, max_pixels: int) -> np.ndarray:
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_size(source.shape[1], source.shape[0], label, max_pixels)
        return _array_to_float(source, label)
    if isinstance(source, Image.Image):
        _check_size(*source.size, label, max_pixels)
        return _decode(source, label)
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if path.is_dir():
            raise ValueError(f"{label}: is a directory, not an image file; pass the files inside")
        if not path.is_file():
            raise ValueError(f"{label}: no such file; check the path")
        try:
            fp = open(path, "rb")
        except OSError as exc:  # unreadable (permissions, a device error): a bad input like the others
            raise ValueError(f"{label}: cannot be read ({exc.strerror or exc})") from None
        with fp:
            return _load_stream(fp, label, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _load_stream(io.BytesIO(bytes(source)), label, max_pixels)
    if hasattr(source, "read"):
        return _load_stream(source, label, max_pixels)
    raise TypeError(f"source: expected a path, bytes, a binary file, a PIL image or a numpy "
                    f"array, got {type(source).__name__}")


def _check_size(width: int, height: int, label: str, max_pixels: int) -> None:
    """Refuse empty images and images over ``max_pixels`` (decompression-bomb guard)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"{label}: zero-size image ({width}×{height}); it holds no pixels")
    if width * height > max_pixels:
        raise ValueError(f"{label}: declares {width}×{height} = {_megapixels(width * height)} "
                         f"megapixels, over the limit of {_megapixels(max_pixels)} megapixels; "
                         "downscale it first")


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.1f}" if n >= 50_000 else f"{n / 1e6:.2g}"


def _load_stream(fp: BinaryIO, label: str, max_pixels: int) -> np.ndarray:
    """Decode an encoded image from a binary stream, checking its header size first."""
    if not (hasattr(fp, "seekable") and fp.seekable()):
        fp = io.BytesIO(fp.read())
    if fp.seek(0, io.SEEK_END) == 0:
        raise ValueError(f"{label}: empty file (0 bytes); upload the image again")
    fp.seek(0)
    im = _open(fp, label)
    with im:
        _check_size(*im.size, label, max_pixels)  # only the header has been read so far
        return _decode(im, label, fp)


def _open(fp: BinaryIO, label: str) -> Image.Image:
    """``Image.open`` reading only the header; our own size check replaces Pillow's."""
    Image.init()  # register every plugin before looking formats up
    try:
        return Image.open(fp, formats=DECODERS)
    except Image.DecompressionBombError:
        pass  # over Pillow's global limit: open without it so that _check_size reports the size
    except UnidentifiedImageError:
        raise ValueError(f"{label}: not an image Pillow can read ({_SUPPORTED})") from None
    except Exception as exc:
        raise _corrupt(label, exc) from None
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in (f for f in Image.ID if f in DECODERS):
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept else True
        if verdict and not isinstance(verdict, str):  # a str verdict is a rejection
            fp.seek(0)
            try:
                return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # the same formats Image.open skips
            except Image.DecompressionBombError:
                raise
            except Exception as exc:
                raise _corrupt(label, exc) from None
    raise ValueError(f"{label}: not an image Pillow can read ({_SUPPORTED})")


def _decode(im: Image.Image, label: str, fp: BinaryIO | None = None) -> np.ndarray:
    """Decode an opened image (first frame, EXIF-oriented) into float RGB."""
    tile = im.tile[0] if len(getattr(im, "tile", ())) == 1 else None
    low_rawmode = None
    if fp is not None and im.format == "PNG" and isinstance(getattr(tile, "args", None), str):
        low_rawmode = _PNG16_RAWMODES.get(tile.args)
    try:
        oriented = ImageOps.exif_transpose(im)
        oriented.load()
        if low_rawmode is not None:
            # Pillow keeps only the high byte of 16-bit RGB(A) PNG samples: decode the same
            # data again unpacking the low bytes instead, and join the two halves.
            im_low = _open(fp, label)
            im_low.tile = [tile._replace(args=low_rawmode)]
            high = np.asarray(oriented).astype(np.uint16)
            low = np.asarray(ImageOps.exif_transpose(im_low)).astype(np.uint16)
            return _to_rgb(((high << 8) | low).astype(np.float32) / 65535.0)
    except Image.DecompressionBombError:
        raise
    except Exception as exc:
        raise _corrupt(label, exc) from None
    return _to_rgb(_pil_to_array(oriented, label))


def _corrupt(label: str, exc: Exception) -> ValueError:
    return ValueError(f"{label}: file is truncated or corrupt ({exc}); re-export or re-download it")


def _pil_to_array(im: Image.Image, label: str) -> np.ndarray:
    """PIL image -> float32 (H, W, C) in [0, 1], C in {1, 2, 3, 4} (last channel alpha if 2, 4)."""
    mode = im.mode
    if mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float32)
        a /= 65535.0  # in place: decoding peaks at one float copy (bounds memory per pixel)
        return a[..., None]
    if mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"{label}: contains NaN or Inf values; fix the file")
        if mode == "I" or a.max(initial=0.0) > 1.0:
            a = a / 65535.0
        return np.clip(a, 0.0, 1.0).astype(np.float32)[..., None]
    if "transparency" in im.info or mode in ("P", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX
    a = np.asarray(im, dtype=np.float32)
    a /= 255.0  # in place, as above
    return a[..., None] if a.ndim == 2 else a


def _to_rgb(a: np.ndarray) -> np.ndarray:
    """(H, W, C) float in [0, 1] -> (H, W, 3): alpha over white, gray replicated."""
    if a.shape[2] in (2, 4):
        color, alpha = a[..., :-1], a[..., -1:]
        a = color * alpha + (1.0 - alpha)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def _array_to_float(arr: np.ndarray, label: str) -> np.ndarray:
    """Validate an image array and scale it to float in [0, 1] with C in {1, 3, 4}."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{label}: array has shape {tuple(arr.shape)}; expected (H, W), "
                         "(H, W, 1), (H, W, 3) or (H, W, 4) with channels last")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{label}: zero-size image (shape {tuple(arr.shape)}); it holds no pixels")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(bool): 1.0}
    if arr.dtype in scale:
        return _to_rgb(arr.astype(np.float32) / scale[arr.dtype])
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{label}: array has dtype {arr.dtype}; use uint8, uint16 or float "
                         "in [0, 1]")
    _check_unit_range(arr, label)
    return _to_rgb(np.clip(arr, 0.0, 1.0).astype(np.float32))


def _check_unit_range(a: np.ndarray, label: str) -> None:
    """Refuse float pixels that are not finite or not in [0, 1] (1e-3 of rounding slack)."""
    if not np.isfinite(a).all():
        raise ValueError(f"{label}: array contains NaN or Inf values; replace them first")
    lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
    if lo < -UNIT_RANGE_SLACK or hi > 1.0 + UNIT_RANGE_SLACK:
        raise ValueError(f"{label}: float values span [{lo:.4g}, {hi:.4g}]; expected [0, 1] "
                         "(divide 8-bit data by 255, 16-bit data by 65535)")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 in [0, 255]: clipped, rounded to nearest."""
    a = np.asarray(img, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError("img: contains NaN or Inf values; cannot convert to uint8")
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_image(path: str | os.PathLike, img: np.ndarray, *, bits: int = 8) -> pathlib.Path:
    """Write ``img`` ((H, W, 3) float in [0, 1]) as a lossless RGB PNG and return its path.

    ``path`` must end in ``.png``; parent directories are created. ``bits=16`` writes a 16-bit
    RGB PNG that :func:`load_image` reads back to within 1/65535.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from dot_core import load_image, save_image
    >>> img = np.random.default_rng(0).random((8, 8, 3))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_image(os.path.join(folder, "out", "x.png"), img, bits=16)
    ...     back = load_image(path)
    >>> path.name, back.shape, bool(np.abs(back - img).max() <= 1 / 65535)
    ('x.png', (8, 8, 3), True)
    """
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path: {path} does not end in .png; save_image writes PNG only")
    if bits not in (8, 16):
        raise ValueError(f"bits: got {bits!r}; use 8 or 16")
    rgb = _array_to_float(np.asarray(img), "img")
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 8:
        Image.fromarray(to_uint8(rgb), mode="RGB").save(path, format="PNG")
    else:
        path.write_bytes(encode_png(np.rint(rgb * 65535.0).astype(np.uint16)))
    return path


def image_to_tensor(img: np.ndarray, *, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H, W, 3) float image in [0, 1] -> (1, 3, H, W) tensor in [-1, 1].

    Raises ``ValueError`` for another shape, a non-float dtype, or finite values outside
    [0, 1] (e.g. 8-bit data as floats: divide by 255 first, or use :func:`load_image`).

    Examples
    --------
    >>> import numpy as np
    >>> from dot_core import image_to_tensor
    >>> x = image_to_tensor(np.full((4, 6, 3), 0.75))
    >>> tuple(x.shape), x.dtype, x.unique().tolist()
    ((1, 3, 4, 6), torch.float32, [0.5])
    >>> image_to_tensor(np.full((4, 6, 3), 255.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: img: float values span [0, 255]; expected [0, 1] (divide 8-bit data by 255, ...)
    """
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"img: expected shape (H, W, 3), got {tuple(a.shape)}; "
                         "use load_image to read files")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"img: expected a float image in [0, 1], got dtype {a.dtype}; "
                         "use load_image to convert")
    # 0–255 floats would give statistics of another image entirely; NaN/Inf are left to the
    # caller's check after encoding, which names the image's role (restored, clean, input)
    finite = np.isfinite(a)
    _check_unit_range(a if finite.all() else a[finite], "img")
    x = torch.from_numpy(np.ascontiguousarray(a)).to(dtype).permute(2, 0, 1)[None]
    return (x * 2.0 - 1.0).to(device)  # (1, 3, H, W)


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor in [-1, 1] -> (H, W, 3) float32 array in [0, 1].

    Examples
    --------
    Values outside [-1, 1] (a decoder's overshoot) are clipped:

    >>> import torch
    >>> from dot_core import tensor_to_image
    >>> img = tensor_to_image(torch.tensor([-2.0, 0.0, 1.0]).reshape(1, 3, 1, 1))
    >>> img.shape, img.dtype, img[0, 0].tolist()
    ((1, 1, 3), dtype('float32'), [0.0, 0.5, 1.0])
    """
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"x: expected shape (1, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    x = ((x.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    return np.ascontiguousarray(x.permute(1, 2, 0).numpy(), dtype=np.float32)
