"""The features in a real browser (Playwright + Debian's Chromium): the α suggestion, the latent's
round trip, and batch enhancement, in one page session (one calibration, one upload) to stay quick.

Screenshots at 1280 and 390 px go to a temporary folder, or to ``DOT_FEATURE_SHOTS`` when set.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import ARGS, CHROMIUM, _blend, _calibrate_on_uploads, _shown, _slider_value, _wait_server_image

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")


@pytest.fixture
def feature_shots(tmp_path) -> Path:
    folder = Path(os.environ.get("DOT_FEATURE_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _label_alpha(page, selector: str) -> float:
    return float(re.search(r"α = (-?[0-9.]+)", page.inner_text(selector)).group(1))


def test_browser_suggestion_roundtrip_and_batch(app_url, app_images, feature_shots, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.goto(app_url)
            page.wait_for_selector("#dot-calibrate")
            assert not page.is_visible("#dot-suggest-psnr")  # no ground truth, no suggestion

            _calibrate_on_uploads(page, app_images)
            page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
            _wait_server_image(page, _slider_value(page))
            page.locator("#dot-gt input[type=file]").set_input_files(app_images["ground_truth"])

            # α suggestion: two buttons once the curve exists; a click moves the slider and the page follows
            page.wait_for_selector("#dot-suggest-psnr", state="visible", timeout=180_000)
            page.wait_for_selector("#dot-suggest-texture", state="visible", timeout=30_000)
            x_star, _ = _shown(page, "dot-original")
            x0, _ = _shown(page, "dot-transported")
            for button in ("#dot-suggest-psnr", "#dot-suggest-texture"):
                target = _label_alpha(page, button)
                page.click(button)
                page.wait_for_function(
                    "(a) => Math.abs(Number(document.querySelector('#dot-alpha input[type=range]').value) - a) < 1e-6",
                    arg=target, timeout=30_000)
                _wait_server_image(page, target)
                page.wait_for_function("(a) => document.querySelector('#dot-metrics').innerText"
                                       ".includes('at α = ' + a + ':')", arg=f"{target:g}", timeout=60_000)
                shown, _ = _shown(page, "dot-interpolated")
                assert np.abs(shown - _blend(target, x_star, x0)).max() <= 2
            # both on one line, side by side
            boxes = [page.locator(b).bounding_box() for b in ("#dot-suggest-psnr", "#dot-suggest-texture")]
            assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[0]["height"] < 50

            # the latent's round trip: hidden until asked for, then the upload next to D(E(x)) and its PSNR
            assert not page.is_visible("#dot-roundtrip") and not page.is_visible("#dot-roundtrip-text")
            page.click("#dot-roundtrip-toggle input[type=checkbox]")
            page.wait_for_function("(document.querySelector('#dot-roundtrip-text') || {innerText: ''})"
                                   ".innerText.includes('dB')", timeout=120_000)
            page.wait_for_selector("#dot-roundtrip img", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(feature_shots / "features_desktop.png"), full_page=True)

            # batch: open the accordion, two images (one of them broken), three α; a zip of PNGs and a report
            bad = tmp_path / "broken.png"
            bad.write_bytes(b"\x89PNG but not really")
            page.click("#dot-batch button.label-wrap, #dot-batch .label-wrap")
            page.locator("#dot-batch-files input[type=file]").set_input_files([app_images["other_image"], str(bad)])
            page.fill("#dot-batch-alphas textarea, #dot-batch-alphas input", "0, 0.5, 1")
            page.wait_for_timeout(300)
            page.click("#dot-batch-run")
            page.wait_for_function("document.querySelector('#dot-batch-report').innerText.includes('PNG')",
                                   timeout=120_000)
            report = page.inner_text("#dot-batch-report")
            assert "3 PNGs" in report and "1 of 2 images" in report and "broken.png" in report
            link = page.locator("#dot-batch-zip a").first
            body = page.request.get(link.get_attribute("href")).body()
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                names = sorted(f"coffee_flipped_restored_alpha{a}.png" for a in ("0", "0.5", "1"))
                assert sorted(z.namelist()) == names
                at_1 = np.asarray(Image.open(z.open("coffee_flipped_restored_alpha1.png")).convert("RGB"))
            np.testing.assert_array_equal(at_1, np.asarray(Image.open(app_images["other_image"]).convert("RGB")))

            page.wait_for_timeout(300)
            page.screenshot(path=str(feature_shots / "features_batch_desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(800)
            page.screenshot(path=str(feature_shots / "features_phone.png"), full_page=True)
            boxes = [page.locator(b).bounding_box() for b in ("#dot-suggest-psnr", "#dot-suggest-texture")]
            assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] + boxes[1]["width"] <= 390
        finally:
            browser.close()


def test_browser_pairs_are_found_calibrated_paired_and_the_summary_says_how_far_it_got(app_url, app_images):
    """Issue 18: restorations and their originals dropped as a visitor has them (coffee_restored.png,
    coffee_clean.png, …) are calibrated paired by default, with the restorer's PSNR and its 4-pixel grid
    found; once an image is uploaded, the summary says how far the transport got on it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app_url)
            page.wait_for_selector("#dot-calibrate")
            assert "their originals, same names" in page.inner_text("#dot-clean")
            _calibrate_on_uploads(page, app_images)
            text = page.inner_text("#dot-summary")
            assert "mode paired: auto: every restored image has its clean original of the same size (3 pairs" in text
            assert "restorer's PSNR on its 3 pairs:" in text and "restorer's lattice: 4 px, found" in text, text
            assert "transport reach (the restored set, before the fold)" in text
            page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
            page.wait_for_function("document.querySelector('#dot-summary').innerText"
                                   ".includes('this image, after the fold')", timeout=120_000)
        finally:
            browser.close()
