"""One visitor action, one handler (issue 20): the page's actions return every output they change,
no server step is chained after them, and the α release reuses the x̂α the slider's input mixed.

Without a browser: the handlers are called as Gradio calls them, and the page's wiring is read from
``demo.fns``. tests/test_browser_actions.py counts the requests a real page makes.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import pixel_demo
from serving.image_store import ArrayStore
from webui.actions import FIELDS, PageActions
from webui.blends import COMPACT, BlendFiles
from webui.calibrate import CalibrationHandlers
from webui.engine_calls import provenance
from webui.enhance import EnhanceHandlers
from webui.examples import ExampleHandlers
from webui.files import png_bytes
from webui.ground_truth import GT_HINT, GroundTruthHandlers
from webui.roundtrip import HINT as ROUNDTRIP_HINT
from webui.roundtrip import RoundTripHandlers
from webui.services import Services
from webui.settings import Settings
from webui.state import ImageState


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, *args, **kwargs):
        return iterable


@pytest.fixture
def actions() -> PageActions:
    settings, images = Settings(), ArrayStore(2**26)
    blends = BlendFiles(settings.keep_blends)
    calibration = CalibrationHandlers(settings, images)
    enhance, truth = EnhanceHandlers(settings, images, blends), GroundTruthHandlers(settings, images, blends)
    return PageActions(calibration, enhance, truth, ExampleHandlers(calibration, enhance, truth),
                       RoundTripHandlers(settings))


def page(values: tuple) -> dict:
    assert len(values) == len(FIELDS)
    return dict(zip(FIELDS, values))


def calibrate(actions, app_images, *, cal_state=None, img_state=None, image=None, gt=None, alpha=0.5, show=False):
    return page(actions.calibrate(app_images["restored"], app_images["clean"], "pixel", 3, "unpaired", "auto", "",
                                  "auto", "auto", "stationary", "", cal_state, img_state, image, alpha, gt, show,
                                  progress=NoProgress()))


def skipped(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_calibrate_returns_the_file_the_controls_and_nothing_of_an_image_when_there_is_none(actions, app_images):
    out = calibrate(actions, app_images)
    assert "W2" in out["summary"] and "3 restored + 3 clean" in out["summary"]
    assert out["download"].value["orig_name"] == Path(out["cal_state"].file).name and out["download"].visible
    assert (out["encoder"], out["patch_size"]) == ("pixel", 3)
    assert all(skipped(out[k]) for k in ("original", "transported", "interpolated", "image", "preset"))
    assert out["img_state"] is None and out["metrics"] == GT_HINT and out["plot"] is None
    assert out["alpha"].interactive is False  # nothing to blend yet


def test_calibrate_enhances_the_upload_waiting_for_it_and_compares_its_ground_truth(actions, app_images):
    out = calibrate(actions, app_images, image=app_images["image"], gt=app_images["ground_truth"], alpha=0.25)
    img = out["img_state"]
    assert isinstance(img, ImageState) and img.curve is not None
    np.testing.assert_array_equal(pixels(out["original"]), pixels(app_images["image"]))
    assert out["interpolated"].endswith("_alpha0.25.png") and out["before_after"] == (out["original"],
                                                                                     out["interpolated"])
    assert "at α = 0.25" in out["metrics"] and out["plot"] is not None
    assert out["suggest_psnr"].visible is True and out["alpha"].interactive is True
    assert "this image, after the fold" in out["summary"]  # how far the transport got on it
    # calibrating again: the image on show is transported by the new calibration, its ground truth kept
    again = calibrate(actions, app_images, cal_state=out["cal_state"], img_state=img, image=app_images["image"],
                      gt=app_images["ground_truth"], alpha=0.25, show=True)
    assert again["img_state"].pipeline is again["cal_state"].pipeline and again["img_state"].curve is not None
    assert again["roundtrip_view"][0] == again["original"] and "alone" in again["roundtrip_text"]


def test_calibrate_keeps_the_calibration_when_the_waiting_upload_is_refused(actions, app_images, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.warns(UserWarning, match="notes.png"):  # said (gr.Warning), not raised
        out = calibrate(actions, app_images, image=str(bad))
    assert out["cal_state"] is not None and "W2" in out["summary"]
    assert skipped(out["original"]) and out["img_state"] is None


def test_an_upload_drops_the_old_ground_truth_and_shows_one_consistent_page(actions, app_images):
    cal = calibrate(actions, app_images)["cal_state"]
    out = page(actions.upload_image(app_images["image"], 0.5, cal, None, False, progress=NoProgress()))
    assert out["gt_file"] is None and out["metrics"] == GT_HINT and out["plot"] is None
    assert out["before_after"] == (out["original"], out["interpolated"])
    assert out["suggest_psnr"].visible is False and out["alpha"].interactive is True
    kept = page(actions.upload_image(app_images["image"], 0.5, None, None, False, progress=NoProgress()))
    assert skipped(kept["original"]) and kept["img_state"] is None  # kept for a calibration to come


def test_a_suggestion_sets_alpha_and_the_page_in_one_go(actions, app_images):
    out = calibrate(actions, app_images, image=app_images["image"], gt=app_images["ground_truth"])
    img = out["img_state"]
    best = page(actions.suggest("best_psnr", img))
    assert best["alpha"] == img.curve["best_psnr"][0]
    assert best["interpolated"].endswith(f"_alpha{best['alpha']:g}.png") and f"at α = {best['alpha']:g}" in best[
        "metrics"]


def test_the_release_reuses_the_blend_the_slider_mixed_and_serves_the_same_png(actions, app_images, monkeypatch):
    out = calibrate(actions, app_images, image=app_images["image"], gt=app_images["ground_truth"])
    img = out["img_state"]
    mixed = []
    blend = ImageState.blend
    monkeypatch.setattr(ImageState, "blend", lambda self, a: mixed.append(a) or blend(self, a))
    actions.enhance.blend(0.35, img)  # the slider's input: a preview PNG
    png, pair, text, fig = actions.ground_truth.on_release(0.35, img)  # its release: the compact PNG, metrics
    assert mixed == [0.35]  # once (before: twice, once per step)
    expected = png_bytes(blend(img, 0.35), level=COMPACT, provenance=provenance(img.pipeline, 0.35))
    with open(png, "rb") as f:
        assert f.read() == expected  # the file the old path wrote, byte for byte
    assert "at α = 0.35" in text and pair == (img.original_png, png)
    actions.ground_truth.on_release(0.35, img)  # released again: the file is served as it is
    assert mixed == [0.35]


def test_blend_files_keep_the_newest_blend_of_each_upload_within_their_budget(actions, app_images):
    out = calibrate(actions, app_images, image=app_images["image"])
    img = out["img_state"]
    blends = BlendFiles(keep=4, max_bytes=1)  # room for the newest only
    x = blends.pixels(img, 0.2)
    assert blends.pixels(img, 0.2) is x and not x.flags.writeable
    assert blends.pixels(img, 0.3) is not x


def _server_steps_after(demo, fn) -> list:
    """The events chained after ``fn`` (``.then``/``.success``/``.failure``) that run on the server."""
    index = next(i for i, d in demo.fns.items() if d is fn)
    return [d for d in demo.fns.values() if d.trigger_after == index and d.fn is not None]


def test_no_page_action_is_followed_by_a_server_step_or_set_off_by_its_outputs():
    """Were the chains to come back (``.success(download)...``, ``original.change(...)``), this fails."""
    demo = pixel_demo(Services.create(Settings()))
    unwrapped = {i: getattr(inspect.unwrap(d.fn), "__func__", None) for i, d in demo.fns.items() if d.fn}
    page_actions = [demo.fns[i] for i, f in unwrapped.items()
                    if f in (PageActions.calibrate, PageActions.load_calibration, PageActions.upload_image,
                             PageActions.clear_image, PageActions.ground_truth_upload)]
    assert len(page_actions) == 6  # the ground truth's upload and clear share one handler
    for fn in page_actions:
        assert len(fn.outputs) == len(FIELDS)
        assert _server_steps_after(demo, fn) == [], fn.name
    outputs = {o._id for fn in page_actions for o in fn.outputs}
    for d in demo.fns.values():  # a component an action sets sets off no server step by changing
        for block, event in d.targets:
            assert not (event == "change" and block in outputs and d.fn is not None), (d.name, block)


def test_enhance_all_is_the_batch_and_its_evaluation_in_one_request(app_images, tmp_path):
    import shutil

    from webui.actions import BatchAction
    from webui.batch import BatchHandlers
    from webui.batch_eval import BatchEvalHandlers

    settings = Settings()
    cal = CalibrationHandlers(settings, ArrayStore(2**24)).calibrate(app_images["restored"], app_images["clean"],
                                                                    "pixel", 3)[1]
    action = BatchAction(BatchHandlers(settings), BatchEvalHandlers(settings))
    with pytest.warns(UserWarning, match="no restoration has a ground truth of the same name"):
        archive, report, *table = action.enhance_all([app_images["image"]], [app_images["ground_truth"]], "0, 1",
                                                     cal, progress=NoProgress())
    assert archive.endswith(".zip") and "PNG" in report and all(skipped(t) for t in table)  # the zip kept
    truth = tmp_path / "astronaut_restored.png"  # the ground truth under its restoration's name
    shutil.copyfile(app_images["ground_truth"], truth)
    archive, report, table, plot, csv = action.enhance_all([app_images["image"]], [str(truth)], "0, 1", cal,
                                                           progress=NoProgress())
    assert archive.endswith(".zip") and "PNG" in report
    assert "|" in table and plot.endswith(".png") and csv.endswith(".csv")
    demo = pixel_demo(Services.create(Settings()))
    run = [d for d in demo.fns.values() if d.fn and getattr(inspect.unwrap(d.fn), "__func__", None)
           is BatchAction.enhance_all]
    assert len(run) == 1 and len(run[0].outputs) == 5 and _server_steps_after(demo, run[0]) == []


def test_the_round_trip_toggle_shows_its_section_and_the_round_trip_in_one_request(actions, app_images):
    img = calibrate(actions, app_images, image=app_images["image"])["img_state"]
    shown, (upload, roundtrip), text = actions.roundtrip.toggle(True, img)
    assert shown.visible is True and upload == img.original_png and "alone" in text
    with pytest.warns(UserWarning, match="Upload a restored image first"):  # said, the section shown
        shown, view, text = actions.roundtrip.toggle(True, None)
    assert shown.visible is True and view is None and text == ROUNDTRIP_HINT
    shown, view, text = actions.roundtrip.toggle(False, img)
    assert shown.visible is False and view is None and text == ROUNDTRIP_HINT
