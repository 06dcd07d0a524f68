"""x̂α of the session's upload as a served PNG: computed once per α, written once per kind.

The slider's input asks for x̂α while it moves (a fast, uncompressed preview PNG); its release asks
for the same α again (the compact PNG the visitor downloads, and the metrics when there is a ground
truth). :class:`BlendFiles` keeps the newest x̂α of each upload, so the release reuses the pixels
the input computed instead of mixing them again (eq. 4), and writes a file only when its name is
not there yet.
"""

from __future__ import annotations

import collections
import os
import threading

import numpy as np

from .engine_calls import provenance
from .errors import fail
from .files import keep_newest, write_png
from .state import ImageState

PREVIEW, COMPACT = 0, 1  # zlib levels: the slider's previews (stored, a few ms) and the images one keeps


class BlendFiles:
    """The newest x̂α of each upload (keyed by its folder), within ``max_bytes``, and its PNGs.

    ``keep``: how many PNGs of each kind one upload keeps (the newest); bounds a session's disk.
    ``max_bytes``: the kept x̂α of all sessions together (the least recently used goes first; the
    newest is always kept), memory on top of the image store's.
    """

    def __init__(self, keep: int, max_bytes: int = 64 * 2**20) -> None:
        self.keep, self.max_bytes = keep, max_bytes
        self._newest: collections.OrderedDict[str, tuple[float, np.ndarray]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def pixels(self, state: ImageState, alpha: float) -> np.ndarray:
        """x̂α = α·x* + (1 − α)·x̂0, clipped (eq. 4): mixed once, then reused while α stays (read-only)."""
        key = str(state.folder)
        with self._lock:
            hit = self._newest.get(key)
            if hit is not None and hit[0] == alpha:
                self._newest.move_to_end(key)
                return hit[1]
        x = state.blend(alpha)
        x.flags.writeable = False  # shared by the preview, the compact PNG and the metrics
        with self._lock:
            self._newest[key] = (alpha, x)
            self._newest.move_to_end(key)
            while len(self._newest) > 1 and sum(v.nbytes for _, v in self._newest.values()) > self.max_bytes:
                self._newest.popitem(last=False)  # the least recently used upload's
        return x

    def png(self, state: ImageState, alpha: float, *, level: int) -> str:
        """x̂α as ``<upload folder>/<kind>/<stem>_alpha<α>.png``; its path.

        Two kinds: ``blends`` for the live previews the slider asks for while it moves (``level`` 0),
        ``compact`` for the image a release, an upload or a new calibration shows and the visitor
        downloads (zlib ``level`` ≥ 1, a fraction of the size). A name that exists already is this
        very x̂α (one upload, one calibration per folder): it is marked newest and served as it is,
        never rewritten, since a request may be reading it (a rewrite of another size breaks its
        declared Content-Length); x̂α is then not even mixed.
        """
        if not state.folder.is_dir():  # a request still in flight for an upload that was replaced since
            raise fail("This image was replaced by a newer upload or calibration; move α again.")
        kind = state.folder / ("blends" if level == PREVIEW else "compact")
        kind.mkdir(exist_ok=True)
        path = kind / f"{state.stem}_alpha{alpha:g}.png"
        try:
            os.utime(path)
        except FileNotFoundError:
            write_png(self.pixels(state, alpha), path.name, level=level, folder=kind,
                      provenance=provenance(state.pipeline, alpha))
        keep_newest(kind, self.keep)
        return str(path)
