"""Issue 19's page items, driven in Chromium the way a visitor would (Playwright + Debian's Chromium).

One visitor (``visitor``) calibrates on their own uploads and enhances an image; the tests then
double-click "Enhance all", type half-numbers into the α box, click an example over their own
calibration, and drop bad files on the enhance box. Screenshots go to a temporary folder
(``docs/screenshots`` only with ``DOT_UPDATE_SCREENSHOTS=1``, as in test_browser.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from test_browser import CHROMIUM, _calibrate_on_uploads, _slider_value, _wait_server_image, screenshot_dir
from test_browser_states import _messages

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory, "page_screenshots")


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


def _close_toasts(page) -> None:
    """Close the toasts on screen (one may be fading out already: then it goes by itself)."""
    for button in page.locator(".toast-close").all():
        try:
            button.click(timeout=2000)
        except Exception:  # noqa: BLE001 - detached or inert while it fades
            pass


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


# ------------------------------------------------------------------ an example over one's own calibration


def _toasts(page) -> list[tuple[str, str]]:
    """(kind, text) of the toasts on screen; kind is Gradio's class: error, warning, info, success."""
    return page.eval_on_selector_all(
        ".toast-body", "els => els.map((e) => [['error', 'warning', 'info', 'success'].find((k) => "
        "e.classList.contains(k)) || '?', e.innerText])")


def _file_names(page, box: str) -> str:
    return page.inner_text(box)


def test_an_example_over_your_own_calibration_says_so_and_the_next_calibrate_works(visitor, app_images):
    from dot_core import presets
    from webui.examples import example_items

    if not example_items(presets):
        pytest.skip("no preset examples in presets/ (python -m dot_core.presets builds them)")
    page = visitor
    _close_toasts(page)
    assert "3 restored + 3 clean" in page.inner_text("#dot-summary")
    page.locator("#dot-examples .thumbnail-item").first.click()
    page.wait_for_function("document.querySelector('#dot-summary').innerText.includes('preset')", timeout=180_000)
    page.wait_for_function("document.querySelector('#dot-metrics').innerText.includes('at α =')", timeout=180_000)
    said = " ".join(text for _, text in _toasts(page))
    assert re.search(r"replaces your calibration", said), said
    for box, files in (("#dot-restored", app_images["restored"]), ("#dot-clean", app_images["clean"])):
        names = _file_names(page, box)
        assert not any(Path(f).name in names for f in files), names  # the visitor's files are cleared
    src = page.eval_on_selector("#dot-original .image-frame img", "img => decodeURIComponent(img.src)")
    assert not re.search(r"_restored_restored\.png$", src), src
    _close_toasts(page)
    # the visitor's own files again, then Calibrate: no "not both", their calibration is back
    page.locator("#dot-restored input[type=file]").set_input_files(app_images["restored"])
    page.locator("#dot-clean input[type=file]").set_input_files(app_images["clean"])
    page.wait_for_timeout(500)
    page.click("#dot-calibrate")
    page.wait_for_function("document.querySelector('#dot-summary').innerText.includes('3 restored + 3 clean')",
                           timeout=180_000)
    assert not [t for k, t in _toasts(page) if k == "error"], _toasts(page)


def test_changing_the_uploads_after_calibrating_marks_the_summary_out_of_date(browser, app_url, app_images):
    page = _open(browser, app_url)
    _calibrate_on_uploads(page, app_images)
    assert "Out of date" not in page.inner_text("#dot-summary")
    page.locator("#dot-clean input[type=file]").set_input_files(app_images["clean"][:2])  # added to the 3
    page.wait_for_function("document.querySelector('#dot-summary').innerText.includes('Out of date')",
                           timeout=30_000)
    assert "W2" in page.inner_text("#dot-summary")  # the calibration in use is still described
    page.wait_for_timeout(850)
    page.click("#dot-calibrate")
    page.wait_for_function("(() => { const t = document.querySelector('#dot-summary').innerText;"
                           " return t.includes('3 restored + 5 clean') && !t.includes('Out of date'); })()",
                           timeout=180_000)
    page.context.close()


# ------------------------------------------------------------------ the enhance box


def _panel_src(page, panel: str) -> str:
    return page.eval_on_selector(f"#{panel} .image-frame img", "img => decodeURIComponent(img.src)")


def _clear_image_box(page) -> None:
    """The visitor's × on the enhance box: the image goes, and the panels with it."""
    page.locator("#dot-image button[aria-label='Clear']").first.click()
    page.wait_for_selector("#dot-image input[type=file]", state="attached", timeout=30_000)
    page.wait_for_function("!document.querySelector('#dot-original .image-frame img')", timeout=30_000)


def test_a_bad_file_on_the_enhance_box_is_not_kept_and_the_image_on_show_stays(visitor, tmp_path):
    page = visitor
    _close_toasts(page)
    if page.query_selector("#dot-image input[type=file]") is None:
        _clear_image_box(page)
    bad = tmp_path / "holiday_notes.png"
    bad.write_text("not a picture")
    page.locator("#dot-image input[type=file]").set_input_files(str(bad))
    page.wait_for_function("document.querySelectorAll('.toast-body').length > 0", timeout=60_000)
    said = " ".join(text for _, text in _toasts(page))
    assert "holiday_notes.png" in said and "No image is on show" in said, said
    page.wait_for_function("!document.querySelector('#dot-image').innerText.includes('holiday_notes')",
                           timeout=30_000)  # the box does not name a file that is not on show
    assert page.query_selector("#dot-original .image-frame img") is None  # nor the panels an image of another
    assert page.locator("#dot-alpha input[type=range]").is_disabled()
    _close_toasts(page)


def test_a_file_over_the_size_limit_gets_a_message_and_the_box_stays_usable(visitor, app_images, tmp_path):
    import app as dot_app

    page = visitor
    _close_toasts(page)
    if page.query_selector("#dot-image input[type=file]") is None:
        _clear_image_box(page)
    limit = int(re.match(r"(\d+)", dot_app.SETTINGS.max_file_size).group(1))
    huge = tmp_path / "huge_scan.png"
    with open(huge, "wb") as f:
        f.truncate(2 * limit * 2**20)
    page.locator("#dot-image input[type=file]").set_input_files(str(huge))
    page.wait_for_function("document.querySelectorAll('.toast-body').length > 0", timeout=60_000)
    page.wait_for_timeout(1500)
    said = " ".join(text for _, text in _toasts(page))
    assert re.search(r"too large|exceeds|size", said, re.I), said
    assert "huge_scan" not in page.inner_text("#dot-image")
    assert page.query_selector("#dot-original .image-frame img") is None
    _close_toasts(page)
    page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])  # the box still works
    _wait_server_image(page, _slider_value(page))


def test_an_image_uploaded_before_calibrating_is_kept_and_announced_as_information(browser, app_url, app_images):
    page = _open(browser, app_url)
    try:
        page.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
        page.wait_for_function("document.querySelectorAll('.toast-body').length > 0", timeout=60_000)
        page.wait_for_timeout(800)
        kinds = [k for k, _ in _toasts(page)]
        assert "error" not in kinds and "info" in kinds, _toasts(page)
        assert Path(app_images["image"]).stem in page.inner_text("#dot-image")  # kept
        _close_toasts(page)
        _calibrate_on_uploads(page, app_images)
        _wait_server_image(page, _slider_value(page))  # and enhanced once there is a calibration
    finally:
        page.context.close()


def test_a_blank_eps_box_is_the_latents_own_and_a_typed_one_is_used(browser, app_url, app_images):
    page = _open(browser, app_url)
    try:
        page.get_by_text("Advanced", exact=True).click()  # the box on show, left blank
        page.wait_for_selector("#dot-eps", state="visible")
        _calibrate_on_uploads(page, app_images)
        assert "ε = 0.3 " in page.inner_text("#dot-summary")  # detail's own, not 0
        page.fill("#dot-eps textarea, #dot-eps input", "0.05")
        page.wait_for_timeout(850)
        page.click("#dot-calibrate")
        page.wait_for_function("document.querySelector('#dot-summary').innerText.includes('ε = 0.05 ')",
                               timeout=180_000)
    finally:
        page.context.close()
