"""Content of calibration sets (dot_core.calibration.content): the statistics, the correction κ of an unpaired
calibration and the reliability readout, on real photographs restored by FSRCNN ×4 (skipped
where the weights, OpenCV or ../shared/data/photos are absent) and on synthetic data."""

import math

import numpy as np
import pytest
import torch

from dot_core import Calibrator, load_calibration, load_encoder, save_calibration
from dot_core.calibration.content import N_BINS, ContentStats, bin_centres, content_ratio, patch_content, spectral_slope
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, photos_dir
from dot_core.io.images import load_image

REASON = fsrcnn_unavailable_reason(4) or (None if (photos_dir() / "cbsd68").is_dir() else "../shared/data/photos is absent")
needs_real = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# CBSD68 (tuning photographs): the most textured and the smoothest scenes by their fine-detail energy
TEXTURED = ("167083", "175032", "291000", "33039")
SMOOTH = ("3096", "227092", "14037", "189080")


def _pairs(names):
    return [fsrcnn_pair(load_image(str(photos_dir() / "cbsd68" / f"{n}.png")), 4) for n in names]


def _calibrate(restored, clean, mode="unpaired", **kw):
    enc = load_encoder("detail")
    cal = Calibrator(enc, 5, mode=mode, **kw)
    if mode == "paired":
        for r, c in zip(restored, clean):
            cal.add_pair(r, c)
    else:
        for r in restored:
            cal.add_restored(r)
        for c in clean:
            cal.add_clean(c)
    return cal.fit()


def _trace(cal):
    return float(cal.target_covariance.trace())


@pytest.fixture(scope="module")
def sets():
    if REASON:
        pytest.skip(REASON)
    return {"textured": _pairs(TEXTURED), "smooth": _pairs(SMOOTH)}


@needs_real
@pytest.mark.parametrize("restored_kind, clean_kind", [("textured", "smooth"), ("smooth", "textured")])
def test_unpaired_target_moves_towards_the_paired_one(sets, restored_kind, clean_kind):
    restored = [r for r, _ in sets[restored_kind]]
    originals = [t for _, t in sets[restored_kind]]
    others = [t for _, t in sets[clean_kind]]
    paired = _trace(_calibrate(restored, originals, mode="paired"))
    plain = _trace(_calibrate(restored, others, match_content=False))
    matched = _trace(_calibrate(restored, others))
    off_plain, off_matched = abs(math.log(plain / paired)), abs(math.log(matched / paired))
    assert off_plain > math.log(4)  # the confound: sets of other scenes differ by more than 4× in Σt
    assert off_matched < 0.6 * off_plain  # the correction removes a good part of it (log scale)


@needs_real
def test_summary_warns_when_the_sets_differ_in_content(sets):
    restored = [r for r, _ in sets["textured"]]
    apart = _calibrate(restored, [t for _, t in sets["smooth"]])
    assert not apart.content.reliable and "warning: the two sets differ in content" in apart.summary()
    # the same scenes' other halves: alike in content, no warning
    halves = [(r[:, : r.shape[1] // 2], t[:, t.shape[1] // 2 :]) for r, t in sets["textured"] + sets["smooth"]]
    alike = _calibrate([r for r, _ in halves], [t for _, t in halves])
    assert alike.content.reliable and "differ in content" not in alike.summary()
    assert "content (energy of the band the restorer keeps)" in alike.summary()


@needs_real
def test_paired_calibration_is_not_moved(sets):
    restored, originals = zip(*sets["smooth"])
    cal = _calibrate(list(restored), list(originals), mode="paired")
    assert cal.content_factor == 1.0 and torch.equal(cal.target_covariance, cal.target.covariance)


def test_spectral_slope_recovers_a_power_law():
    rng = np.random.default_rng(0)
    beta, d = 0.7, 4
    stats = ContentStats(d)
    c = torch.from_numpy(10 ** rng.uniform(-6, -2, 200_000))
    v = torch.from_numpy(rng.standard_normal((c.numel(), d))) * (c ** beta / d).sqrt()[:, None]
    stats.update(v, c)
    assert spectral_slope(stats, torch.zeros(d)) == pytest.approx(beta, abs=0.03)
    other = ContentStats(d).update(v[:1000] * 10, c[:1000] * 10 ** (1 / beta))  # one decade more energy
    assert content_ratio(other, stats, beta) > 1


def test_content_stats_merge_equals_streaming_all():
    rng = np.random.default_rng(1)
    v = torch.from_numpy(rng.standard_normal((500, 3)))
    c = torch.from_numpy(10 ** rng.uniform(-7.5, 0, 500))
    whole = ContentStats(3).update(v, c)
    parts = ContentStats(3).update(v[:200], c[:200]).merge(ContentStats(3).update(v[200:], c[200:]))
    for a, b in ((whole.counts, parts.counts), (whole.s1, parts.s1), (whole.sq, parts.sq)):
        torch.testing.assert_close(a, b)
    assert whole.n == 500 and whole.counts.shape == (N_BINS,) and bin_centres().shape == (N_BINS,)


def test_patch_content_has_one_value_per_valid_patch():
    img = np.random.default_rng(2).random((37, 50, 3)).astype(np.float32)
    assert patch_content(img, 1, 5, (37, 50)).shape == (33 * 46,)
    assert patch_content(img, 8, 3, (5, 7)).shape == (3 * 5,)  # a ×8 latent, padded like the encoders pad


def test_content_survives_a_file_and_a_merge(tmp_path):
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255
    cal = _calibrate([img[:256, :256]], [img[256:, 256:]])
    back = load_calibration(save_calibration(cal, tmp_path / "c.safetensors"))
    assert back.match_content and back.content_factor == pytest.approx(cal.content_factor, rel=1e-12)
    merged = cal.merge(back)
    assert merged.content_target.n == 2 * cal.content_target.n
    # the same sets twice: the same shares, so nearly the same κ (bins that now pass MIN_BIN_PATCHES join β's fit)
    assert merged.content_factor == pytest.approx(cal.content_factor, rel=1e-2)
    plain = _calibrate([img[:256, :256]], [img[256:, 256:]], match_content=False)
    with pytest.raises(ValueError, match="match_content"):
        cal.merge(plain)
