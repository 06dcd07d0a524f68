"""Tile planning and out-of-memory retry for the autoencoders, so large images run in bounded memory.

Both autoencoder families (:mod:`dot_core.latents.diffusers_vae`, :mod:`dot_core.latents.taesd`) plan a call the
same way: untiled while the estimated peak activations fit the memory budget of the device now
(:func:`dot_core.latents.memory.memory_budget`), else in the largest square tiles that fit; on
out-of-memory the tile side is halved (down to :data:`MIN_TILE`) and the call run again. This
module holds that plan; each family keeps how it runs a tile (diffusers' own tiling, or
:func:`run_in_tiles`) and its own advice in the final error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .memory import memory_budget, retry_smaller

__all__ = [
    "ACTIVATION_FACTOR",
    "MIN_TILE",
    "TILE_MULTIPLE",
    "activation_bytes_per_pixel",
    "check_tile_size",
    "plan_tile",
    "run_bounded",
    "run_in_tiles",
    "smaller_tile",
]

# Peak activation bytes per image pixel ≈ ACTIVATION_FACTOR × (channels at full resolution) ×
# bytes per element: a few such maps are alive at once in a decoder's last stage. Untiled SD-VAE
# decode at 512² on CPU in float32 raised peak RSS by 4.1 × 256 channels × 4 bytes per pixel
# (bench/results/memory.md); 5 leaves a margin.
ACTIVATION_FACTOR = 5
TILE_MULTIPLE = 64  # tile sides are multiples of this, hence of every VAE factor up to 64
MIN_TILE = 128  # the smallest tile tried after out-of-memory failures


def activation_bytes_per_pixel(width: int, dtype: torch.dtype) -> int:
    """Estimated peak activation bytes per image pixel of one untiled call of a network whose
    full-resolution stage has ``width`` channels (:data:`ACTIVATION_FACTOR` × width × bytes)."""
    return ACTIVATION_FACTOR * int(width) * torch.finfo(dtype).bits // 8


def check_tile_size(tile_size: int | None) -> None:
    """Raise ``ValueError`` unless ``tile_size`` is None or an int multiple of
    :data:`TILE_MULTIPLE` and at least :data:`MIN_TILE`."""
    if tile_size is not None and (
        isinstance(tile_size, bool) or not isinstance(tile_size, int)
        or tile_size < MIN_TILE or tile_size % TILE_MULTIPLE
    ):
        raise ValueError(f"tile_size must be a multiple of {TILE_MULTIPLE} and ≥ {MIN_TILE}, got {tile_size!r}")


def plan_tile(
    height: int, width: int, *, bytes_per_pixel: int, budget_bytes: int | None,
    device: torch.device | str, always: bool = False,
) -> int | None:
    """Side of the square tiles for a height×width image now, or None to run untiled.

    Untiled while ``height·width·bytes_per_pixel`` fits the budget (unless ``always``), else the
    largest side whose tile fits, rounded down to a multiple of :data:`TILE_MULTIPLE` and at least
    :data:`MIN_TILE`. ``budget_bytes`` None: :func:`dot_core.latents.memory.memory_budget` of ``device``.

    Examples
    --------
    >>> plan_tile(256, 256, bytes_per_pixel=10, budget_bytes=10 * 256 * 256, device="cpu") is None
    True
    >>> plan_tile(1024, 1024, bytes_per_pixel=10, budget_bytes=10 * 300 * 300, device="cpu")
    256
    """
    budget = budget_bytes if budget_bytes is not None else memory_budget(device)
    if not always and height * width * bytes_per_pixel <= budget:
        return None
    return max(MIN_TILE, math.isqrt(budget // bytes_per_pixel) // TILE_MULTIPLE * TILE_MULTIPLE)


def smaller_tile(side: int | None, height: int, width: int) -> int | None:
    """The tile side to try after an out-of-memory failure at ``side`` (None: untiled) on a
    height×width image: half of it (of the longer image side when untiled), rounded down to a
    multiple of :data:`TILE_MULTIPLE`, at least :data:`MIN_TILE`; None once ``side`` is MIN_TILE.

    Examples
    --------
    >>> smaller_tile(None, 1000, 600), smaller_tile(512, 1000, 600), smaller_tile(192, 1000, 600)
    (448, 256, 128)
    >>> smaller_tile(128, 1000, 600) is None
    True
    """
    if side == MIN_TILE:
        return None
    return max(MIN_TILE, (side or max(height, width)) // 2 // TILE_MULTIPLE * TILE_MULTIPLE)


def run_bounded(
    run: Callable[[int | None], torch.Tensor], first: int | None, *, height: int, width: int,
    retry: bool, device: torch.device | str, out_of_memory: Callable[[int | None], str],
) -> torch.Tensor:
    """``run(first)``; on out-of-memory, while ``retry``, ``run`` again in :func:`smaller_tile`.

    When no smaller tile is left (or ``retry`` is False: an explicit size is never changed) a
    :class:`MemoryError` carries ``out_of_memory(side)``, the caller's advice for the side that
    failed (None: untiled).
    """

    def shrink(side: int | None) -> int:
        nxt = smaller_tile(side, height, width) if retry else None
        if nxt is None:
            raise MemoryError(out_of_memory(side))
        return nxt

    return retry_smaller(run, first, shrink=shrink, device=device)


def run_in_tiles(fn, t: torch.Tensor, side: int, *, scale: float, overlap: int | None = None, align: int = 1,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``fn`` over overlapping side×side tiles of ``t`` (1, C, H, W), blended linearly, in ``dtype``.

    ``fn`` maps a tile of h×w to one of (h·scale)×(w·scale) (1/8 to encode, 8 to decode).
    Neighbouring tiles overlap by ``overlap`` pixels (default: a quarter of a tile); in the
    overlap each tile's weight ramps down towards its border, and the weighted sum is divided by
    the summed weights. Tiles start at multiples of ``align`` (a grid's period: each tile then
    sees the grid's phases where the image does); the last one may be narrower.
    """
    H, W = t.shape[-2:]
    overlap = side // 4 if overlap is None else overlap
    stride = max(align, (side - overlap) // align * align)

    def starts(n: int) -> list[int]:
        s = list(range(0, max(n - side, 0) + 1, stride))
        return s + [-(-(n - side) // align) * align] if s[-1] + side < n else s

    def ramp(n: int, n_out: int, start: int, length: int) -> torch.Tensor:
        w = torch.ones(n_out, dtype=dtype, device=t.device)
        k = round(overlap * scale)
        edge = torch.arange(1, k + 1, dtype=dtype, device=t.device) / (k + 1)
        if start > 0:
            w[:k] = torch.minimum(w[:k], edge)
        if start + length < n:
            w[n_out - k :] = torch.minimum(w[n_out - k :], edge.flip(0))
        return w

    out = weight = None
    for i in starts(H):
        for j in starts(W):
            y = fn(t[..., i : i + side, j : j + side]).to(dtype)
            h, w = y.shape[-2:]
            mask = torch.outer(ramp(H, h, i, min(side, H)), ramp(W, w, j, min(side, W)))
            if out is None:
                out = torch.zeros(*y.shape[:2], round(H * scale), round(W * scale), dtype=dtype, device=t.device)
                weight = torch.zeros(round(H * scale), round(W * scale), dtype=dtype, device=t.device)
            oi, oj = round(i * scale), round(j * scale)
            out[..., oi : oi + h, oj : oj + w] += y * mask
            weight[oi : oi + h, oj : oj + w] += mask
    return out / weight
