"""Issue 19's page items, driven in Chromium the way a visitor would (Playwright + Debian's Chromium).

One visitor (``visitor``) calibrates on their own uploads and enhances an image; the tests then
double-click "Enhance all", type half-numbers into the α box, click an example over their own
calibration, and drop bad files on the enhance box. Screenshots go to a temporary folder
(``docs/screenshots`` only with ``DOT_UPDATE_SCREENSHOTS=1``, as in test_browser.py).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from test_browser import ARGS, CHROMIUM, DOCS_SHOTS, _calibrate_on_uploads, _slider_value, _wait_server_image
from test_browser_states import _close_toasts, _messages

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    if os.environ.get("DOT_UPDATE_SCREENSHOTS") == "1":
        return DOCS_SHOTS
    return tmp_path_factory.mktemp("page_screenshots")


def _open(browser, url: str, width: int = 1280, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(url)
    page.wait_for_selector("#dot-calibrate")
    return page


@pytest.fixture(scope="module")
def visitor(browser, app_url, app_images):
    """A page calibrated on the visitor's own uploads, with the test image enhanced."""
    page = _open(browser, app_url)
    _calibrate_on_uploads(page, app_images)
    page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
    _wait_server_image(page, _slider_value(page))
    yield page
    page.context.close()


def _idle(timeout: float = 120.0) -> None:
    """Until no heavy job of the app (the one app.py serves in this process) waits or runs."""
    import app as dot_app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dot_app.SERVICES.admission.counts() == {"waiting": 0, "running": 0}:
            return
        time.sleep(0.2)
    raise AssertionError(f"heavy jobs still pending: {dot_app.SERVICES.admission.counts()}")


def _zips() -> set[Path]:
    from webui.files import app_root

    return set(app_root().glob("*/dot_enhanced.zip"))


def _type_alpha(page, text: str, key: str) -> None:
    """Empty the α box, type ``text`` (maybe nothing) key by key, then press ``key``."""
    box = page.locator("#dot-alpha input[type=number]")
    box.click()
    box.press("Control+a")
    box.press("Backspace")
    if text:
        box.press_sequentially(text, delay=40)
    box.press(key)


def _alpha_shown(page) -> tuple[float, float]:
    return _slider_value(page), float(page.input_value("#dot-alpha input[type=number]"))


# ------------------------------------------------------------------ batch


def test_a_double_click_on_enhance_all_runs_the_batch_once(visitor, app_images):
    page = visitor
    page.click("#dot-batch .label-wrap")
    page.locator("#dot-batch-files input[type=file]").set_input_files([app_images["other_image"]])
    page.fill("#dot-batch-alphas textarea, #dot-batch-alphas input", "0, 1")
    page.wait_for_timeout(300)
    _idle()
    before = _zips()
    page.dblclick("#dot-batch-run")
    page.wait_for_function("document.querySelector('#dot-batch-report').innerText.includes('PNG')", timeout=120_000)
    page.wait_for_timeout(1500)  # a second job, if any, is admitted by now
    _idle()
    assert len(_zips() - before) == 1, _zips() - before
    page.click("#dot-batch .label-wrap")  # closed again


# ------------------------------------------------------------------ the α box


@pytest.mark.parametrize("typed", ["", "-", "--1"])
@pytest.mark.parametrize("key", ["Enter", "Tab"])
def test_a_half_typed_alpha_keeps_the_alpha_on_show(visitor, typed, key):
    page = visitor
    _type_alpha(page, "0.25", "Enter")
    _wait_server_image(page, 0.25)
    page.wait_for_timeout(300)
    _type_alpha(page, typed, key)
    page.wait_for_timeout(1200)  # the release and its server round trip
    assert _alpha_shown(page) == (0.25, 0.25)
    _wait_server_image(page, 0.25)
    assert not _messages(page), _messages(page)


def test_a_typed_alpha_off_the_sliders_step_is_one_alpha_everywhere(visitor):
    page = visitor
    _type_alpha(page, "0.333", "Enter")
    page.wait_for_timeout(1500)
    slider, box = _alpha_shown(page)
    assert slider == box, (slider, box)  # the thumb and the box agree
    _wait_server_image(page, slider)  # and the server rendered that α, not another
    painted = page.evaluate("window.__dotBlend ? window.__dotBlend.alpha : null")
    assert painted is None or abs(painted - slider) < 1e-9, (painted, slider)
