"""Calibration: streamed moments, merging, modes, warnings, and the pipeline on real photographs."""

import numpy as np
import pytest
import torch
from conftest import bicubic_x4, photo

from dot_core import Calibrator, DOTPipeline, PatchMoments, load_encoder
from dot_core.latents.detail import DetailEncoder
from dot_core.pipeline import check_compatible, interpolate


@pytest.fixture(scope="module")
def pixel():
    return load_encoder("pixel")


def test_patch_moments_streamed_equal_batch():
    v = torch.randn(1000, 5, dtype=torch.float64) * 3 + 1
    m = PatchMoments(5)
    for chunk in v.split(137):
        m.update(chunk)
    torch.testing.assert_close(m.mean, v.mean(0))
    torch.testing.assert_close(m.covariance, torch.cov(v.T))


def test_patch_moments_merge_equals_one_pass():
    a, b = torch.randn(300, 4), torch.randn(500, 4) + 2
    merged = PatchMoments(4).update(a).merge(PatchMoments(4).update(b))
    whole = PatchMoments(4).update(torch.cat([a, b]))
    assert merged.n == whole.n
    torch.testing.assert_close(merged.s2, whole.s2)
    torch.testing.assert_close(merged.covariance, whole.covariance)


@pytest.mark.parametrize("bad", [torch.randn(10, 3), torch.randn(10)])
def test_patch_moments_update_rejects_wrong_shape(bad):
    with pytest.raises(ValueError, match="expected patches"):
        PatchMoments(4).update(bad)


@pytest.mark.parametrize("match_content", [False, True])
def test_merged_calibrations_equal_one_calibration_over_both_sets(pixel, match_content):
    r = [bicubic_x4(photo(n, 96)) for n in ("astronaut", "coffee")]
    c = [photo(n, 96) for n in ("chelsea", "rocket")]
    parts = []
    for i in range(2):
        cal = Calibrator(pixel, 3, match_content=match_content)
        cal.add_restored(r[i])
        cal.add_clean(c[i])
        parts.append(cal.fit())
    both = Calibrator(pixel, 3, match_content=match_content)
    for i in range(2):
        both.add_restored(r[i])
        both.add_clean(c[i])
    one = both.fit()
    merged = parts[0].merge(parts[1])
    torch.testing.assert_close(merged.source.s2, one.source.s2)
    torch.testing.assert_close(merged.content_target.sq, one.content_target.sq)
    assert merged.content_factor == pytest.approx(one.content_factor, rel=1e-12)
    # κ comes from per-bin sums added in another order: its last bits differ, and this ill-conditioned
    # source (smallest eigenvalues ~1e-6 of the largest) amplifies them in T
    tol = {"rtol": 1e-4, "atol": 1e-5} if match_content else {}
    torch.testing.assert_close(merged.operator.T, one.operator.T, **tol)
    assert merged.w2 == pytest.approx(one.w2, rel=1e-10)
    assert merged.info["n_restored_images"] == 2


def test_merge_refuses_other_patch_size(pixel):
    def cal(p):
        c = Calibrator(pixel, p)
        c.add_restored(photo("coffee", 32))
        c.add_clean(photo("chelsea", 32))
        return c.fit()

    with pytest.raises(ValueError, match="patch_size"):
        cal(2).merge(cal(3))


def _small_calibration(encoder, **kwargs):
    c = Calibrator(encoder, 2, **kwargs)
    c.add_restored(photo("coffee", 32))
    c.add_clean(photo("chelsea", 32))
    return c.fit()


@pytest.mark.parametrize(
    "other, field",
    [
        (lambda: _small_calibration(DetailEncoder(device="cpu", sigma=2.0)), "encoder_config"),
        (lambda: _small_calibration(load_encoder("detail"), eps=1e-3), "eps"),
        (lambda: _small_calibration(load_encoder("detail"), method="stochastic"), "method"),
        (lambda: _small_calibration(load_encoder("detail"), restoration_lattice=4), "restoration_lattice"),
    ],
)
def test_merge_refuses_other_latent_settings_eps_or_method(other, field):
    """Two detail calibrations of different σ (or ε, or method) are different operators."""
    base = _small_calibration(load_encoder("detail"))
    with pytest.raises(ValueError, match=rf"differ in {field}: .* vs .*calibrate both sets"):
        base.merge(other())
    assert base.merge(_small_calibration(load_encoder("detail"))).target.n == 2 * base.target.n


@pytest.mark.parametrize("bad", [1, 0, 17, 4.0, True, "4"])
def test_restoration_lattice_must_be_a_whole_number_of_pixels(pixel, bad):
    with pytest.raises(ValueError, match="restoration_lattice must be None or an integer"):
        Calibrator(pixel, 3, restoration_lattice=bad)


def test_calibrator_warns_about_few_samples_resolution_and_tiny_images(pixel):
    cal = Calibrator(pixel, 4)
    cal.add_restored(photo("astronaut", 64))
    cal.add_restored(np.zeros((2, 2, 3), np.float32))  # smaller than a patch: skipped
    cal.add_clean(photo("chelsea", 8))
    text = " ".join(cal.fit().info["warnings"])
    assert "smaller than one latent patch" in text
    assert "noisy" in text
    assert "resolution" in text


def test_calibrator_refuses_when_no_usable_image(pixel):
    cal = Calibrator(pixel, 3)
    cal.add_restored(np.zeros((2, 2, 3), np.float32))
    cal.add_clean(photo("chelsea", 32))
    with pytest.raises(ValueError, match="no usable restored images"):
        cal.fit()


@pytest.mark.parametrize("p", [0, 17, 2.5, "3"])
def test_calibrator_rejects_bad_patch_size(pixel, p):
    with pytest.raises(ValueError, match="patch_size"):
        Calibrator(pixel, p)


def test_paired_mode_checks_sizes_and_reports_psnr(pixel):
    cal = Calibrator(pixel, 3, mode="paired")
    gt = photo("coffee", 64)
    cal.add_pair(bicubic_x4(gt), gt)
    with pytest.raises(ValueError, match="one size"):
        cal.add_pair(bicubic_x4(gt), photo("chelsea", 48))
    result = cal.fit()
    mse = np.mean((bicubic_x4(gt).astype(np.float64) - gt) ** 2)
    assert result.info["pair_psnr_db"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-6)


def test_zero_shot_takes_source_statistics_from_the_image(pixel):
    cal = Calibrator(pixel, 3, mode="zero-shot")
    with pytest.raises(ValueError, match="only clean"):
        cal.add_restored(photo("coffee", 32))
    cal.add_clean(photo("chelsea", 96))
    zs = cal.fit()
    assert zs.operator is None and zs.w2 is None
    img = bicubic_x4(photo("coffee", 96))
    out = DOTPipeline(pixel, zs).enhance(img).transported
    assert out.shape == img.shape and np.isfinite(out).all()
    assert not np.allclose(out, img, atol=1e-3)


def test_pipeline_alpha_one_returns_the_restoration_exactly(pixel):
    cal = Calibrator(pixel, 3)
    cal.add_restored(bicubic_x4(photo("astronaut", 80)))
    cal.add_clean(photo("chelsea", 80))
    pipe = DOTPipeline(pixel, cal.fit())
    img = bicubic_x4(photo("coffee", 77))
    res = pipe.enhance(img)
    np.testing.assert_array_equal(pipe.blend(res, 1.0), np.clip(img, 0, 1))
    np.testing.assert_allclose(pipe.blend(res, 0.0), res.transported)
    half = pipe.blend(res, 0.5)
    np.testing.assert_allclose(half, np.clip(0.5 * img + 0.5 * res.transported, 0, 1), atol=1e-6)
    assert pipe.blend(res, -1.0).min() >= 0 and pipe.blend(res, 2.0).max() <= 1


def test_pipeline_on_real_photos_moves_statistics_towards_clean(pixel):
    """x̂0's patch distribution is closer to the clean set's than the restoration's is."""
    names = ("astronaut", "coffee", "chelsea", "rocket")
    cal = Calibrator(pixel, 3)
    for n in names[:2]:
        cal.add_restored(bicubic_x4(photo(n, 128)))
    for n in names[2:]:
        cal.add_clean(photo(n, 128))
    c = cal.fit()
    pipe = DOTPipeline(pixel, c)
    img = bicubic_x4(photo("astronaut", 128))
    out = pipe.enhance(img)

    def w2_to_target(x):
        m = PatchMoments(c.dim)
        from dot_core.calibration import latent_patch_moments

        latent_patch_moments(pipe.encode(x), 3, m)
        from dot_core import gelbrich_w2

        return float(gelbrich_w2(m.mean, m.covariance, c.target.mean, c.target.covariance))

    assert w2_to_target(out.transported) < 0.6 * w2_to_target(img)


def test_check_compatible_refuses_calibration_from_another_latent_space(pixel, tiny_kl_dir):
    cal = Calibrator(pixel, 3)
    cal.add_restored(photo("coffee", 32))
    cal.add_clean(photo("chelsea", 32))
    with pytest.raises(ValueError, match="calibrate again"):
        check_compatible(load_encoder(str(tiny_kl_dir)), cal.fit())


def test_interpolate_rejects_nonfinite_alpha_and_shape_mismatch():
    a = np.zeros((4, 4, 3))
    with pytest.raises(ValueError, match="finite"):
        interpolate(a, a, float("nan"))
    with pytest.raises(ValueError, match="shapes"):
        interpolate(a, np.zeros((4, 5, 3)), 0.5)


@pytest.mark.parametrize("which", ["restored", "clean", "both"])
def test_flat_images_give_finite_results(pixel, which):
    """Singular covariances (flat images): the stochastic operator or ε keeps pixels finite."""
    flat = np.full((32, 32, 3), 0.4, np.float32)
    cal = Calibrator(pixel, 3)
    cal.add_restored(flat if which in ("restored", "both") else photo("coffee", 32))
    cal.add_clean(flat * 0.5 if which in ("clean", "both") else photo("chelsea", 32))
    out = DOTPipeline(pixel, cal.fit()).enhance(photo("rocket", 40)).transported
    assert np.isfinite(out).all()


def test_nonfinite_latent_is_a_clear_error(pixel):
    cal = Calibrator(pixel, 3)
    cal.add_restored(photo("coffee", 32))
    cal.add_clean(photo("chelsea", 32))
    z = torch.full((1, 3, 8, 8), float("nan"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        DOTPipeline(pixel, cal.fit()).transport(z)


def test_summary_counts_one_image_in_the_singular(pixel):
    """A calibration on one restored and two clean images says "1 image" and "2 images"."""
    cal = Calibrator(pixel, 3)
    cal.add_restored(photo("coffee", 32))
    cal.add_clean(photo("chelsea", 32))
    cal.add_clean(photo("rocket", 32))
    text = cal.fit().summary()
    assert "restored: 1 image," in text and "clean: 2 images," in text


def test_fitted_calibration_keeps_its_own_moments(pixel, tmp_path):
    """Adding an image after fit() changes the calibrator, never the calibration already made."""
    from dot_core import load_calibration, save_calibration

    c = Calibrator(pixel, 3)
    c.add_restored(photo("coffee", 40))
    c.add_clean(photo("chelsea", 40))
    cal = c.fit()
    n_t, n_s, s2 = cal.target.n, cal.source.n, cal.target.s2.clone()
    content = (cal.content_source.n, cal.content_target.n, cal.content_factor)
    c.add_clean(photo("rocket", 40))
    c.add_restored(photo("astronaut", 40))
    assert (cal.target.n, cal.source.n) == (n_t, n_s) and torch.equal(cal.target.s2, s2)
    assert (cal.content_source.n, cal.content_target.n, cal.content_factor) == content  # the content match's too
    back = load_calibration(save_calibration(cal, tmp_path / "c.safetensors"))
    torch.testing.assert_close(back.operator.T, cal.operator.T)
    assert c.fit().target.n > n_t


@pytest.mark.parametrize("eps", [-1.0, float("nan"), float("inf"), "1e-3", True])
def test_calibrator_refuses_a_bad_eps_before_any_work(pixel, eps):
    with pytest.raises(ValueError, match="eps must be a finite number ≥ 0"):
        Calibrator(pixel, 3, eps=eps)


def test_merge_recomputes_warnings_and_pair_psnr(pixel):
    """Each half alone has too few patches (a warning) and its own PSNR; merged, neither is kept as is."""
    import math

    def paired(names):
        c = Calibrator(pixel, 2, mode="paired")
        for n in names:
            c.add_pair(bicubic_x4(photo(n, 8)), photo(n, 8))
        return c, c.fit()

    c_a, a = paired(["coffee"])
    c_b, b = paired(["chelsea", "rocket", "astronaut"])
    few = [w for w in a.info["warnings"] if w.startswith("only ")]
    assert len(few) == 2  # 49 restored and 49 clean patches for d = 12
    merged = a.merge(b)
    both, _ = paired(["coffee", "chelsea", "rocket", "astronaut"])
    one = both.fit()
    assert merged.info["warnings"] == one.info["warnings"]
    assert not set(few) & set(merged.info["warnings"])
    assert merged.info["pair_psnr_db"] == pytest.approx(one.info["pair_psnr_db"], abs=1e-9)
    assert not math.isclose(merged.info["pair_psnr_db"], a.info["pair_psnr_db"])
    assert merged.info["n_restored_images"] == 4


def test_merge_adds_the_skipped_images_of_both(pixel):
    def with_one_tiny(name):
        c = Calibrator(pixel, 2)
        c.add_restored(photo(name, 40))
        c.add_restored(photo(name, 1))  # smaller than one patch: skipped
        c.add_clean(photo("chelsea", 40))
        return c.fit()

    merged = with_one_tiny("coffee").merge(with_one_tiny("rocket"))
    assert "2 restored image(s) smaller than one latent patch were skipped" in merged.info["warnings"]
    assert not any(w.startswith("1 restored") for w in merged.info["warnings"])
