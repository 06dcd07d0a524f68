"""The page's states, driven in Chromium the way a visitor would, in the wrong orders too (issue 13).

Two visitors share one browser: ``fresh`` starts from an empty page (slides before any upload,
uploads the image before calibrating, calibrates with some broken files); ``example`` clicks a
one-click example, then calibrates on its own uploads and changes α every way a person can (drag,
arrow keys, typing + Enter, typing + Tab, out-of-range values, ↺). Screenshots at 1280 and 390 px go
to a temporary folder (``docs/screenshots`` only with ``DOT_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_browser import CHROMIUM, _drag_to, _slider_value, _wait_server_image, screenshot_dir

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")

ALPHA_RE = r"/_alpha([-+0-9.e]+)[.]png$/"


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory, "state_screenshots")


@pytest.fixture(scope="module")
def many_files(app_images, tmp_path_factory) -> dict:
    """Ten restored and ten clean files (the test photos under several names), and two broken ones."""
    folder = tmp_path_factory.mktemp("many")
    out = {"restored": [], "clean": []}
    for role in out:
        for i in range(10):
            src = Path(app_images[role][i % len(app_images[role])])
            dst = folder / f"{src.stem}_{i}.png"
            shutil.copyfile(src, dst)
            out[role].append(str(dst))
    (folder / "notes_not_an_image.png").write_text("these are my notes, not a picture")
    (folder / "cut_short.png").write_bytes(Path(app_images["restored"][0]).read_bytes()[:200])
    out["broken"] = [str(folder / "notes_not_an_image.png"), str(folder / "cut_short.png")]
    return out


def _open(browser, url: str, width: int = 1280):
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(url)
    page.wait_for_selector("#dot-calibrate")
    return page


@pytest.fixture(scope="module")
def fresh(browser, app_url):
    page = _open(browser, app_url)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def example(browser, app_url):
    page = _open(browser, app_url)
    yield page
    page.context.close()


def _messages(page) -> list[str]:
    """The texts of the toasts on screen."""
    return page.eval_on_selector_all(".toast-message-item", "els => els.map((e) => e.innerText)")


def _close_toasts(page) -> None:
    for button in page.locator(".toast-close").all():
        if button.is_visible():
            button.click()


def _wait_summary(page, text: str) -> str:
    page.wait_for_function("(t) => document.querySelector('#dot-summary').innerText.includes(t)", arg=text,
                           timeout=180_000)
    return page.inner_text("#dot-summary")


def _calibrate(page, restored: list[str], clean: list[str], *, double: bool = False) -> str:
    page.locator("#dot-restored input[type=file]").set_input_files(restored)
    page.locator("#dot-clean input[type=file]").set_input_files(clean)
    page.wait_for_function("(n) => document.querySelectorAll('#dot-clean .file-preview tr, #dot-clean tr').length"
                           " >= n", arg=1, timeout=30_000)
    before = page.inner_text("#dot-summary")
    page.dblclick("#dot-calibrate") if double else page.click("#dot-calibrate")
    page.wait_for_function("(b) => { const t = document.querySelector('#dot-summary').innerText;"
                           " return t !== b && t.includes('W2'); }", arg=before, timeout=180_000)
    return page.inner_text("#dot-summary")


def _preset_shown(page) -> str:
    return page.locator(".block", has_text="ready calibration (preset)").locator("input").first.input_value()


def _shows_alpha(page, selector: str, alpha: float) -> None:
    """Until some image under ``selector`` is the server's PNG for ``alpha``."""
    page.wait_for_function(
        """([sel, a]) => [...document.querySelectorAll(sel)].some((img) => {
               const m = decodeURIComponent(img.src).match(%s);
               return img.complete && m && Math.abs(Number(m[1]) - a) < 1e-6; })""" % ALPHA_RE,
        arg=[selector, alpha], timeout=60_000)


def _type_alpha(page, text: str, key: str) -> None:
    box = page.locator("#dot-alpha input[type=number]")
    box.click()
    box.press("Control+a")
    box.press_sequentially(text, delay=40)
    box.press(key)


def _plot_src(page) -> str:
    return page.eval_on_selector("#dot-plot img", "img => img.src")


def _assert_consistent(page, alpha: float, plot_before: str | None) -> str:
    """Slider, number box, interpolated panel, before/after, metrics and plot all at ``alpha``."""
    page.wait_for_function("(a) => Math.abs(Number(document.querySelector('#dot-alpha input[type=range]').value)"
                           " - a) < 1e-6", arg=alpha, timeout=10_000)
    assert float(page.input_value("#dot-alpha input[type=number]")) == pytest.approx(alpha)
    _wait_server_image(page, alpha)
    _shows_alpha(page, "#dot-before-after img", alpha)
    page.wait_for_function("(a) => document.querySelector('#dot-metrics').innerText.includes('at α = ' + a + ':')",
                           arg=f"{alpha:g}", timeout=60_000)
    if plot_before is not None:  # the marker moved: a new figure
        page.wait_for_function("(s) => { const i = document.querySelector('#dot-plot img'); return i && i.src !== s; }",
                               arg=plot_before, timeout=60_000)
    # the live canvas is either gone or shows this α exactly over the server's picture
    canvas = """(a) => { const c = document.querySelector('#dot-interpolated canvas.dot-live');
                    if (!c || getComputedStyle(c).display === 'none') return true;
                    const i = document.querySelector('#dot-interpolated .image-frame img');
                    const r = c.getBoundingClientRect(), s = i.getBoundingClientRect();
                    return Math.abs(window.__dotBlend.alpha - a) < 1e-6 && Math.abs(r.left - s.left) < 2
                           && Math.abs(r.top - s.top) < 2 && Math.abs(r.width - s.width) < 2; }"""
    try:
        page.wait_for_function(canvas, arg=alpha, timeout=30_000)
    except Exception:
        state = page.evaluate("""() => { const c = document.querySelector('#dot-interpolated canvas.dot-live');
            const i = document.querySelector('#dot-interpolated .image-frame img');
            return {painted: window.__dotBlend.alpha, canvas: c.getBoundingClientRect().toJSON(),
                    image: i.getBoundingClientRect().toJSON(), src: decodeURIComponent(i.src)}; }""")
        raise AssertionError(f"the live canvas shows something else than α = {alpha}: {state}") from None
    painted = page.evaluate("window.__dotBlend ? window.__dotBlend.alpha : null")
    assert painted is None or -1 <= painted <= 2, f"the in-browser blend painted α = {painted}"
    for panel in ("#dot-metrics", "#dot-interpolated", "#dot-before-after", "#dot-alpha"):
        assert not page.locator(f"{panel} .error").is_visible(), f"{panel} shows an error"
    assert "Error" not in page.inner_text("#dot-metrics")
    return _plot_src(page)


# ------------------------------------------------------------------ a fresh page, wrong orders


def test_before_any_calibration_no_empty_download_box(fresh):
    assert not page_has_visible_text(fresh, "Download this calibration")


def page_has_visible_text(page, text: str) -> bool:
    return any(el.is_visible() for el in page.get_by_text(text).all())


def test_sliding_before_any_upload_says_at_most_one_thing_in_a_visitors_words(fresh):
    for start, end in ((0.5, 0.8), (0.8, 0.2), (0.2, 0.6)):
        _drag_to(fresh, end, start=start)
    fresh.wait_for_timeout(2500)
    said = _messages(fresh)
    assert len(said) <= 1, said
    assert not any("/enhance" in m or "call " in m for m in said), said
    _close_toasts(fresh)


def test_broken_calibration_files_are_skipped_and_listed_and_an_earlier_upload_is_enhanced(
        fresh, many_files, app_images):
    fresh.locator("#dot-image input[type=file]").set_input_files(app_images["image"])
    fresh.wait_for_timeout(1500)  # the page says a calibration is needed; the file stays
    _close_toasts(fresh)
    summary = _calibrate(fresh, [*many_files["restored"][:3], *many_files["broken"]], many_files["clean"][:3],
                         double=True)  # an impatient double click
    said = _messages(fresh)
    assert sum("could not be used" in m for m in said) == 1, said  # one calibration, one message
    for name in ("notes_not_an_image.png", "cut_short.png"):
        assert name in summary, summary
    assert "3 restored + 3 clean" in summary
    # the image uploaded before calibrating is enhanced now
    _wait_server_image(fresh, _slider_value(fresh))
    fresh.wait_for_selector("#dot-transported .image-frame img", timeout=60_000)
    fresh.wait_for_selector("#dot-before-after img", timeout=60_000)


# ------------------------------------------------------------------ example, then own uploads, then α


def test_examples_gallery_is_a_read_only_picker(example):
    gallery = example.locator("#dot-examples")
    gallery.wait_for()
    for label in ("Clear", "Click to Upload", "Delete", "Remove"):
        assert gallery.locator(f"button[aria-label*='{label}' i]").count() == 0, label
    assert gallery.locator("input[type=file]").count() == 0


def test_uploads_after_an_example_reset_the_preset_and_are_what_is_calibrated(example, many_files):
    from dot_core import presets
    from webui.examples import example_items

    if not example_items(presets):
        pytest.skip("no preset examples in presets/ (python -m dot_core.presets builds them)")
    example.locator("#dot-examples .thumbnail-item").first.click()
    example.wait_for_function("document.querySelector('#dot-metrics').innerText.includes('at α =')", timeout=180_000)
    assert "preset" in example.inner_text("#dot-summary")
    assert _preset_shown(example) != "your images above"
    example.locator("#dot-restored input[type=file]").set_input_files(many_files["restored"])
    example.locator("#dot-clean input[type=file]").set_input_files(many_files["clean"])
    example.wait_for_function("(t) => [...document.querySelectorAll('input')].some((i) => i.value === t)",
                              arg="your images above", timeout=30_000)
    assert _preset_shown(example) == "your images above"
    example.click("#dot-calibrate")
    summary = _wait_summary(example, "10 restored + 10 clean")
    assert "preset" not in summary
    example.wait_for_function("document.querySelector('#dot-metrics').innerText.includes('at α =')", timeout=180_000)
    assert "texture distance" in example.inner_text("#dot-metrics")  # the line names its distance


def test_every_way_of_changing_alpha_ends_in_the_same_state(example):
    if "at α =" not in example.inner_text("#dot-metrics"):
        pytest.skip("needs the example's image and ground truth (no presets)")
    example.wait_for_function("window.__dotBlend === undefined || true")
    plot = _plot_src(example)
    _drag_to(example, 0.9, start=0.5)  # drag
    plot = _assert_consistent(example, _slider_value(example), plot)
    example.focus("#dot-alpha input[type=range]")  # arrow keys
    example.keyboard.press("ArrowLeft")
    plot = _assert_consistent(example, _slider_value(example), plot)
    _type_alpha(example, "0.3", "Enter")  # typing + Enter
    plot = _assert_consistent(example, 0.3, plot)
    _type_alpha(example, "-0.4", "Tab")  # typing + Tab
    plot = _assert_consistent(example, -0.4, plot)
    _type_alpha(example, "5", "Tab")  # out of range: clamped to the top, nothing shifted or doubled
    plot = _assert_consistent(example, 2.0, plot)
    _type_alpha(example, "-3", "Enter")  # and to the bottom
    plot = _assert_consistent(example, -1.0, plot)
    example.click("#dot-alpha button.reset-button")  # ↺
    from webui.settings import DEFAULT_ALPHA

    _assert_consistent(example, DEFAULT_ALPHA, plot)
    assert not _messages(example), _messages(example)


def test_a_refused_calibration_file_is_not_kept_and_the_old_one_stays(example, tmp_path):
    summary = example.inner_text("#dot-summary")
    assert "W2" in summary
    bad = tmp_path / "holiday_photo.safetensors"
    bad.write_bytes(b"\x00" * 64)
    example.locator("#dot-cal-upload input[type=file]").set_input_files(str(bad))
    example.wait_for_function("document.querySelectorAll('.toast-message-item').length > 0", timeout=30_000)
    said = " ".join(_messages(example))
    assert "holiday_photo.safetensors" in said and re.search(r"still in use|unchanged", said), said
    example.wait_for_function("!document.querySelector('#dot-cal-upload').innerText.includes('holiday_photo')",
                              timeout=30_000)
    assert example.inner_text("#dot-summary") == summary
    _close_toasts(example)


def test_screenshots_and_a_short_phone_page(example, fresh, shot_dir):
    for name, page in (("states_example", example), ("states_fresh", fresh)):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(600)
        page.screenshot(path=str(shot_dir / f"{name}_desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(800)
        page.screenshot(path=str(shot_dir / f"{name}_phone.png"), full_page=True)
    height = example.evaluate("document.documentElement.scrollHeight")
    print(f"phone page height with 10 + 10 calibration files, an image and its ground truth: {height} px")
    # 4,855 px before; the batch, suggestion and round-trip blocks added ~200 px since; 4,002 px before
    # issue 18, whose fifth example (fsrcnn-x4: one more row of the gallery, ~110 px), summary readouts
    # (mode and why, restorer's PSNR and grid, transport reach on the set and on the image) and the
    # invitation to bring pairs add ~310 px (4,315 px measured); the content readout (two summary lines),
    # the texture distance's one-line explanation and the batch's ground truths ~140 px (4,456 px measured)
    assert height < 4600, height  # thumbnail strips under the file lists, a smaller plot font


def test_the_restorers_grid_is_what_the_visitor_chose_and_a_preset_states_its_own(browser, app_url, app_images):
    """Advanced → "Restorer's grid": 4 px on one's own uploads is in the summary; back to none it is
    gone; a preset (bicubic ×4) states its own whatever the radio says; "Synthesised grain" local is
    said too."""
    page = _open(browser, app_url)
    try:
        page.get_by_text("Advanced", exact=True).click()
        grid = page.locator("#dot-restorer-grid")
        grid.get_by_label("4", exact=True).check()
        text = _calibrate(page, app_images["restored"], app_images["clean"])
        assert "restorer's lattice: 4 px" in text, text
        # a person who changes their mind as soon as the summary appears: a new click, not the second half
        # of a double click (page.js drops a click within 800 ms of the last on the same button)
        page.wait_for_timeout(850)
        grid.get_by_label("none", exact=True).check()
        page.click("#dot-calibrate")
        page.wait_for_function("() => { const t = document.querySelector('#dot-summary').innerText;"
                               " return t.includes('W2') && !t.includes(\"restorer's lattice\"); }", timeout=60_000)
        page.locator("#dot-restored button[aria-label='Clear']").first.click()
        page.locator("#dot-clean button[aria-label='Clear']").first.click()
        page.locator("#dot-preset input").first.click()
        page.get_by_role("option", name=re.compile("Bicubic")).first.click()
        page.locator("#dot-noise").get_by_label("local", exact=True).check()  # and the grain where detail is
        # the recalibration above hits the latent cache, so playwright's four steps since its click can take
        # under the 800 ms in which page.js takes a second click on Calibrate for a double click (measured:
        # 0.9–1.2 s between the two clicks, and now and then the preset's summary never came); a person takes longer
        page.wait_for_timeout(850)
        page.click("#dot-calibrate")
        text = _wait_summary(page, "Calibrated (preset sr-bicubic-x4)")  # not the progress text "loading preset …"
        assert "restorer's lattice: 4 px" in text and "noise: local" in text, text
    finally:
        page.context.close()
