"""The app in a real browser: Playwright driving Debian's Chromium.

Upload calibration images and a test image, calibrate, move the α slider with the mouse, and
check the pixels the page shows against eq. (4) computed from the two images it also shows:
the server's PNG and the in-browser canvas blend. Takes screenshots at desktop (1280 px) and
phone (390 px) widths into a temporary folder; with ``DOT_UPDATE_SCREENSHOTS=1`` into the tracked
docs/screenshots/ instead (to refresh the README's pictures on purpose, not on every run).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")


def screenshot_dir(tmp_path_factory, name: str) -> Path:
    """docs/screenshots with DOT_UPDATE_SCREENSHOTS=1, else a temporary folder called ``name``."""
    if os.environ.get("DOT_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SHOTS
    return tmp_path_factory.mktemp(name)


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: docs/screenshots/ only when DOT_UPDATE_SCREENSHOTS=1, else a temp folder."""
    folder = DOCS_SHOTS if os.environ.get("DOT_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shown(page, panel: str) -> tuple[np.ndarray, str]:
    """Pixels and URL of the image a panel shows, fetched from its src as the browser does."""
    src = page.eval_on_selector(f"#{panel} .image-frame img", "img => img.src")
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.float64), src


def _canvas(page) -> np.ndarray:
    url = page.eval_on_selector("#dot-interpolated canvas.dot-live", "c => c.toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def _slider_value(page) -> float:
    return float(page.eval_on_selector("#dot-alpha input[type=range]", "r => r.value"))


def _wait_server_image(page, alpha: float) -> None:
    """Until the interpolated panel shows the server's PNG for ``alpha`` (named _alpha<α>.png)."""
    page.wait_for_function(
        """(a) => { const img = document.querySelector('#dot-interpolated .image-frame img');
                    if (!img || !img.complete) return false;
                    const m = decodeURIComponent(img.src).match(/_alpha([-+0-9.e]+)[.]png$/);
                    return m && Math.abs(Number(m[1]) - a) < 1e-6; }""",
        arg=alpha, timeout=60_000,
    )


def _calibrate_on_uploads(page, app_images: dict) -> None:
    """Drop the restored and clean test images, wait for their thumbnails, calibrate, wait for the summary."""
    page.locator("#dot-restored input[type=file]").set_input_files(app_images["restored"])
    page.locator("#dot-clean input[type=file]").set_input_files(app_images["clean"])
    page.wait_for_function("document.querySelectorAll('.dot-thumbs img').length >= 6", timeout=30_000)
    page.click("#dot-calibrate")
    page.wait_for_function("document.querySelector('#dot-summary').innerText.includes('W2')", timeout=120_000)


def _blend(alpha: float, x_star: np.ndarray, x0: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(alpha * x_star + (1 - alpha) * x0), 0, 255)  # eq. (4)


def _drag_to(page, fraction: float, start: float | None = None) -> None:
    """Drag the α slider's thumb with the mouse to ``fraction`` of its track."""
    slider = page.locator("#dot-alpha input[type=range]")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    x = lambda f: box["x"] + 8 + f * (box["width"] - 16)  # noqa: E731  (the thumb's half width)
    page.mouse.move(x(start if start is not None else fraction), y)
    page.mouse.down()
    page.mouse.move(x(fraction), y, steps=6)
    page.mouse.up()


def test_browser_calibrate_enhance_and_slide(app_url, app_images, shots):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app_url)
            page.wait_for_selector("#dot-calibrate")
            assert "latent" in page.inner_text("#dot-notice")  # says which latent space it runs on

            # 1. calibrate on uploaded images
            _calibrate_on_uploads(page, app_images)
            assert "3 restored + 3 clean" in page.inner_text("#dot-summary")

            # 2. enhance: original | transported | interpolated at the default α
            page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
            alpha0 = _slider_value(page)
            _wait_server_image(page, alpha0)
            x_star, _ = _shown(page, "dot-original")
            x0, _ = _shown(page, "dot-transported")
            upload = np.asarray(Image.open(app_images["image"]).convert("RGB"), dtype=np.float64)
            np.testing.assert_array_equal(x_star, upload)
            shown0, _ = _shown(page, "dot-interpolated")
            assert np.abs(shown0 - _blend(alpha0, x_star, x0)).max() <= 2

            # 3. drag the slider towards α = 2: the server's PNG follows and matches eq. (4)
            _drag_to(page, 0.95, start=(alpha0 + 1) / 3)
            alpha1 = _slider_value(page)
            assert alpha1 > 1.5
            _wait_server_image(page, alpha1)
            shown1, _ = _shown(page, "dot-interpolated")
            assert np.abs(shown1 - shown0).mean() > 1.0  # the picture changed
            assert np.abs(shown1 - _blend(alpha1, x_star, x0)).max() <= 2

            # 4. the in-browser blend: drag again; the canvas paints the slider's α at once
            page.wait_for_function("window.__dotBlend && window.__dotBlend.ready", timeout=30_000)
            _drag_to(page, 0.1, start=0.95)
            alpha2 = _slider_value(page)
            assert alpha2 < 0
            page.wait_for_function("(a) => Math.abs(window.__dotBlend.alpha - a) < 1e-6", arg=alpha2,
                                   timeout=30_000)
            assert np.abs(_canvas(page) - _blend(alpha2, x_star, x0)).max() <= 2
            _wait_server_image(page, alpha2)
            page.wait_for_function(
                "getComputedStyle(document.querySelector('#dot-interpolated canvas.dot-live')).display === 'none'",
                timeout=30_000)  # the server's PNG for this α is the one on show now
            shown2, _ = _shown(page, "dot-interpolated")
            assert np.abs(shown2 - _blend(alpha2, x_star, x0)).max() <= 2
            page.wait_for_selector("#dot-before-after img", timeout=60_000)

            # 5. arrow keys move α as well, and their keyup counts as a release (before/after follows)
            page.focus("#dot-alpha input[type=range]")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            alpha3 = _slider_value(page)
            assert abs(alpha3 - (alpha2 + 0.1)) < 1e-6
            _wait_server_image(page, alpha3)
            page.wait_for_function(
                """(a) => [...document.querySelectorAll('#dot-before-after img')].some((img) => {
                       const m = decodeURIComponent(img.src).match(/_alpha([-+0-9.e]+)[.]png$/);
                       return m && Math.abs(Number(m[1]) - a) < 1e-6; })""",
                arg=alpha3, timeout=60_000)

            # 6. ground truth: metrics and the perception–distortion plot
            page.locator("#dot-gt input[type=file]").set_input_files(app_images["ground_truth"])
            page.wait_for_function("document.querySelector('#dot-metrics').innerText.includes('at α =')",
                                   timeout=180_000)
            page.wait_for_selector("#dot-plot img", timeout=60_000)

            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "app_desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "app_phone.png"), full_page=True)
            box = page.locator("#dot-interpolated").bounding_box()
            assert box["width"] > 300  # on a phone the interpolated panel takes the full width
        finally:
            browser.close()


def test_browser_example_in_one_click(app_url, shots):
    """A bundled example: one click calibrates with its preset and shows image, x̂0 and metrics."""
    from playwright.sync_api import sync_playwright

    from dot_core import presets
    from webui.examples import example_items

    if not example_items(presets):
        pytest.skip("no preset examples in presets/ (python -m dot_core.presets builds them)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app_url)
            page.locator("#dot-examples .thumbnail-item").first.click()
            page.wait_for_function("document.querySelector('#dot-metrics').innerText.includes('at α =')",
                                   timeout=180_000)
            assert "preset" in page.inner_text("#dot-summary")
            x_star, _ = _shown(page, "dot-original")
            x0, _ = _shown(page, "dot-transported")
            alpha = _slider_value(page)
            _wait_server_image(page, alpha)
            shown, _ = _shown(page, "dot-interpolated")
            assert np.abs(shown - _blend(alpha, x_star, x0)).max() <= 2
            page.wait_for_selector("#dot-plot img", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "app_example_desktop.png"), full_page=True)
        finally:
            browser.close()
