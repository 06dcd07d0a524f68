"""Bounded memory for the images every session keeps (x*, x̂0, the ground truth).

A session of the app keeps its current upload x* and its transport x̂0 so that the α slider only
mixes pixels (eq. 4 of Adrai et al. 2023). As float32 at 2048² that is 100 MB a session, and a
public app has many sessions. Here:

* arrays in [0, 1] are kept as 16-bit fixed point (``round(x · 65535)``): half of float32, exact
  for 8- and 16-bit uploads (k/255 = 257·k/65535), 1.5e-5 steps otherwise (far below one grey
  level of the 8-bit PNGs the app serves), and turned back into float32 in about a millisecond
  per megapixel;
* all sessions together hold at most ``budget_bytes`` in RAM; beyond that, the least recently
  used arrays are written once to their session's folder (``.npy``) and dropped from RAM, and read
  back when that session moves its slider again: nothing computed is lost, memory stays bounded;
* an array group lives as long as the :class:`KeptArrays` handle that a session's state holds:
  when no state refers to it any more (a new upload, the session ended or expired), its RAM and
  its spill files are released.

Pure Python and NumPy: no Gradio here (``webui/services.py`` creates it, ``webui/state.py`` uses it).
"""

from __future__ import annotations

import collections
import os
import threading
import uuid
import weakref
from pathlib import Path

import numpy as np

__all__ = ["ArrayStore", "KeptArrays", "SCALE"]

SCALE = 65535  # 16-bit fixed point


def _encode(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all() or x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ValueError("kept images must be finite and in [0, 1]")
    return np.rint(x * SCALE).astype(np.uint16)


def _decode(q: np.ndarray) -> np.ndarray:
    out = q.astype(np.float32)
    out *= np.float32(1.0 / SCALE)
    return out


class KeptArrays:
    """A named group of same-session arrays held by an :class:`ArrayStore` (immutable).

    ``get(name)`` returns a float32 copy; the group may sit in RAM or in its spill files.
    """

    def __init__(self, store: "ArrayStore", folder: Path, arrays: dict[str, np.ndarray]) -> None:
        self._store = store
        self._folder = Path(folder)
        self._tag = uuid.uuid4().hex[:12]
        self._ram: dict[str, np.ndarray] | None = {k: _encode(v) for k, v in arrays.items()}
        self.shapes = {k: v.shape for k, v in self._ram.items()}
        self.nbytes = sum(v.nbytes for v in self._ram.values())
        self._spilled: dict[str, Path] = {}
        # when the handle is collected, its spill files go; the callback must not hold the handle
        weakref.finalize(self, _remove_files, self._spilled)

    @property
    def resident(self) -> bool:
        """Whether the arrays are in RAM now (else on disk until the next ``get``)."""
        return self._ram is not None

    def names(self) -> tuple[str, ...]:
        return tuple(self.shapes)

    def get(self, name: str) -> np.ndarray:
        if name not in self.shapes:
            raise KeyError(f"no kept array named {name!r}; have {', '.join(self.shapes)}")
        return _decode(self._store._fetch(self)[name])

    # ---- used by the store, under its lock

    def _spill(self) -> None:
        """Write the arrays to disk (once; they never change) and drop them from RAM."""
        assert self._ram is not None
        for name, q in self._ram.items():
            if name not in self._spilled:
                path = self._folder / f".kept-{self._tag}-{name}.npy"
                tmp = path.with_name(path.name + ".part")
                with open(tmp, "wb") as f:
                    np.save(f, q, allow_pickle=False)
                os.replace(tmp, path)
                self._spilled[name] = path
        self._ram = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._ram is None:
            try:
                if set(self._spilled) != set(self.shapes):  # dropped: it could not be written out
                    raise FileNotFoundError(self._folder)
                self._ram = {k: np.load(p, allow_pickle=False) for k, p in self._spilled.items()}
            except OSError as exc:  # the session's folder was removed under it
                raise FileNotFoundError(
                    "this image's data is gone (the session expired or was cleaned up); upload it again"
                ) from exc
        return self._ram


def _remove_files(paths: dict[str, Path]) -> None:
    for p in paths.values():
        try:
            p.unlink()
        except OSError:
            pass


class ArrayStore:
    """Keeps every session's arrays within ``budget_bytes`` of RAM, least recently used spilled.

    Thread-safe: the app's handlers run in several threads.
    """

    def __init__(self, budget_bytes: int) -> None:
        if int(budget_bytes) < 0:
            raise ValueError(f"budget_bytes must be >= 0, got {budget_bytes}")
        self.budget_bytes = int(budget_bytes)
        self._lock = threading.RLock()
        # resident handles, least recently used first; weak, so a dropped state frees its RAM
        self._lru: collections.OrderedDict[int, weakref.ref] = collections.OrderedDict()
        self._bytes: dict[int, int] = {}

    def keep(self, folder: str | os.PathLike, **arrays: np.ndarray) -> KeptArrays:
        """Hold ``arrays`` (float, in [0, 1]) for a session whose files live in ``folder``."""
        handle = KeptArrays(self, Path(folder), arrays)
        with self._lock:
            self._admit(handle)
        return handle

    @property
    def resident_bytes(self) -> int:
        with self._lock:
            self._prune()
            return sum(self._bytes.values())

    def stats(self) -> dict:
        with self._lock:
            self._prune()
            return {"resident": len(self._lru), "resident_bytes": sum(self._bytes.values()),
                    "budget_bytes": self.budget_bytes}

    # ---- internals

    def _fetch(self, handle: KeptArrays) -> dict[str, np.ndarray]:
        with self._lock:
            ram = handle._load()
            self._admit(handle)
            return ram

    def _admit(self, handle: KeptArrays) -> None:
        """Mark ``handle`` most recently used; spill others until the budget holds."""
        key = id(handle)
        if key in self._lru:
            self._lru.move_to_end(key)
        else:
            self._lru[key] = weakref.ref(handle, self._forget(key))
            self._bytes[key] = handle.nbytes
        self._prune()
        total = sum(self._bytes.values())
        for other_key in list(self._lru):
            if total <= self.budget_bytes:
                break
            if other_key == key:  # the one in use stays, even alone over the budget
                continue
            other = self._lru[other_key]()
            if other is not None and other.resident:
                try:
                    other._spill()
                except OSError:  # its session's folder is gone: the session ended, drop the data
                    other._ram = None
            total -= self._bytes.pop(other_key, 0)
            del self._lru[other_key]

    def _forget(self, key: int):
        def callback(_ref) -> None:
            with self._lock:
                self._lru.pop(key, None)
                self._bytes.pop(key, None)
        return callback

    def _prune(self) -> None:
        for key in [k for k, ref in self._lru.items() if ref() is None]:
            del self._lru[key]
            self._bytes.pop(key, None)
