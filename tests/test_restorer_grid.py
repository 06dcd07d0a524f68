"""The restorer's grid found from its restorations on real photographs: bicubic and FSRCNN ×4 print a
4-pixel grid, JPEG its 8-pixel blocks; clean photographs and non-local-means denoising print none."""

import numpy as np
import pytest
from conftest import bicubic_x4, photo

from dot_core import Calibrator, load_encoder
from dot_core.calibration.restorer_grid import find_restoration_lattice, phase_variation
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason
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
