"""Which files are images: files and folders expanded into a list of image paths, each once."""

from __future__ import annotations

import os
import pathlib
from typing import Iterable

__all__ = ["IMAGE_EXTENSIONS", "collect_image_paths"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def collect_image_paths(items: Iterable[str | os.PathLike] | str | os.PathLike, *,
                        recursive: bool = False) -> list[pathlib.Path]:
    """Expand files and directories into a list of image paths.

    Files are kept whatever their extension; a directory expands to the files inside whose
    extension is in ``IMAGE_EXTENSIONS``, sorted by (relative) name, hidden files skipped, and
    sub-directories too when ``recursive``. The result keeps the order of ``items`` and lists
    each file once. Raises ``ValueError`` for a missing path or a directory with no images.

    Examples
    --------
    >>> import os, tempfile
    >>> from dot_core import collect_image_paths
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for name in ("b.png", "a.jpg", "notes.txt", ".hidden.png"):
    ...         open(os.path.join(folder, name), "wb").close()
    ...     print([p.name for p in collect_image_paths(folder)])
    ['a.jpg', 'b.png']
    """
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    paths, seen = [], set()
    for item in items:
        path = pathlib.Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted((p for p in path.glob(pattern) if p.is_file()
                            and p.suffix.lower() in IMAGE_EXTENSIONS
                            and not p.name.startswith(".")),
                           key=lambda p: p.relative_to(path).as_posix())
            if not found:
                hint = "" if recursive else "; its sub-folders are not searched"
                raise ValueError(f"{item}: directory holds no image files "
                                 f"({' '.join(IMAGE_EXTENSIONS)}){hint}")
        elif path.is_file():
            found = [path]
        else:
            raise ValueError(f"{item}: no such file or directory; check the path")
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                paths.append(p)
    return paths
