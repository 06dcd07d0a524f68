"""One visitor action, one request (issue 20), counted in Chromium, in the wrong orders too.

Every request a page makes to Gradio's queue (``/gradio_api/queue/join``) is counted per action.
Before issue 20 one click of Calibrate made 10 of them (14 with an image and its ground truth on
show), an upload 10, an example 6; each is one now. Runs against the app as the Space runs it.
"""

from __future__ import annotations

import inspect
import json

import pytest

from test_browser import CHROMIUM, _slider_value, _wait_server_image

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")

SETTLE_MS = 2500  # after an action's last request: time for any chained step to show up


class Requests:
    """The queue joins a page makes, by the name of the handler each asks for."""

    def __init__(self, page):
        import app as dot_app

        self.fns, self.names = dot_app.demo.fns, []
        page.on("request", self._seen)

    def _seen(self, request) -> None:
        if "/queue/join" in request.url:
            fn = self.fns.get(json.loads(request.post_data or "{}").get("fn_index"))
            self.names.append(inspect.unwrap(fn.fn).__qualname__ if fn is not None and fn.fn else "?")

    def during(self, page, action) -> list[str]:
        """The handlers asked for while ``action`` runs and shortly after."""
        self.names.clear()
        action()
        page.wait_for_timeout(SETTLE_MS)
        return list(self.names)


@pytest.fixture
def visitor(browser, app_url):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(app_url)
    page.wait_for_selector("#dot-calibrate")
    page.wait_for_timeout(1000)  # the page's own start-up requests
    yield page, Requests(page)
    page.context.close()


def _summary_changes(page, click, expect: str = "W2") -> None:
    """``click``, then until the summary is a new one saying ``expect``, its progress display gone."""
    before = page.inner_text("#dot-summary")
    click()
    page.wait_for_function(
        """([b, e]) => { const s = document.querySelector('#dot-summary'), t = s.innerText;
                          const busy = s.querySelector('.meta-text, .meta-text-center, .eta-bar');
                          return t !== b && t.includes(e) && !busy; }""",
        arg=[before, expect], timeout=180_000)


def _drop_calibration_files(page, app_images) -> None:
    page.locator("#dot-restored input[type=file]").set_input_files(app_images["restored"])
    page.locator("#dot-clean input[type=file]").set_input_files(app_images["clean"])
    page.wait_for_function("document.querySelectorAll('.dot-thumbs img').length >= 6", timeout=30_000)


def _upload(page, path: str) -> None:
    page.locator("#dot-image input[type=file]").set_input_files(path)


def test_calibrate_then_upload_then_ground_truth_then_calibrate_again_one_request_each(visitor, app_images):
    page, requests = visitor
    _drop_calibration_files(page, app_images)
    page.wait_for_timeout(SETTLE_MS)
    assert requests.during(page, lambda: _summary_changes(page, lambda: page.click("#dot-calibrate"))) == [
        "PageActions.calibrate"]
    assert page.is_visible("#dot-cal-download")
    upload = lambda: (_upload(page, app_images["image"]), _wait_server_image(page, _slider_value(page)))  # noqa: E731
    assert requests.during(page, upload) == ["PageActions.upload_image"]
    assert page.locator("#dot-alpha input[type=range]").is_enabled()

    def ground_truth():
        page.locator("#dot-gt input[type=file]").set_input_files(app_images["ground_truth"])
        page.wait_for_selector("#dot-suggest-psnr", state="visible", timeout=120_000)

    assert requests.during(page, ground_truth) == ["PageActions.ground_truth_upload"]

    def toggle():  # its section shown with the round trip in it
        page.click("#dot-roundtrip-toggle input[type=checkbox]")
        page.wait_for_selector("#dot-roundtrip img", timeout=60_000)

    assert requests.during(page, toggle) == ["RoundTripHandlers.toggle"]
    roundtrip = page.eval_on_selector("#dot-roundtrip img", "img => img.src")
    original = page.eval_on_selector("#dot-original .image-frame img", "img => img.src")

    def calibrate_again():  # the same files: the same summary, but the image on show transported anew
        page.click("#dot-calibrate")
        page.wait_for_function(
            """(s) => { const i = document.querySelector('#dot-original .image-frame img');
                        const busy = document.querySelector('#dot-summary .meta-text, #dot-summary .eta-bar');
                        return i && i.src !== s && !busy; }""", arg=original, timeout=180_000)

    assert requests.during(page, calibrate_again) == ["PageActions.calibrate"]
    assert "this image, after the fold" in page.inner_text("#dot-summary")
    assert "at α =" in page.inner_text("#dot-metrics") and page.is_visible("#dot-suggest-psnr")
    page.wait_for_function("(s) => [...document.querySelectorAll('#dot-roundtrip img')].every((i) => i.src !== s)",
                           arg=roundtrip, timeout=30_000)  # the toggle's round trip followed, in the same request


def test_a_double_click_on_calibrate_is_one_request(visitor, app_images):
    page, requests = visitor
    _drop_calibration_files(page, app_images)
    page.wait_for_timeout(SETTLE_MS)
    assert requests.during(page, lambda: _summary_changes(page, lambda: page.dblclick("#dot-calibrate"))) == [
        "PageActions.calibrate"]


def test_an_upload_before_calibrating_is_enhanced_by_the_one_calibrate_request(visitor, app_images):
    page, requests = visitor
    assert requests.during(page, lambda: _upload(page, app_images["image"])) == ["PageActions.upload_image"]
    assert not page.locator("#dot-alpha input[type=range]").is_enabled()  # nothing to blend yet
    _drop_calibration_files(page, app_images)
    page.wait_for_timeout(SETTLE_MS)

    def calibrate():
        _summary_changes(page, lambda: page.click("#dot-calibrate"))
        _wait_server_image(page, _slider_value(page))

    assert requests.during(page, calibrate) == ["PageActions.calibrate"]
    page.wait_for_selector("#dot-before-after img", timeout=30_000)
    assert page.locator("#dot-alpha input[type=range]").is_enabled()


def test_alpha_moved_while_calibrating_is_what_the_page_ends_on(visitor, app_images):
    """The settle step runs in the browser: one release more, only because α moved meanwhile."""
    page, requests = visitor
    _drop_calibration_files(page, app_images)
    _upload(page, app_images["image"])
    _summary_changes(page, lambda: page.click("#dot-calibrate"))
    _wait_server_image(page, _slider_value(page))
    page.wait_for_timeout(SETTLE_MS)

    def calibrate_and_slide():
        page.click("#dot-calibrate")
        page.focus("#dot-alpha input[type=range]")
        page.keyboard.press("ArrowRight")  # α moved while the calibration runs
        _wait_server_image(page, 0.55)

    names = requests.during(page, calibrate_and_slide)
    assert names.count("PageActions.calibrate") == 1 and names.count("GroundTruthHandlers.on_release") >= 1, names
    page.wait_for_timeout(SETTLE_MS)
    _wait_server_image(page, 0.55)


def test_an_example_then_own_files_one_request_each(visitor, app_images):
    from dot_core import presets
    from webui.examples import example_items

    if not example_items(presets):
        pytest.skip("no preset examples in presets/")
    page, requests = visitor

    def example():
        page.locator("#dot-examples .thumbnail-item").first.click()
        page.wait_for_selector("#dot-suggest-psnr", state="visible", timeout=180_000)

    assert requests.during(page, example) == ["PageActions.example"]
    assert "preset" in page.inner_text("#dot-summary") and page.is_visible("#dot-cal-download")
    assert page.locator("#dot-alpha input[type=range]").is_enabled()
    assert page.locator(".dot-thumbs img").count() == 0  # the example cleared the visitor's files
    own = requests.during(page, lambda: _drop_calibration_files(page, app_images))
    assert own == ["_own_files", "_own_files"]  # thumbnails, preset picker and summary: one request a box
    assert "Out of date" in page.inner_text("#dot-summary")
    assert requests.during(page, lambda: _summary_changes(page, lambda: page.click("#dot-calibrate"),
                                                          "3 restored + 3 clean")) == ["PageActions.calibrate"]
