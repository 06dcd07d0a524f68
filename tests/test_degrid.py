"""The transport works on a copy of the restoration without the restorer's grid (dot_core.degrid):
FSRCNN ×4 on CBSD68 (tuning photographs), the restorer's 4-pixel cells no longer grow at α = 0."""

import numpy as np
import pytest
import torch

from dot_core import Calibrator, DOTPipeline, TransportConfig, load_encoder
from dot_core.calibration.restorer_grid import grid_contrast, grid_ratio
from dot_core.degrid import _integrate, degrid, degrid_period, transported_copy
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, tuning_photos
from dot_core.io.images import load_image
from dot_core.quality.metrics import psnr
from dot_core.quality.pd_curve import texture_distances_along

needs_fsrcnn = pytest.mark.skipif(fsrcnn_unavailable_reason() is not None or not tuning_photos(),
                                  reason=str(fsrcnn_unavailable_reason() or "../shared/data/photos is absent"))


@pytest.fixture(scope="module")
def fsrcnn_sets():
    """(pairs to calibrate, held-out (restored, truth)): CBSD68 tuning photographs only."""
    names = tuning_photos()
    pairs = [fsrcnn_pair(load_image(str(p)), 4) for p in names[0:12:3]]
    held = [fsrcnn_pair(load_image(str(p)), 4) for p in names if p.stem in ("106024", "143090")]
    return pairs, held


def test_integrate_rebuilds_an_image_from_its_steps():
    f = torch.rand(30, 41, dtype=torch.float64)
    out = _integrate(torch.diff(f, dim=1), torch.diff(f, dim=0))
    torch.testing.assert_close(out, f - f.mean(), atol=1e-10, rtol=0)


@needs_fsrcnn
def test_degrid_removes_fsrcnns_cells_and_keeps_the_picture(fsrcnn_sets):
    _, held = fsrcnn_sets
    for restored, truth in held:
        flat = degrid(restored, 4)
        assert flat.dtype == np.float32 and flat.shape == restored.shape
        assert grid_ratio(flat, restored, period=4) < 0.6  # below the truth's (0.7×): measured 0.4×
        assert psnr(flat, restored) > 30.0  # measured 32 dB: a copy for the transport to work on, not a new picture


@needs_fsrcnn
def test_the_restorers_grid_does_not_grow_at_alpha_0_and_the_texture_gain_stays(fsrcnn_sets):
    pairs, held = fsrcnn_sets
    enc = load_encoder("detail")
    cal = Calibrator(enc, enc.default_patch_size, restoration_lattice=4, mode="paired")
    for restored, truth in pairs:
        cal.add_pair(restored, truth)
    cal = cal.fit()
    on, off = DOTPipeline(enc, cal), DOTPipeline(enc, cal, config=TransportConfig(degrid=False))
    grids, extrapolated = [], []
    for restored, truth in held:
        enhanced, plain = on.enhance(restored), off.enhance(restored).transported
        x0 = enhanced.transported
        grids.append(grid_ratio(x0, restored, period=4))
        extrapolated.append(grid_ratio(on.blend(enhanced, -1.0), restored, period=4))
        assert grid_ratio(plain, restored, period=4) > 1.6  # without: the cells sharpened (measured 1.9–2.1×)
        assert grids[-1] < 0.75 * grid_ratio(plain, restored, period=4)
        tex = texture_distances_along(restored, x0, truth, (1.0, 0.0))
        assert tex[1] < 0.7 * tex[0]
        assert psnr(x0, truth) > psnr(restored, truth) - 1.0
    # x̂0 is built on x̃, so the grid fades towards α = 0 (before: 106024, the penguin's flat belly, 1.36×)
    assert max(grids) < 1.1  # measured 1.02× and 0.50×
    assert max(extrapolated) < 1.35  # measured 1.25× and 1.00×


def test_degrid_is_for_latents_off_the_restorers_grid_and_can_be_turned_off():
    detail = load_encoder("detail")

    class Stride8:
        factor = 8

    assert degrid_period(True, detail, 4) == 4 and degrid_period(True, detail, None) is None
    assert degrid_period(False, detail, 4) is None
    assert degrid_period(True, Stride8(), 4) is None  # taef2's ×8 latent sees each cell at one place
    assert degrid_period(True, detail, 8) is None  # JPEG's blocks: the lattice band alone (below)
    with pytest.raises(ValueError, match="degrid"):
        TransportConfig(degrid="yes")


def test_latent_blend_of_a_degridded_transport_is_its_pixel_blend_at_the_ends():
    from conftest import bicubic_x4, photo

    enc = load_encoder("detail")
    cal = Calibrator(enc, 5, restoration_lattice=4)
    cal.add_restored(bicubic_x4(photo("coffee", 96)))
    cal.add_clean(photo("chelsea", 96))
    pipe = DOTPipeline(enc, cal.fit())
    e = pipe.enhance(bicubic_x4(photo("rocket", 96)))
    assert pipe.provenance["degrid"] == 4
    np.testing.assert_allclose(pipe.blend(e, 0.0, space="latent"), e.transported, atol=1e-5)
    np.testing.assert_allclose(pipe.blend(e, 1.0, space="latent"), e.original, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1), (1, 600), (7, 5), (600, 3)])
def test_an_image_narrower_than_two_cells_is_enhanced_without_the_copy(shape):
    """A degridding calibration still enhances a 1-pixel-wide or tiny upload (the app's odd
    uploads): it has no grid to speak of, so x* itself is transported."""
    from conftest import bicubic_x4, photo

    enc = load_encoder("pixel")
    cal = Calibrator(enc, 3, restoration_lattice=4)
    cal.add_restored(bicubic_x4(photo("coffee", 64)))
    cal.add_clean(photo("chelsea", 64))
    pipe = DOTPipeline(enc, cal.fit())
    x = np.random.default_rng(0).random((*shape, 3)).astype(np.float32)
    assert pipe.transport_source(x) is x
    e = pipe.enhance(x)
    assert e.transported.shape == x.shape and np.isfinite(e.transported).all()


@pytest.mark.parametrize("call, match", [
    (lambda: degrid(np.zeros((8, 8, 3)), 1), "period"),
    (lambda: degrid(np.zeros((8, 8)), 4), "image"),
    (lambda: transported_copy(np.zeros((8, 8, 3)), np.zeros((8, 8, 4)), 4), "x_tilde_0"),
    (lambda: transported_copy(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), 4, base=np.zeros((8, 9, 3))), "base"),
])
def test_degrid_refuses_what_it_cannot_use(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_grid_contrast_of_a_degridded_flat_image_is_zero():
    assert grid_contrast(degrid(np.full((80, 80, 3), 0.5), 4), period=4) == pytest.approx(0.0, abs=1e-6)


def test_large_images_are_degridded_in_tiles_that_agree_with_the_whole(monkeypatch):
    import dot_core.degrid as module
    from conftest import bicubic_x4, photo

    restored = bicubic_x4(photo("astronaut", 320))
    whole = degrid(restored, 4)
    monkeypatch.setattr(module, "TILE", 160)
    monkeypatch.setattr(module, "_MARGIN", 32)
    tiled = degrid(restored, 4)
    assert np.abs(tiled - whole).mean() < 2e-4 and np.abs(tiled - whole).max() < 0.02
    assert psnr(whole, restored) > 40.0  # only the grid's scale changes: x̃'s low frequencies are x*'s


def test_degrid_doctest():
    import doctest

    import dot_core.degrid as module

    assert doctest.testmod(module).failed == 0


def test_jpegs_blocks_found_by_themselves_are_not_degridded_and_the_texture_gain_stays():
    """JPEG q10 restorations calibrated with the grid left to the finder: it finds the 8-pixel blocks,
    and the transport works on x* itself (a degridded copy made the texture worse than x*'s)."""
    from conftest import photo

    from dot_core.calibration import LATTICE_AUTO
    from dot_core.presets import make_restoration

    enc = load_encoder("detail")
    cal = Calibrator(enc, 5, restoration_lattice=LATTICE_AUTO)
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        cal.add_restored(make_restoration("jpeg-q10", photo(name, 256)))
    for name in ("camera", "coins", "immunohistochemistry", "grass"):
        cal.add_clean(photo(name, 256))
    cal = cal.fit()
    assert cal.restoration_lattice == 8
    pipe = DOTPipeline(enc, cal)
    assert pipe.degrid_period is None and pipe.provenance["degrid"] is None
    truth = photo("hubble_deep_field", 256)
    restored = make_restoration("jpeg-q10", truth)
    tex = texture_distances_along(restored, pipe.enhance(restored).transported, truth, (1.0, 0.0))
    assert tex[1] < tex[0]
