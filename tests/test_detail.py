"""Tests for the weight-free ``detail`` latent (dot_core.latents.detail)."""

import math

import numpy as np
import pytest
import torch
from conftest import bicubic_x4, photo

from dot_core import Calibrator, DOTPipeline, GaussianOperator, load_encoder
from dot_core.io.images import image_to_tensor
from dot_core.latents.detail import OPPONENT, DetailEncoder, gaussian_blur
from dot_core.ot.patches import transport_latent


@pytest.fixture(scope="module")
def enc():
    return DetailEncoder(device="cpu")


def test_load_encoder_detail_is_a_detail_encoder():
    e = load_encoder("detail", device="cpu")
    assert isinstance(e, DetailEncoder)
    assert (e.name, e.channels, e.factor, e.ot_channels) == ("detail", 6, 1, 1)
    assert e.default_patch_size == 5


def test_opponent_basis_is_orthonormal():
    assert torch.allclose(OPPONENT @ OPPONENT.T, torch.eye(3, dtype=torch.float64), atol=1e-15)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (33, 17), (65, 129)])
def test_detail_roundtrip_lossless_any_size(enc, shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(1, 3, *shape, generator=g) * 2 - 1
    z = enc.encode(x)
    assert z.shape == (1, 6, *shape)
    y = enc.decode(z, shape)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 2e-6


def test_detail_roundtrip_lossless_photo(enc):
    x = image_to_tensor(photo("astronaut", 97))
    assert (enc.decode(enc.encode(x), (97, 97)) - x).abs().max().item() < 2e-6


def test_detail_base_is_lowpass_and_detail_has_zero_mean(enc):
    x = image_to_tensor(photo("coffee", 96))
    z = enc.encode(x)
    assert torch.allclose(z[:, 3:], gaussian_blur(x, enc.sigma))
    assert z[:, :3].mean(dim=(2, 3)).abs().max().item() < 0.01  # band-pass: no DC


def test_detail_identity_transport_is_lossless(enc):
    x = image_to_tensor(photo("chelsea", 64))
    z = enc.encode(x)
    p = enc.default_patch_size
    d = enc.ot_channels * p * p
    identity = GaussianOperator(
        T=torch.eye(d, dtype=torch.float64), mu_s=torch.zeros(d, dtype=torch.float64),
        mu_t=torch.zeros(d, dtype=torch.float64),
    )
    zt = torch.cat([transport_latent(z[:, :1], identity, p), z[:, 1:]], dim=1)
    assert (enc.decode(zt, (64, 64)) - x).abs().max().item() < 2e-6


def test_detail_transport_keeps_base_and_chroma(enc):
    clean, restored = photo("rocket", 96), bicubic_x4(photo("coffee", 96))
    cal = Calibrator(enc, 3)
    cal.add_restored(restored)
    cal.add_clean(clean)
    pipe = DOTPipeline(enc, cal.fit())
    z = pipe.encode(restored)
    zt = pipe.transport(z)
    assert torch.equal(zt[:, 1:], z[:, 1:])  # only the luma detail moves
    assert not torch.allclose(zt[:, :1], z[:, :1])
    out = pipe.enhance(restored).transported
    assert out.shape == restored.shape
    # colours stay: the low-pass of the result is the restoration's up to the detail's leak
    lo = lambda a: gaussian_blur(image_to_tensor(a), 4.0)  # noqa: E731
    assert (lo(out) - lo(restored)).abs().mean().item() < 0.01


def test_calibrator_uses_the_detail_regularisation_by_default(enc):
    from dot_core.latents.detail import DEFAULT_EPS

    assert Calibrator(enc, 3).eps == enc.default_eps == DEFAULT_EPS
    assert Calibrator(enc, 3, eps=1e-6).eps == 1e-6
    assert Calibrator(load_encoder("pixel", device="cpu"), 3).eps == 1e-9


def test_detail_folds_towards_patch_centres_unless_told(enc):
    """TransportConfig(fold_kernel=None) takes the latent's own kernel: gaussian for detail."""
    from dot_core import TransportConfig

    x = bicubic_x4(photo("coffee", 64))
    cal = Calibrator(enc, 3)
    cal.add_restored(x)
    cal.add_clean(photo("coffee", 64))
    cal = cal.fit()
    auto = DOTPipeline(enc, cal)
    assert auto.fold_kernel == enc.default_fold_kernel == "gaussian"
    gauss = DOTPipeline(enc, cal, config=TransportConfig(fold_kernel="gaussian"))
    uniform = DOTPipeline(enc, cal, config=TransportConfig(fold_kernel="uniform"))
    torch.testing.assert_close(torch.from_numpy(auto.enhance(x).transported),
                               torch.from_numpy(gauss.enhance(x).transported), rtol=0, atol=0)
    assert abs(auto.enhance(x).transported - uniform.enhance(x).transported).max() > 1e-3
    pixel = load_encoder("pixel", device="cpu")
    pcal = Calibrator(pixel, 3)
    pcal.add_restored(x)
    pcal.add_clean(photo("coffee", 64))
    assert DOTPipeline(pixel, pcal.fit()).fold_kernel == "uniform"  # the paper's average
    with pytest.raises(ValueError, match="fold_kernel"):
        TransportConfig(fold_kernel="box")


def test_a_calibration_of_another_split_is_refused(tmp_path):
    """A detail calibration remembers its σ (through a file too): another split is another latent."""
    from dot_core import load_calibration, save_calibration

    old = DetailEncoder(device="cpu", sigma=2.0)
    cal = Calibrator(old, 3)
    cal.add_restored(bicubic_x4(photo("coffee", 64)))
    cal.add_clean(photo("coffee", 64))
    save_calibration(cal.fit(), tmp_path / "old.safetensors")
    loaded = load_calibration(tmp_path / "old.safetensors")
    assert loaded.info["encoder_config"]["sigma"] == 2.0
    DOTPipeline(old, loaded)  # the same latent: fine
    with pytest.raises(ValueError, match=r"sigma = 2\.0 \(now 1\.0\).*calibrate again"):
        DOTPipeline(DetailEncoder(device="cpu"), loaded)


@pytest.mark.parametrize("kwargs", [{"sigma": 0}, {"sigma": -1.0}, {"sigma": 100}, {"sigma": True},
                                    {"sigma": "2"}, {"patch_size": 0}, {"patch_size": 2.5}])
def test_detail_bad_options_raise(kwargs):
    with pytest.raises(ValueError):
        DetailEncoder(device="cpu", **kwargs)


def test_detail_bad_inputs_raise(enc):
    with pytest.raises(ValueError):
        enc.encode(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError):
        enc.decode(torch.zeros(1, 3, 8, 8))


def test_gaussian_blur_preserves_constants_and_mean():
    x = torch.full((1, 3, 9, 11), 0.25)
    assert torch.allclose(gaussian_blur(x, 2.0), x)
    r = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert abs(gaussian_blur(r, 2.0).mean().item() - r.mean().item()) < 1e-3
    assert gaussian_blur(r, 2.0).std().item() < 0.5 * r.std().item()  # white noise is smoothed


@pytest.mark.parametrize("sigma", [0.5, 1.25, 2.0, 3.7])
def test_gaussian_blur_matches_scipy(sigma):
    """The same filter as scipy.ndimage.gaussian_filter with the border replicated ('nearest')
    and the same radius ⌈3σ⌉, per channel."""
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(1, 3, 37, 52, generator=torch.Generator().manual_seed(0))
    radius = max(1, math.ceil(3 * sigma))
    ref = np.stack([ndimage.gaussian_filter(x[0, c].double().numpy(), sigma, mode="nearest", radius=radius)
                    for c in range(3)])
    np.testing.assert_allclose(gaussian_blur(x, sigma)[0].numpy(), ref, rtol=0, atol=2e-6)


def test_detail_sr_preset_adds_no_visible_lattice():
    """Issue 11: bicubic ×4 with the shipped ``detail`` calibration puts no ×4 grid on the image:
    lattice energy at most 2× the ground truth's at α = 0 and 3× at α = −1 (a crop with sky-like
    flat background and texture)."""
    from dot_core.presets import bundled_photo, load_preset, make_restoration
    from dot_core.quality.lattice import lattice_ratio

    clean = bundled_photo("astronaut")[:256, 256:]
    restored = make_restoration("sr-bicubic-x4", clean)
    pipe = DOTPipeline(DetailEncoder(device="cpu"), load_preset("sr-bicubic-x4", "detail"))
    enhanced = pipe.enhance(restored)
    assert lattice_ratio(enhanced.transported, clean, period=4) <= 2.0
    assert lattice_ratio(pipe.blend(enhanced, -1.0), clean, period=4) <= 3.0
