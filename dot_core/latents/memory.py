"""Memory budgets and out-of-memory handling, so large images run in bounded memory.

Two things grow with the image: the VAE's activations (tiled when they would not fit the
budget, see :mod:`dot_core.latents.diffusers_vae`) and the patch matrices of the transport (chunked, see
:mod:`dot_core.ot.patches`). This module says how much memory one such step may use on a device,
recognises an out-of-memory failure whatever form it takes, frees caches before a retry, and
runs a step again in smaller pieces (:func:`retry_smaller`) until it fits.

Budgets
-------
CUDA: a share of the memory that is free *now* (``torch.cuda.mem_get_info``), so a GPU that is
shared, or already holds other models, gets smaller tiles. CPU and MPS: a fixed cap (the free
RAM of a shared machine says little about what a process should take), lowered when the
machine has less RAM available than the cap.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = [
    "CPU_BUDGET_BYTES",
    "CUDA_FREE_FRACTION",
    "available_ram",
    "chunk_elements_for",
    "free_memory",
    "is_out_of_memory",
    "memory_budget",
    "retry_smaller",
]

Size = TypeVar("Size")
Result = TypeVar("Result")

CPU_BUDGET_BYTES = 2 << 30  # activations one VAE call may hold on CPU/MPS (1536² SD-VAE < 4 GB RSS)
CUDA_FREE_FRACTION = 0.6  # share of the free GPU memory one VAE call may hold
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``torch.OutOfMemoryError``, ``MemoryError`` and allocator ``RuntimeError``s."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return any(m in msg for m in _OOM_MESSAGES)
    return False


def free_memory(device: torch.device | str) -> None:
    """Collect garbage and hand cached device blocks back before a retry."""
    gc.collect()
    kind = torch.device(device).type
    if kind == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif kind == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def retry_smaller(
    run: Callable[[Size], Result],
    size: Size,
    *,
    shrink: Callable[[Size], Size],
    device: torch.device | str,
) -> Result:
    """``run(size)``; on out-of-memory, free caches and ``run(shrink(size))``, and so on.

    ``size`` is whatever bounds one attempt's memory (a tile side, a chunk's entries). ``shrink``
    returns the next smaller size, or raises :class:`MemoryError` with its own advice when there
    is none. Errors other than out-of-memory are raised at once, never retried.
    """
    while True:
        try:
            return run(size)
        except Exception as exc:  # only out-of-memory is retried
            if not is_out_of_memory(exc):
                raise
        free_memory(device)  # outside the except block, so the failed attempt's tensors are released
        size = shrink(size)


def available_ram() -> int:
    """Bytes of RAM the system could still give this process."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # psutil is a requirement; this keeps a bare install working on Linux
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def memory_budget(device: torch.device | str) -> int:
    """Bytes one memory-hungry step (a VAE call, a patch chunk) may use on ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FREE_FRACTION)
    return int(min(CPU_BUDGET_BYTES, available_ram() // 2))


MIN_CHUNK_ELEMENTS = 1 << 16  # the smallest transport chunk tried after out-of-memory failures
MAX_CHUNK_ELEMENTS = 1 << 26  # 256 MiB of float32 per patch matrix is plenty for any GPU


def chunk_elements_for(device: torch.device | str) -> int:
    """Entries of one transport chunk's patch matrix on ``device``.

    CPU and MPS: the fixed default (larger chunks are not faster there, only bigger). CUDA:
    a share of the memory budget (about eight float32 copies of a chunk are alive at once),
    so a big GPU transports a whole latent in a few launches.
    """
    from ..ot.patches import DEFAULT_CHUNK_ELEMENTS

    device = torch.device(device)
    if device.type != "cuda":
        return DEFAULT_CHUNK_ELEMENTS
    return int(min(MAX_CHUNK_ELEMENTS, max(MIN_CHUNK_ELEMENTS, memory_budget(device) // 32)))
