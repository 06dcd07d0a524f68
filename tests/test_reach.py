"""How far the transport gets, on real photographs: W2 to the target and the share of its detail energy,
on the calibration's restored set (closed form, before the fold) and on an image (after the fold)."""

import pytest
from conftest import bicubic_x4, photo

from dot_core import Calibrator, DOTPipeline, load_encoder
from dot_core.calibration.reach import calibration_reach, sampled_patch_moments, transport_reach
from dot_core.latents.cache import encode_image

TRAIN = ("rocket", "coffee", "camera", "immunohistochemistry")


@pytest.fixture(scope="module")
def detail():
    return load_encoder("detail")


def paired_bicubic(encoder, eps):
    cal = Calibrator(encoder, 5, mode="paired", eps=eps)
    for name in TRAIN:
        x = photo(name, 160)
        cal.add_pair(bicubic_x4(x), x)
    return cal.fit()


def image_reach(encoder, cal, x):
    out = DOTPipeline(encoder, cal).enhance(x)
    C = encoder.ot_channels
    return transport_reach(out.latent[:, :C], out.latent_transported[:, :C], cal.target, cal.patch_size)


def test_eq2_reaches_its_target_on_the_restored_set_before_the_fold(detail):
    cal = paired_bicubic(detail, 1e-6)
    reach = calibration_reach(cal.source, cal.target, cal.operator)
    assert reach.w2_before == pytest.approx(cal.w2)
    assert reach.w2_after < 1e-3 * reach.w2_before and reach.energy_after == pytest.approx(1.0, abs=1e-3)
    assert reach.energy_before < 0.2  # bicubic ×4 kept a small part of the detail energy


def test_paired_bicubic_gets_most_of_the_way_and_a_huge_eps_little_after_the_fold(detail):
    x = bicubic_x4(photo("astronaut", 224))  # a scene the calibration never saw
    near = image_reach(detail, paired_bicubic(detail, 0.3), x)  # detail's own ε
    far = image_reach(detail, paired_bicubic(detail, 100.0), x)  # every direction synthesised, then folded
    assert near.w2_after < 0.8 * near.w2_before and near.energy_after > 0.4 > 5 * near.energy_before
    assert far.closed < 0.15 and far.energy_after < 0.15  # averaging overlapping patches drowns eq. 5's noise
    assert near.closed > far.closed + 0.1


def test_the_summary_says_how_far_the_calibration_reaches(detail):
    assert "transport reach (the restored set, before the fold): W2 to the clean patches" in \
        paired_bicubic(detail, 0.3).summary()


def test_sampled_moments_read_every_kth_patch_past_the_limit_and_refuse_a_tiny_latent(detail):
    z = encode_image(detail, photo("coffee", 64), None)[:, :1]
    full, sampled = sampled_patch_moments(z, 5), sampled_patch_moments(z, 5, most=1000)
    assert full.n == 60 * 60 and sampled.n == 900  # every 4th: at most 1000
    assert float((full.covariance - sampled.covariance).abs().max()) < 0.2 * float(full.covariance.abs().max())
    with pytest.raises(ValueError, match="need 2"):
        sampled_patch_moments(z[..., :5, :5], 5)
