"""Pairs of restored and clean files found by name, and the mode ``auto`` chooses, on real photographs."""

from pathlib import Path

import pytest
from conftest import bicubic_x4, photo

from dot_core.calibration.pairing import choose_mode, image_size, match_pairs, pair_key, pairs_for_paired_mode
from dot_core.io.images import save_image

NAMES = ("astronaut", "coffee", "chelsea")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Bicubic ×4 restorations named as restorers name them, and their clean originals."""
    base = tmp_path_factory.mktemp("pairs")
    restored, clean = [], []
    for i, name in enumerate(NAMES):
        gt = photo(name, 64)
        suffix = ("_x4_SR", "-restored", "")[i]
        restored.append(save_image(base / "restored" / f"{name.capitalize()}{suffix}.png", bicubic_x4(gt)))
        clean.append(save_image(base / "clean" / f"{name}.png", gt))
    return base, restored, clean


@pytest.mark.parametrize("name, key", [
    ("Cat_SR.PNG", "cat"), ("cat.jpg", "cat"), ("img_001_x4_restored.png", "img_001"), ("0801x4.png", "0801"),
    ("0801_gt.png", "0801"), ("a-out.tif", "a"), ("sr.png", "sr"), ("x4.png", "x4"), ("photo_2x.png", "photo"),
    ("coffee_restored_3.png", "coffee_3"), ("Coffee Clean 3.png", "coffee_3"), ("sr_x4.png", "sr_x4"),
])
def test_pair_key_strips_restorer_and_dataset_tags(name, key):
    assert pair_key(name) == key


def test_match_pairs_finds_every_original_by_name(sets):
    _, restored, clean = sets
    found = match_pairs(restored, clean[::-1])
    assert found.complete and found.reason is None
    assert {(Path(r).stem.lower().split("_")[0].split("-")[0], Path(c).stem) for r, c in found.pairs} == \
        {(n, n) for n in NAMES}


def test_match_pairs_by_prefix_for_a_model_name_tag(tmp_path):
    found = match_pairs(["out/0801_SwinIR.png", "out/0802_SwinIR.png"], ["hr/0801.png", "hr/0802.png", "hr/0803.png"])
    assert found.complete
    assert [Path(c).name for _, c in found.pairs] == ["0801.png", "0802.png"]
    assert [Path(c).name for c in found.unmatched_clean] == ["0803.png"]


def test_match_pairs_names_the_restored_images_without_an_original(sets):
    _, restored, clean = sets
    found = match_pairs(restored, clean[:1])
    assert not found.complete
    assert "2 of 3 restored images have no clean image of the same name" in found.reason
    assert "Coffee-restored.png" in found.reason and "Chelsea.png" in found.reason


def test_match_pairs_refuses_two_restorations_of_one_original():
    found = match_pairs(["r/cat_sr.png", "r/cat_x4.png"], ["c/cat.png"])
    assert not found.complete and not found.pairs
    assert "cat.png is the clean image of several restored images (cat_sr.png, cat_x4.png)" in found.reason
    found = match_pairs(["r/cat.png"], ["c/cat.png", "c/cat.jpg"])
    assert "cat.png matches several clean images (cat.png, cat.jpg)" in found.reason


def test_auto_mode_pairs_when_every_restoration_has_its_original_of_one_size(sets):
    _, restored, clean = sets
    choice = choose_mode(restored, clean)
    assert choice.mode == "paired" and len(choice.pairs) == 3
    assert "every restored image has its clean original of the same size (3 pairs" in choice.reason


def test_auto_mode_leaves_out_clean_images_without_a_restoration(sets, tmp_path):
    _, restored, clean = sets
    extra = save_image(tmp_path / "rocket.png", photo("rocket", 64))
    choice = choose_mode(restored[:2], [*clean, extra])
    assert choice.mode == "paired" and len(choice.pairs) == 2
    assert "2 clean image(s) without a restoration left out" in choice.reason and "rocket.png" in choice.reason


def test_auto_mode_is_unpaired_when_names_or_sizes_differ(sets, tmp_path):
    base, restored, clean = sets
    choice = choose_mode(restored, clean[:2])
    assert choice.mode == "unpaired" and "no clean image of the same name (Chelsea.png)" in choice.reason
    smaller = [save_image(tmp_path / Path(c).name, photo(Path(c).stem, 48)) for c in clean]
    choice = choose_mode(restored, smaller)
    assert choice.mode == "unpaired" and "64×64 but" in choice.reason and "48×48" in choice.reason
    with pytest.raises(ValueError, match="zero-shot"):
        choose_mode([], clean)


def test_image_size_reads_the_header_and_none_for_a_broken_file(sets, tmp_path):
    assert image_size(sets[1][0]) == (64, 64)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert image_size(broken) is None


def test_paired_mode_asked_for_pairs_by_name_else_by_order(sets):
    _, restored, clean = sets
    by_name = pairs_for_paired_mode(restored, clean[::-1])
    assert [Path(c).stem for _, c in by_name.pairs] == list(NAMES)
    renamed = ["c/one.png", "c/two.png", "c/three.png"]
    by_order = pairs_for_paired_mode(restored, renamed)
    assert [c for _, c in by_order.pairs] == renamed and "in the order given" in by_order.reason
    with pytest.raises(ValueError, match="as many restored as clean images, got 3 and 2"):
        pairs_for_paired_mode(restored, renamed[:2])


def test_paired_mode_asked_for_refuses_pairs_of_two_sizes(sets, tmp_path):
    _, restored, clean = sets
    smaller = save_image(tmp_path / "coffee.png", photo("coffee", 48))
    with pytest.raises(ValueError, match="Coffee-restored.png is 64×64 but its clean image coffee.png is 48×48"):
        pairs_for_paired_mode(restored, [clean[0], smaller, clean[2]])
