"""dot_core.quality.pd_curve: texture distances along eq. (4)'s line equal texture_distance of each blend."""

import numpy as np
import pytest
from conftest import bicubic_x4, photo

from dot_core import texture_distance
from dot_core.quality.pd_curve import laplacian_pyramid, texture_distances_along


@pytest.fixture(scope="module")
def images():
    y = photo("astronaut", 96)
    x_star = bicubic_x4(y)
    x0 = np.clip(x_star + 0.08 * np.random.default_rng(0).standard_normal(y.shape), 0, 1).astype(np.float32)
    return x_star, x0, y


@pytest.mark.parametrize("alphas", [(0.0, 0.3, 1.0), (-1.0, 1.5, 2.0)])
def test_texture_distances_along_equal_texture_distance_of_each_clipped_blend(images, alphas):
    x_star, x0, y = images
    got = texture_distances_along(x_star, x0, y, alphas)
    want = [texture_distance(np.clip(a * x_star + (1 - a) * x0, 0, 1), y) for a in alphas]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(set(got)) == len(got)  # different blends, different distances


def test_texture_distances_along_a_reference_of_another_size_and_other_options(images):
    x_star, x0, _ = images
    y = photo("coffee", 80)
    opts = dict(levels=3, patch=5, n_patches=500, n_projections=32, seed=3)
    got = texture_distances_along(x_star, x0, y, (0.5, -0.5), **opts)
    want = [texture_distance(np.clip(a * x_star + (1 - a) * x0, 0, 1), y, **opts) for a in (0.5, -0.5)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_texture_distances_along_is_zero_where_the_blend_is_the_reference(images):
    x_star, x0, _ = images
    d = texture_distances_along(x_star, x0, x_star, (1.0, 0.0))
    assert d[0] < 1e-6 < d[1]


def test_laplacian_pyramid_sums_back_to_the_image_and_matches_metrics():
    import torch

    from dot_core.quality.metrics import _laplacian_pyramid

    img = photo("chelsea", 64).transpose(2, 0, 1).astype(np.float64)
    ours = laplacian_pyramid(img, 3)
    theirs = _laplacian_pyramid(torch.from_numpy(img)[None], 3)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b[0].numpy(), atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(x0=np.zeros((32, 30, 3))), "one shape"),
    (dict(y=np.zeros((32, 32))), "channels"),
    (dict(n_patches=0), "n_patches"),
    (dict(x_star=np.zeros((4, 4, 3)), x0=np.zeros((4, 4, 3))), "at least"),
    (dict(x_star=np.full((32, 32, 3), np.nan)), "NaN"),
])
def test_texture_distances_along_refuses_bad_input_saying_what_it_got(kwargs, match):
    args = dict(x_star=np.zeros((32, 32, 3)), x0=np.zeros((32, 32, 3)), y=np.zeros((32, 32, 3)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        texture_distances_along(args.pop("x_star"), args.pop("x0"), args.pop("y"), (0.5,), **args)
