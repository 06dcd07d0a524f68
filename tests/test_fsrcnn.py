"""FSRCNN, the real learned restorer of the tests and benchmarks (skips where weights or OpenCV are absent)."""

import numpy as np
import pytest

from dot_core import psnr
from dot_core.fsrcnn import degrade_cubic, fsrcnn_pair, fsrcnn_unavailable_reason, reporting_photos, tuning_photos
from dot_core.io.images import load_image

REASON = fsrcnn_unavailable_reason(4)
needs_fsrcnn = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def test_degrade_cubic_crops_to_a_multiple_of_the_scale():
    pytest.importorskip("cv2")
    clean = np.random.default_rng(0).random((37, 42, 3))
    lr, hr = degrade_cubic(clean, 4)
    assert hr.shape == (36, 40, 3) and lr.shape == (9, 10, 3) and lr.dtype == np.uint8


def test_tuning_and_reporting_photos_are_apart():
    tuning, reporting = set(p.name for p in tuning_photos()), set(p.name for p in reporting_photos())
    if not tuning or not reporting:
        pytest.skip("../shared/data/photos is absent")
    assert not tuning & reporting and len(tuning) == 68 and len(reporting) == 24


@needs_fsrcnn
def test_fsrcnn_beats_bicubic_on_its_own_degradation():
    from PIL import Image

    photos = tuning_photos()
    if not photos:
        pytest.skip("../shared/data/photos is absent")
    clean = load_image(str(photos[0]))
    restored, truth = fsrcnn_pair(clean, 4)
    assert restored.shape == truth.shape
    lr, _ = degrade_cubic(clean, 4)
    bicubic = np.asarray(Image.fromarray(lr).resize(truth.shape[1::-1], Image.BICUBIC), dtype=np.float64) / 255
    assert psnr(restored, truth) > psnr(bicubic, truth) + 0.2
