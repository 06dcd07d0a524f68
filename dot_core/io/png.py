"""PNG bytes: a fast RGB(A) encoder of any bit depth, and how an output image was made, written
into the PNG itself (a ``tEXt`` chunk). One chunk writer serves both.

The CLI records :attr:`dot_core.pipeline.DOTPipeline.provenance` plus α and the interpolation
space under the keyword ``dot_core`` as JSON (ASCII), so a file found later still says which
latent, calibration settings and colour fix made it. Any PNG reader shows it (Pillow:
``Image.open(path).text["dot_core"]``); :func:`read_png_provenance` returns it as a dict.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["PNG_KEYWORD", "encode_png", "png_with_provenance", "write_png_provenance", "read_png_provenance"]

PNG_KEYWORD = "dot_core"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_AFTER_IHDR = len(_SIGNATURE) + 4 + 4 + 13 + 4  # length, type, 13 data bytes, CRC


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(a: np.ndarray, *, level: int = 6) -> bytes:
    """(H, W, 3 or 4) uint8 or uint16 -> bytes of an RGB(A) PNG of that bit depth.

    ``level`` is the zlib level. Level 0 stores rows unfiltered and uncompressed (a few ms per
    megapixel: fast enough for a live preview); other levels use the 'Up' filter on every row.
    """
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a: expected (H, W, 3 or 4) uint8 or uint16, got {a.dtype} {a.shape}")
    height, width, channels = a.shape
    bits = 8 * a.dtype.itemsize
    row_bytes = width * channels * a.dtype.itemsize
    raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder(">")).view(np.uint8).reshape(height, row_bytes)
    rows = np.empty((height, 1 + row_bytes), dtype=np.uint8)
    if level == 0:
        rows[:, 0], rows[:, 1:] = 0, raw  # None: bytes as they are
    else:
        rows[:, 0], rows[0, 1:] = 2, raw[0]  # Up: each byte minus the byte above it, mod 256
        np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])

    color_type = {3: 2, 4: 6}[channels]  # truecolour, truecolour with alpha
    header = struct.pack(">IIBBBBB", width, height, bits, color_type, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))


def write_png_provenance(path: str | os.PathLike, provenance: dict) -> None:
    """Insert ``provenance`` as JSON in a ``tEXt`` chunk right after the PNG's header."""
    path = Path(path)
    path.write_bytes(png_with_provenance(path.read_bytes(), provenance, name=str(path)))


def png_with_provenance(png: bytes, provenance: dict, *, name: str = "data") -> bytes:
    """The PNG ``png`` (bytes) with ``provenance`` as JSON in a ``tEXt`` chunk right after its header."""
    if png[:8] != _SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError(f"{name} is not a PNG file; provenance is written into PNGs only")
    text = json.dumps(provenance, sort_keys=True, ensure_ascii=True, default=str)
    chunk = _chunk(b"tEXt", PNG_KEYWORD.encode("latin-1") + b"\0" + text.encode("ascii"))
    return png[:_AFTER_IHDR] + chunk + png[_AFTER_IHDR:]


def read_png_provenance(path: str | os.PathLike) -> dict | None:
    """The provenance written by :func:`write_png_provenance`, or None when the PNG has none."""
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", {}).get(PNG_KEYWORD)
    return None if text is None else json.loads(text)
