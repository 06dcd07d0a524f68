"""Tests for dot_core.quality.metrics on crops of scikit-image's bundled photographs."""
import math

import numpy as np
import pytest
import torch
from skimage import data, filters, util
from skimage import metrics as skmetrics

from dot_core.quality.lattice import lattice_energy, lattice_ratio
from dot_core.quality.metrics import (
    BINOMIAL_KERNEL,
    psnr,
    psnr_from_mse,
    radial_power_spectrum,
    seeded_generator,
    spectrum_distance,
    ssim,
    texture_distance,
)

PHOTOS = {
    "astronaut": util.img_as_float(data.astronaut()[:128, 128:256]),
    "coffee": util.img_as_float(data.coffee()[100:228, 200:328]),
    "chelsea": util.img_as_float(data.chelsea()[50:178, 100:228]),
}
SHARP = PHOTOS["astronaut"]
FAST = {"n_patches": 1024, "n_projections": 64}  # texture_distance settings for speed


def _blur(img, sigma):
    return filters.gaussian(img, sigma=sigma, channel_axis=-1, mode="reflect")


def _noise(img, std, seed=0):
    return np.clip(img + np.random.default_rng(seed).normal(0.0, std, img.shape), 0.0, 1.0)


def test_psnr_identical_is_inf():
    assert psnr(SHARP, SHARP.copy()) == math.inf


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_psnr_matches_skimage(name, data_range):
    x, y = PHOTOS[name], _noise(PHOTOS[name], 0.05)
    expected = skmetrics.peak_signal_noise_ratio(x, y, data_range=data_range)
    assert psnr(x, y, data_range=data_range) == pytest.approx(expected, abs=1e-9)


def test_psnr_known_value():
    x = np.full((8, 8, 3), 0.5)
    assert psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-9)


@pytest.mark.parametrize("to", [np.float32, torch.tensor])
def test_psnr_accepts_arrays_and_tensors(to):
    x, y = SHARP, _noise(SHARP, 0.05)
    assert psnr(to(x), to(y)) == pytest.approx(psnr(x, y), abs=1e-4)


@pytest.mark.parametrize("func", [psnr, ssim])
def test_metrics_shape_mismatch(func):
    with pytest.raises(ValueError, match=r"\(128, 128, 3\) and \(64, 128, 3\)"):
        func(SHARP, SHARP[:64])


@pytest.mark.parametrize("func", [psnr, ssim, texture_distance, spectrum_distance])
@pytest.mark.parametrize("bad, match", [(np.zeros((3, 32, 32)), r"shape \(3, 32, 32\)"),
                                        (np.full((32, 32, 3), np.nan), "NaN")])
def test_metrics_bad_input(func, bad, match):
    with pytest.raises(ValueError, match=match):
        func(SHARP[:32, :32], bad)


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("distortion", ["noise", "blur", "jpeg-like"])
def test_ssim_matches_skimage(name, distortion):
    x = PHOTOS[name]
    y = {"noise": lambda: _noise(x, 0.08), "blur": lambda: _blur(x, 1.5),
         "jpeg-like": lambda: np.round(_blur(x, 0.7) * 16) / 16}[distortion]()
    expected = skmetrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, channel_axis=-1,
                                               data_range=1)
    assert abs(ssim(x, y) - expected) < 1e-3


def test_ssim_grayscale_matches_skimage():
    x = util.img_as_float(data.camera()[100:200, 100:200])
    y = _noise(x, 0.1)
    expected = skmetrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, data_range=1)
    assert abs(ssim(x, y) - expected) < 1e-3


def test_ssim_identical_and_symmetric():
    y = _blur(SHARP, 2.0)
    assert ssim(SHARP, SHARP) == pytest.approx(1.0, abs=1e-12)
    assert ssim(SHARP, y) == pytest.approx(ssim(y, SHARP), abs=1e-12)
    assert ssim(SHARP, y) < 1.0


def test_ssim_too_small():
    with pytest.raises(ValueError, match="at least 11×11"):
        ssim(SHARP[:10, :20], SHARP[:10, :20])


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_texture_distance_identical_is_zero(name):
    x = PHOTOS[name]
    assert texture_distance(x, x.copy(), **FAST) < 1e-6


def test_texture_distance_symmetric_and_deterministic():
    y = _noise(SHARP, 0.03)
    d = texture_distance(SHARP, y, **FAST)
    assert d > 0
    assert texture_distance(y, SHARP, **FAST) == d
    assert texture_distance(torch.tensor(SHARP), torch.tensor(y), **FAST) == d
    other_seed = texture_distance(SHARP, y, seed=1, **FAST)
    assert other_seed != d and other_seed == pytest.approx(d, rel=0.5)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_texture_distance_monotone_in_blur(name):
    x = PHOTOS[name]
    d = [texture_distance(_blur(x, sigma), x, **FAST) for sigma in (1.0, 2.0, 4.0)]
    assert 0 < d[0] < d[1] < d[2]


def test_texture_distance_sizes_may_differ():
    big = util.img_as_float(data.astronaut()[:256, 128:384])
    d = texture_distance(SHARP, big, **FAST)
    assert 0 < d < texture_distance(SHARP, _blur(big, 4.0), **FAST)
    assert texture_distance(SHARP[:20, :20], SHARP[:9, :30], **FAST) >= 0  # fewer levels


@pytest.mark.parametrize("kwargs, match", [({"levels": 0}, "levels"), ({"patch": 0}, "patch"),
                                           ({"n_projections": 0}, "n_projections")])
def test_texture_distance_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        texture_distance(SHARP, SHARP, **kwargs)


def test_texture_distance_too_small_or_mismatched_channels():
    with pytest.raises(ValueError, match="at least 7 pixels"):
        texture_distance(SHARP[:5], SHARP)
    with pytest.raises(ValueError, match=r"same channels.*\(128, 128, 3\) and \(128, 128, 1\)"):
        texture_distance(SHARP, SHARP[..., :1])


@pytest.mark.parametrize("n_bins", [8, 64])
def test_radial_power_spectrum_shape_and_slope(n_bins):
    freqs, log_power = radial_power_spectrum(SHARP, n_bins=n_bins)
    assert freqs.shape == log_power.shape == (n_bins,)
    assert freqs[0] > 0 and freqs[-1] < 0.5 and np.all(np.diff(freqs) > 0)
    assert np.isfinite(log_power).all()
    assert log_power[: n_bins // 4].mean() > log_power[-n_bins // 4:].mean() + 1  # ~1/f² decay


def test_radial_power_spectrum_size_normalised():
    rng = np.random.default_rng(0)
    small, large = rng.random((48, 48, 3)), rng.random((256, 256, 3))  # white noise: flat PSD
    assert spectrum_distance(small, large, n_bins=16) < 0.15
    _, log_power = radial_power_spectrum(large, n_bins=16)
    assert np.ptp(log_power) < 0.3


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_spectrum_distance_identical_is_zero(name):
    assert spectrum_distance(PHOTOS[name], PHOTOS[name].copy()) == 0.0


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_spectrum_distance_monotone_in_blur(name):
    x = PHOTOS[name]
    d = [spectrum_distance(x, _blur(x, sigma)) for sigma in (1.0, 2.0, 4.0)]
    assert 0 < d[0] < d[1] < d[2]
    assert spectrum_distance(_blur(x, 2.0), x) == pytest.approx(d[1], abs=1e-12)


def test_spectrum_distance_sees_noise():
    assert spectrum_distance(SHARP, _noise(SHARP, 0.05)) > 0.1


def test_radial_power_spectrum_too_small():
    with pytest.raises(ValueError, match="at least 8×8"):
        radial_power_spectrum(SHARP[:6])


# ---- periodic-artifact (lattice) measure ----------------------------------------------------

PHOTOS_FULL = {"astronaut": util.img_as_float(data.astronaut()), "coffee": util.img_as_float(data.coffee())}


def _lattice_pattern(shape, period, amplitude, phase=(0, 0), seed=0):
    """A random p×p tile repeated over the image (a grid, as an upscaler's phase pattern makes)."""
    tile = np.random.default_rng(seed).normal(0.0, 1.0, (period, period))
    tile = amplitude * (tile - tile.mean()) / tile.std()
    reps = (shape[0] // period + 2, shape[1] // period + 2)
    grid = np.tile(tile, reps)[phase[0]:phase[0] + shape[0], phase[1]:phase[1] + shape[1]]
    return grid[..., None]


def test_lattice_energy_white_noise_share_is_the_share_of_bins():
    # white noise spreads power evenly over bins: in every 16p × 16p tile the share is the lattice
    # bins' share of the band
    noise = np.random.default_rng(1).random((256, 256))
    p = 4
    t = 16 * p
    band_bins = t * t * (1 - (1 / p) ** 2)  # max(|fx|, |fy|) ≥ 1/(2p) leaves out a (1/p)² square
    lattice_bins = (p * p - 1) * 9
    assert lattice_energy(noise, period=p) == pytest.approx(lattice_bins / band_bins, rel=0.15)


@pytest.mark.parametrize("name", sorted(PHOTOS_FULL))
def test_lattice_energy_small_on_natural_photographs(name):
    # no more than about what white noise puts there (9(p² − 1)/(256 p²) ≈ 0.033 for p = 4 and 8)
    for p in (4, 8):
        assert lattice_energy(PHOTOS_FULL[name], period=p) < 0.05


@pytest.mark.parametrize("name", sorted(PHOTOS_FULL))
@pytest.mark.parametrize("period", [4, 8])
def test_lattice_ratio_sees_a_faint_grid_at_any_phase(name, period):
    gt = PHOTOS_FULL[name]
    for phase in [(0, 0), (1, 3)]:
        gridded = np.clip(gt + _lattice_pattern(gt.shape, period, 0.01, phase), 0, 1)  # 1 % of range
        assert lattice_ratio(gridded, gt, period=period) > 2.0  # measured 2.3–9.4
    # the same energy as white noise is no lattice
    noisy = _noise(gt, 0.01, seed=3)
    assert lattice_ratio(noisy, gt, period=period) < 1.5


def test_lattice_ratio_grows_with_the_grid_and_ignores_other_periods():
    gt = PHOTOS_FULL["astronaut"]
    ratios = [lattice_ratio(np.clip(gt + _lattice_pattern(gt.shape, 4, a), 0, 1), gt, period=4)
              for a in (0.002, 0.005, 0.02)]
    assert ratios[0] < ratios[1] < ratios[2]
    # a period-5 grid is not a period-4 lattice
    assert lattice_ratio(np.clip(gt + _lattice_pattern(gt.shape, 5, 0.02), 0, 1), gt, period=4) < 1.5


def test_lattice_ratio_sees_a_grid_confined_to_a_flat_region():
    # a grid only on the sky-like top-left quarter of a textured photo: one global spectrum would
    # drown it in the texture's energy; the mean over tiles does not
    gt = PHOTOS_FULL["astronaut"].copy()
    gt[:256, :256] = gaussian_filter_rgb(gt[:256, :256], 6.0)  # flatten a quarter
    gridded = gt.copy()
    gridded[:256, :256] += _lattice_pattern((256, 256), 4, 0.01)
    assert lattice_ratio(np.clip(gridded, 0, 1), gt, period=4) > 2.0


def gaussian_filter_rgb(img, sigma):
    return filters.gaussian(img, sigma=sigma, channel_axis=-1, mode="reflect")


def test_lattice_ratio_of_identical_images_is_one_and_bicubic_adds_none():
    from PIL import Image

    gt = PHOTOS_FULL["coffee"]
    assert lattice_ratio(gt, gt.copy(), period=4) == pytest.approx(1.0)
    u8 = Image.fromarray((gt * 255).round().astype(np.uint8))
    w, h = u8.size
    sr = u8.resize((w // 4, h // 4), Image.BICUBIC).resize((w, h), Image.BICUBIC)
    assert lattice_ratio(np.asarray(sr) / 255.0, gt, period=4) < 1.0


@pytest.mark.parametrize("kwargs, match", [({"period": 1}, "period"), ({"period": 4.0}, "period"),
                                           ({"period": 64}, "at least 1024")])
def test_lattice_energy_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lattice_energy(SHARP, **kwargs)


def test_lattice_ratio_flat_reference():
    with pytest.raises(ValueError, match="flat"):
        lattice_ratio(SHARP, np.full((64, 64, 3), 0.5), period=4)


def test_seeded_generator_repeats_and_separates_streams():
    draw = lambda *seeds: torch.rand(8, generator=seeded_generator(*seeds))  # noqa: E731
    assert torch.equal(draw(3, 1, 0), draw(3, 1, 0))
    assert not torch.equal(draw(3, 1, 0), draw(3, 1, 1))
    assert not torch.equal(draw(3, 1, 0), draw(3, 2, 0))


def test_binomial_kernel_is_a_normalised_symmetric_low_pass():
    assert float(BINOMIAL_KERNEL.sum()) == 1.0 and torch.equal(BINOMIAL_KERNEL, BINOMIAL_KERNEL.flip(0))


def test_psnr_from_mse_is_psnrs_formula():
    import doctest

    import dot_core.quality.metrics

    noisy = np.clip(SHARP + 0.05 * np.random.default_rng(0).standard_normal(SHARP.shape), 0, 1)
    assert psnr(noisy, SHARP) == psnr_from_mse(float(np.mean((noisy - SHARP) ** 2)))
    assert psnr_from_mse(0.04, data_range=2.0) == pytest.approx(20.0) and psnr_from_mse(0.0) == math.inf
    runner = doctest.DocTestRunner()
    for example in doctest.DocTestFinder().find(psnr_from_mse, globs=vars(dot_core.quality.metrics)):
        runner.run(example)
    assert runner.tries > 0 and runner.failures == 0
