"""The autoencoders' shared tile plan (dot_core.latents.tiling): sizes, validation and the retry sequence."""

import doctest

import pytest
import torch

import dot_core.latents.tiling as tiling
from dot_core.latents.tiling import (
    MIN_TILE,
    TILE_MULTIPLE,
    activation_bytes_per_pixel,
    check_tile_size,
    plan_tile,
    run_bounded,
    smaller_tile,
)


def test_tiling_doctests():
    assert doctest.testmod(tiling).failed == 0


def test_activation_bytes_per_pixel_scales_with_width_and_precision():
    assert activation_bytes_per_pixel(64, torch.float32) == 2 * activation_bytes_per_pixel(64, torch.bfloat16)
    assert activation_bytes_per_pixel(128, torch.float32) == 2 * activation_bytes_per_pixel(64, torch.float32)


@pytest.mark.parametrize("budget_side", [130, 200, 333, 1000])
def test_plan_tile_is_the_largest_allowed_side_that_fits(budget_side):
    bpp = 7
    budget = bpp * budget_side**2
    side = plan_tile(4096, 4096, bytes_per_pixel=bpp, budget_bytes=budget, device="cpu")
    assert side % TILE_MULTIPLE == 0 and side >= MIN_TILE
    assert side * side * bpp <= budget or side == MIN_TILE
    assert (side + TILE_MULTIPLE) ** 2 * bpp > budget


def test_plan_tile_untiled_while_it_fits_unless_always():
    fits = dict(bytes_per_pixel=4, budget_bytes=4 * 300 * 300, device="cpu")
    assert plan_tile(300, 300, **fits) is None
    assert plan_tile(301, 300, **fits) == 256
    assert plan_tile(64, 64, always=True, **fits) == 256


@pytest.mark.parametrize("bad", [0, 64, 130, 200.0, "256", True])
def test_check_tile_size_refuses(bad):
    with pytest.raises(ValueError, match="tile_size must be a multiple of 64"):
        check_tile_size(bad)


@pytest.mark.parametrize("good", [None, 128, 192, 1024])
def test_check_tile_size_accepts(good):
    check_tile_size(good)


def test_smaller_tile_halves_down_to_the_minimum():
    sides, side = [], None
    while (side := smaller_tile(side, 1500, 900)) is not None:
        sides.append(side)
    assert sides == [704, 320, 128]


def _oom_above(limit, seen):
    def run(side):
        seen.append(side)
        if side is None or side > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return torch.zeros(1)
    return run


def test_run_bounded_retries_in_smaller_tiles_until_it_fits():
    seen = []
    run_bounded(_oom_above(300, seen), None, height=1024, width=1024, retry=True, device="cpu",
                out_of_memory=lambda side: "unused")
    assert seen == [None, 512, 256]


@pytest.mark.parametrize(("retry", "first", "failed"), [(True, None, MIN_TILE), (False, 512, 512)])
def test_run_bounded_raises_the_callers_advice_for_the_last_side(retry, first, failed):
    seen = []
    with pytest.raises(MemoryError, match=f"no memory at {failed}; try less"):
        run_bounded(_oom_above(0, seen), first, height=1024, width=1024, retry=retry, device="cpu",
                    out_of_memory=lambda side: f"no memory at {side}; try less")
    assert seen[-1] == failed and (retry or seen == [512])
