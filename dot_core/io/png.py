"""How an output image was made, written into the PNG itself (a ``tEXt`` chunk).

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

__all__ = ["PNG_KEYWORD", "png_with_provenance", "write_png_provenance", "read_png_provenance"]

PNG_KEYWORD = "dot_core"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_AFTER_IHDR = len(_SIGNATURE) + 4 + 4 + 13 + 4  # length, type, 13 data bytes, CRC


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


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
