"""The restorer's grid found from its restorations on real photographs: bicubic and FSRCNN ×4 print a
4-pixel grid, JPEG its 8-pixel blocks; clean photographs and non-local-means denoising print none."""

import numpy as np
import pytest
from conftest import bicubic_x4, photo

from dot_core import Calibrator, load_encoder
from dot_core.calibration.restorer_grid import find_restoration_lattice, grid_contrast, grid_ratio, phase_variation
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, tuning_photos
from dot_core.presets.recipes import make_restoration

SCENES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
SIDE = 192


@pytest.fixture(scope="module")
def clean():
    return [photo(n, SIDE) for n in SCENES]


def found(restored, clean_set):
    return find_restoration_lattice([phase_variation(x) for x in restored], [phase_variation(x) for x in clean_set],
                                    pixels=SIDE * SIDE)


def test_bicubic_x4_prints_a_4_pixel_grid_and_is_found(clean):
    result = found([bicubic_x4(x) for x in clean[:3]], clean[3:])  # unpaired: other scenes as reference
    assert result.period == 4
    assert result.restored[4] > 2 * result.clean[4]  # the reference holds two JPEG-made photos (rocket, immuno…)


@pytest.mark.skipif(fsrcnn_unavailable_reason() is not None, reason=str(fsrcnn_unavailable_reason()))
def test_fsrcnn_x4_prints_a_4_pixel_grid_and_is_found(clean):
    result = found([fsrcnn_pair(x, 4)[0] for x in clean[:3]], clean[3:])
    assert result.period == 4


def test_jpeg_blocks_are_an_8_pixel_grid(clean):
    assert found([make_restoration("jpeg-q10", x) for x in clean[:3]], clean[3:]).period == 8


def test_clean_photos_and_denoised_ones_print_no_grid(clean):
    assert found(clean[:3], clean[3:]).period is None
    assert found([make_restoration("denoise-nlm-25", x) for x in clean[:3]], clean[3:]).period is None


def test_phase_variation_refuses_what_is_not_an_image():
    with pytest.raises(ValueError, match="sides ≥ 3"):
        phase_variation(np.zeros((2, 8, 3)))
    with pytest.raises(ValueError, match="restored and clean"):
        find_restoration_lattice([], [phase_variation(photo("coffee", 64))])


def test_calibrator_auto_records_the_grid_found_and_says_so(clean):
    detail = load_encoder("detail")
    cal = Calibrator(detail, 5, restoration_lattice="auto")
    for x in clean[:3]:
        cal.add_restored(bicubic_x4(x))
    for x in clean[3:]:
        cal.add_clean(x)
    result = cal.fit()
    assert result.restoration_lattice == 4 and result.info["restoration_lattice_origin"] == "found"
    assert "restorer's lattice: 4 px, found in the restored set (phase variation at 4 px: restored" in result.summary()
    plain = Calibrator(detail, 5, restoration_lattice="auto")
    for x in clean[:3]:
        plain.add_restored(make_restoration("denoise-nlm-25", x))
        plain.add_clean(x)
    result = plain.fit()
    assert result.restoration_lattice is None
    assert "restorer's lattice: none found in the restored set" in result.summary()
    given = Calibrator(detail, 5, restoration_lattice=4)
    given.add_restored(bicubic_x4(clean[0]))
    given.add_clean(clean[1])
    assert "restorer's lattice: 4 px, given" in given.fit().summary()


def _sharpened(x: np.ndarray, amount: float = 1.5) -> np.ndarray:
    """x + amount·(x − G₁ * x): what a transport that adds detail does to the restoration's cells."""
    from scipy.ndimage import gaussian_filter

    base = np.stack([gaussian_filter(x[..., c], 1.0, mode="nearest") for c in range(3)], axis=-1)
    return np.clip(x + amount * (x - base), 0.0, 1.0)


@pytest.mark.skipif(fsrcnn_unavailable_reason() is not None, reason=str(fsrcnn_unavailable_reason()))
@pytest.mark.skipif(not tuning_photos(), reason="../shared/data/photos is absent")
def test_grid_contrast_sees_the_grid_a_person_sees_where_the_lattice_measure_does_not():
    # CBSD68's 106024 (a tuning photo: a white penguin on a flat pale ground), FSRCNN ×4. Sharpened and
    # with x*'s content kept on the lattice band, as the pipeline keeps it, the 3× crop shows the
    # restorer's 4-pixel cells as a line grid on the belly and the ground; the truth shows none
    from dot_core.colorfix import RESTORATION_LATTICE_BAND, remove_lattice
    from dot_core.io.images import load_image
    from dot_core.quality.lattice import lattice_ratio

    path = next(p for p in tuning_photos() if p.stem == "106024")
    restored, truth = fsrcnn_pair(load_image(str(path)), 4)
    gridded = np.clip(remove_lattice(_sharpened(restored), restored, 4, band=RESTORATION_LATTICE_BAND), 0.0, 1.0)
    assert grid_ratio(gridded, restored, period=4) > 1.5  # measured 1.75
    assert grid_ratio(truth, restored, period=4) < 0.9  # measured 0.72
    assert lattice_ratio(gridded, restored, period=4) < 1.0  # the old measure: 0.64, it does not see the grid


def test_grid_contrast_sees_cells_on_a_flat_region_and_not_white_noise():
    rng = np.random.default_rng(2)
    smooth = np.kron(rng.random((48, 48)), np.ones((8, 8)))  # 384², a smooth-ish field blurred below
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(smooth, 6.0)
    noise = np.clip(smooth + 0.02 * rng.standard_normal(smooth.shape), 0, 1)
    cells = smooth.copy()  # a quarter built from 4 × 4 cells of a smooth low-resolution field, 5 grey levels
    lr = gaussian_filter(rng.standard_normal((48, 48)), 1.0)
    cells[:192, :192] += np.kron(0.02 * lr / lr.std(), np.ones((4, 4)))
    # white noise of the same 5 grey levels falls at every phase alike
    assert grid_contrast(cells, period=4) > 2.5 * grid_contrast(noise, period=4)  # measured 3.2×
    assert grid_contrast(np.zeros((100, 100)), period=4) == 0.0


@pytest.mark.parametrize("image, period, match", [(np.zeros((64, 64, 3)), 4, "sides over 64"),
                                                  (np.zeros((100, 100, 3)), 1, "period"),
                                                  (np.zeros((100, 100, 4)), 4, "image"),
                                                  (np.full((100, 100), np.nan), 4, "NaN")])
def test_grid_contrast_refuses_what_it_cannot_measure(image, period, match):
    with pytest.raises(ValueError, match=match):
        grid_contrast(image, period=period)
    with pytest.raises(ValueError, match="flat"):
        grid_ratio(np.ones((100, 100)), np.zeros((100, 100)), period=4)


def test_grid_contrast_doctest():
    import doctest

    import dot_core.calibration.restorer_grid as module

    assert doctest.testmod(module).failed == 0
