"""Give freed memory back to the system: glibc's allocator otherwise keeps it for the process.

A server that handles many sessions allocates and frees arrays of every size (images, latents,
PNGs, plots). glibc's ``malloc`` serves allocations below its mmap threshold from its heaps and,
by default, raises that threshold (up to 32 MiB) each time a larger block is freed, so image-sized
arrays soon come from the heaps too; freed, they stay mapped to the process wherever a small
long-lived block sits above them. Measured with ``bench/soak.py``: the app's resident memory grew
by about 40 MB a session (365 MB → 2.66 GB over 60 small sessions) while Python's own heap and
the sessions' kept images did not grow; ``malloc_trim(0)`` gave 40 % of it back at once.

:func:`limit_heap_growth` fixes the mmap threshold (blocks of 1 MiB or more are mapped apart and
unmapped when freed) and :func:`release_freed` returns free heap pages (the app calls it after each
heavy job). Both do nothing, and say so by returning False, where the C library is not glibc.

Pure Python (ctypes): no Gradio here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["limit_heap_growth", "release_freed"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)


@functools.lru_cache(maxsize=1)
def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt.argtypes, libc.malloc_trim.argtypes = [ctypes.c_int, ctypes.c_int], [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without these)
        return None


def limit_heap_growth(mmap_threshold: int = 1 << 20) -> bool:
    """Blocks of ``mmap_threshold`` bytes or more mapped apart (returned to the system when freed),
    and free heap memory above twice that trimmed; True when glibc took the settings."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, 2 * int(mmap_threshold)))


def release_freed() -> bool:
    """Return the heaps' free pages to the system (``malloc_trim(0)``); True if any were returned."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
