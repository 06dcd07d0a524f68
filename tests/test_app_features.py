"""The page's features through the API (gradio_client) and their handlers: batch enhancement,
the α suggestion of the perception–distortion curve, and the latent's own round trip."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from dot_core.io.outputs import output_names
from webui.batch import parse_alphas


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


@pytest.fixture
def calibrated(app_url, app_images) -> Client:
    client = Client(app_url, verbose=False)
    client.predict([handle_file(p) for p in app_images["restored"]], [handle_file(p) for p in app_images["clean"]],
                   "pixel", 3, api_name="/calibrate")
    return client


def test_parse_alphas_reads_a_visitors_list_and_refuses_what_is_not_one():
    assert parse_alphas("0, 0.5,-0.5 1") == [0.0, 0.5, -0.5, 1.0]
    assert parse_alphas(" 1,1, 1 ") == [1.0]
    for bad, said in (("", "at least one"), ("0, half", "'half'"), ("3", "[-1, 2]"), ("nan", "[-1, 2]")):
        with pytest.raises(Exception, match=said):
            parse_alphas(bad)


def test_output_names_follow_the_cli():
    assert output_names(["/a/x.png", "/b/x.jpg", "/c/y.png", "/d/x.webp"], [0.0]) == [
        ["x.png"], ["x-2.png"], ["y.png"], ["x-3.png"]]


def test_batch_zip_has_one_entry_per_image_whatever_the_names(calibrated, app_images, tmp_path):
    """a.png, a.jpg and a-2.png: three images, three entries, and the report says three."""
    img = Image.open(app_images["image"]).convert("RGB")
    files = []
    for name in ("a.png", "a.jpg", "a-2.png"):
        (tmp_path / name[0]).mkdir(exist_ok=True)
        files.append(tmp_path / name[0] / name)
        img.save(files[-1], quality=95)
    archive, report = calibrated.predict([handle_file(str(p)) for p in files], "0", api_name="/enhance_batch")
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    assert len(names) == len(set(names)) == 3, names
    assert "Wrote 3 PNGs" in report and "3 of 3 images" in report


def test_batch_enhance_zips_pngs_named_as_the_cli_and_lists_bad_files(calibrated, app_images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    files = [app_images["image"], str(bad), app_images["other_image"]]
    archive, report = calibrated.predict([handle_file(p) for p in files], "0, 1, 0.5", api_name="/enhance_batch")
    with zipfile.ZipFile(archive) as z:
        names = sorted(z.namelist())
        assert names == sorted(f"{stem}_alpha{a}.png" for stem in ("astronaut_restored", "coffee_flipped_restored")
                               for a in ("0", "1", "0.5"))
        at_1 = pixels(z.open("astronaut_restored_alpha1.png"))
        at_0 = pixels(z.open("astronaut_restored_alpha0.png"))
        at_half = pixels(z.open("astronaut_restored_alpha0.5.png"))
    np.testing.assert_array_equal(at_1, pixels(app_images["image"]))  # α = 1 is the upload
    assert np.abs(at_0 - at_1).mean() > 0.5
    assert np.abs(at_half - (at_0 + at_1) / 2).max() <= 1.0  # eq. (4)
    assert "6 PNGs" in report and "2 of 3 images" in report and report.count("broken.png") == 1

    one, _ = calibrated.predict([handle_file(app_images["image"])], "0", api_name="/enhance_batch")
    assert zipfile.ZipFile(one).namelist() == ["astronaut_restored.png"]  # one α: the plain name
    with pytest.raises(AppError, match=r"\[-1, 2\]"):
        calibrated.predict([handle_file(app_images["image"])], "0, 5", api_name="/enhance_batch")
    with pytest.raises(AppError, match="None of the images"):
        calibrated.predict([handle_file(str(bad))], "0", api_name="/enhance_batch")


def test_batch_enhance_needs_a_calibration(app_url, app_images):
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="No calibration"):
        client.predict([handle_file(app_images["image"])], "0", api_name="/enhance_batch")


def test_roundtrip_shows_the_latents_own_loss_next_to_the_upload(calibrated, app_images):
    calibrated.predict(handle_file(app_images["image"]), 0.5, api_name="/enhance")
    (upload, rt), text = calibrated.predict(True, api_name="/roundtrip")
    np.testing.assert_array_equal(pixels(upload), pixels(app_images["image"]))
    np.testing.assert_array_equal(pixels(rt), pixels(app_images["image"]))  # the pixel latent is lossless
    assert "lossless" in text and "pixel" in text
    hidden, hint = calibrated.predict(False, api_name="/roundtrip")
    assert hidden is None and "D(E(x))" in hint


def test_roundtrip_of_a_vae_costs_decibels(app_images, tiny_kl_dir):
    from conftest import photo

    from dot_core import Calibrator, DOTPipeline, load_encoder, psnr
    from serving.image_store import ArrayStore
    from webui.engine_calls import new_image
    from webui.roundtrip import RoundTripHandlers
    from webui.settings import Settings

    encoder = load_encoder(str(tiny_kl_dir))
    cal = Calibrator(encoder, 2)
    cal.add_restored(photo("coffee", 64))
    cal.add_clean(photo("chelsea", 64))
    pipeline = DOTPipeline(encoder, cal.fit())
    x = photo("astronaut", 64)
    state = new_image(ArrayStore(2**24), pipeline, x, "astronaut")
    (upload, rt), text = RoundTripHandlers(Settings()).show_roundtrip(True, state)
    assert upload == state.original_png
    shown = pixels(rt) / 255
    expected = psnr(pipeline.roundtrip(state.enhanced().original), state.enhanced().original)
    assert f"{expected:.2f} dB" in text and np.isfinite(expected)
    assert abs(psnr(shown, x) - expected) < 0.5  # the PNG shown is that round trip (8-bit)
    with pytest.raises(Exception, match="Upload a restored image first"):
        RoundTripHandlers(Settings()).show_roundtrip(True, None)


@pytest.mark.parametrize("inside", [True, False])
def test_suggested_alphas_are_the_curves_best_psnr_and_lowest_texture_distance(inside):
    from conftest import bicubic_x4, photo

    from dot_core import psnr
    from dot_core.quality.pd_curve import pd_curve, psnr_optimum
    from webui.pd_plot import ALPHA_GRID
    from webui.settings import CURVE_ALPHAS

    gt = photo("astronaut", 96)
    x_star = bicubic_x4(gt)
    # inside: x̂0 overshoots the ground truth (optimum between x* and x̂0); else x̂0 stops short of it
    x0 = (2 * gt - x_star) if inside else (0.6 * x_star + 0.4 * gt + 0.03)
    x0 = np.clip(x0, 0, 1).astype(np.float32)
    curve = pd_curve(x_star, x0, gt, CURVE_ALPHAS, ALPHA_GRID)
    best, best_psnr = curve["best_psnr"]
    grid = np.round(np.arange(-1, 2.0001, 0.05), 2)
    by_grid = [psnr(np.clip(a * x_star + (1 - a) * x0, 0, 1), gt) for a in grid]
    assert best_psnr >= max(by_grid) - 0.02  # the best α of the slider's grid, within rounding to it
    assert best == pytest.approx(grid[int(np.argmax(by_grid))], abs=0.051)
    exact = psnr_optimum(x_star, x0, gt)
    assert (0 <= exact <= 1) == inside
    if inside:
        assert abs(best - exact) <= 0.025
    low, low_d = curve["lowest_distance"]
    assert low_d == min(curve["distance"]) and low == curve["alpha"][int(np.argmin(curve["distance"]))]
    assert psnr_optimum(x_star, x_star, gt) is None  # x* = x̂0: every α is the same image


def test_blend_psnr_is_dot_core_psnr_of_the_clipped_blend():
    from conftest import bicubic_x4, photo

    from dot_core import psnr
    from dot_core.quality.pd_curve import blend_psnr

    gt = photo("chelsea", 64)
    x_star, x0 = bicubic_x4(gt), np.clip(gt * 1.1 - 0.02, 0, 1).astype(np.float32)
    for a in (-1.0, 0.0, 0.3, 1.0, 2.0):
        want = psnr(np.clip(a * x_star + (1 - a) * x0, 0, 1), gt)
        assert blend_psnr(x_star, x0, gt, a) == pytest.approx(want, abs=1e-5)
    assert blend_psnr(gt, x0, gt, 1.0) == float("inf")


def test_a_taesd_folder_is_a_latent_space_of_the_page_unless_custom_encoders_are_off(app_images, tiny_taesd_dir):
    import gradio as gr

    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.enhance import EnhanceHandlers
    from webui.roundtrip import RoundTripHandlers
    from webui.settings import Settings

    class NoProgress:
        def __call__(self, *args, **kwargs):
            pass

        def tqdm(self, iterable, *args, **kwargs):
            return iterable

    store = ArrayStore(2**26)
    folder = str(tiny_taesd_dir)
    summary, cal_state, _ = CalibrationHandlers(Settings(custom_encoders=True), store).calibrate(
        app_images["restored"], app_images["clean"], folder, 2, progress=NoProgress())
    assert "W2" in summary and cal_state.pipeline.calibration.encoder == folder
    *_, img_state = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.5, cal_state)
    _, text = RoundTripHandlers(Settings()).show_roundtrip(True, img_state)
    assert "dB" in text and "lossless" not in text  # a random tiny autoencoder loses a lot
    with pytest.raises(gr.Error, match="only the listed latent spaces"):
        CalibrationHandlers(Settings(custom_encoders=False), store).calibrate(
            app_images["restored"], app_images["clean"], folder, 2, progress=NoProgress())


def test_colour_fix_control_reaches_the_pipeline_and_the_summary(app_images):
    """Issue 12's app side: the Advanced colour fix (auto/none/wavelet/adain) is the pipeline's, said in
    the summary; auto is none for detail and pixel; a value that is no choice is refused."""
    import gradio as gr

    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.enhance import EnhanceHandlers
    from webui.settings import Settings

    store = ArrayStore(2**26)
    handlers = CalibrationHandlers(Settings(), store)
    args = (app_images["restored"], app_images["clean"], "pixel", 3)
    text, auto, _ = handlers.calibrate(*args)
    assert auto.pipeline.color_fix == "none" and "colour fix: none" in text
    text, adain, _ = handlers.calibrate(*args, color_fix="adain")
    assert adain.pipeline.color_fix == "adain" and "colour fix: adain" in text
    # the fix changes x̂0 (AdaIN: x̂0 takes x*'s per-channel mean)
    *_, plain_img = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.5, auto)
    *_, fixed_img = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.5, adain)
    x_star = fixed_img.blend(1.0)
    np.testing.assert_allclose(fixed_img.blend(0.0).mean(axis=(0, 1)), x_star.mean(axis=(0, 1)), atol=2e-3)
    assert np.abs(plain_img.blend(0.0) - fixed_img.blend(0.0)).max() > 1e-3
    with pytest.raises(gr.Error, match="color_fix must be one of"):
        handlers.calibrate(*args, color_fix="sepia")


def test_colour_fix_through_the_api(app_url, app_images):
    client = Client(app_url, verbose=False)
    text = client.predict([handle_file(p) for p in app_images["restored"]],
                          [handle_file(p) for p in app_images["clean"]], "pixel", 3,
                          color_fix="wavelet", api_name="/calibrate")
    assert "colour fix: wavelet" in text


def test_restorers_grid_reaches_the_calibration_summary_and_x0(app_images):
    """The Advanced "Restorer's grid" is the calibration's restoration_lattice: said in the summary,
    x̂0 − x* empty around those frequencies; presets state their own; other values are refused."""
    import gradio as gr

    from dot_core.colorfix import RESTORATION_LATTICE_BAND, lattice_band_mask
    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.enhance import EnhanceHandlers
    from webui.settings import Settings

    store = ArrayStore(2**26)
    handlers = CalibrationHandlers(Settings(), store)
    args = (app_images["restored"], app_images["clean"], "detail", 5)
    text, grid4, _ = handlers.calibrate(*args, restoration_lattice="4")
    assert grid4.pipeline.calibration.restoration_lattice == 4 and "restorer's lattice: 4 px" in text
    _, plain, _ = handlers.calibrate(*args, restoration_lattice="none")
    assert plain.pipeline.calibration.restoration_lattice is None
    text, found, _ = handlers.calibrate(*args)  # default: auto, found in these bicubic ×4 restorations
    assert found.pipeline.calibration.restoration_lattice == 4 and "restorer's lattice: 4 px, found" in text
    in_band = {}
    for name, state in (("grid4", grid4), ("plain", plain)):
        *_, img = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.0, state)
        x0, x_star = img.blend(0.0).astype(np.float64), img.blend(1.0).astype(np.float64)
        mask = lattice_band_mask(*x0.shape[:2], 4, RESTORATION_LATTICE_BAND).numpy()
        in_band[name] = np.abs(np.fft.fft2(x0 - x_star, axes=(0, 1))[mask]).max()
    # served images are 8-bit: what is left in the band is rounding (≈ 0.2 here), not transport (> 1)
    assert in_band["grid4"] < 0.3 < 1.0 < in_band["plain"], in_band
    text, preset_state, _ = handlers.calibrate(None, None, "detail", 0, preset="sr-bicubic-x4")
    assert preset_state.pipeline.calibration.restoration_lattice == 4 and "restorer's lattice: 4 px" in text
    with pytest.raises(gr.Error, match="restoration_lattice must be one of"):
        handlers.calibrate(*args, restoration_lattice="5")


def test_synthesised_grain_choice_reaches_the_pipeline_and_the_summary(app_images):
    """Advanced → "Synthesised grain": local is the pipeline's noise model, said in the summary, and
    changes x̂0 where eq. 5 synthesises; the default is the paper's stationary; others are refused."""
    import gradio as gr

    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.enhance import EnhanceHandlers
    from webui.settings import Settings

    store = ArrayStore(2**26)
    handlers = CalibrationHandlers(Settings(), store)
    text, plain, _ = handlers.calibrate(None, None, "detail", 0, preset="sr-bicubic-x4")
    assert plain.pipeline.config.noise == "stationary" and "noise: local" not in text
    assert plain.pipeline.calibration.operator.stochastic  # ε = 0.2 leaves degenerate directions to eq. 5
    text, local, _ = handlers.calibrate(None, None, "detail", 0, preset="sr-bicubic-x4", noise="local")
    assert local.pipeline.config.noise == "local" and "noise: local" in text
    *_, a = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.0, plain)
    *_, b = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.0, local)
    assert np.abs(a.blend(0.0).astype(np.float64) - b.blend(0.0)).max() > 2 / 255
    with pytest.raises(gr.Error, match="noise must be one of"):
        handlers.calibrate(None, None, "detail", 0, preset="sr-bicubic-x4", noise="pink")


def test_calibrate_auto_mode_pairs_uploads_by_name_and_says_so(app_images, tmp_path):
    """Mode auto (the default): uploads whose names match (coffee_restored.png ↔ coffee_clean.png) are
    calibrated paired with the restorer's PSNR in the summary; a restoration without its original makes
    it unpaired, naming it; paired asked for with two sizes is refused naming the pair."""
    import gradio as gr

    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.settings import Settings

    handlers = CalibrationHandlers(Settings(), ArrayStore(2**26))
    text, state, _ = handlers.calibrate(app_images["restored"], app_images["clean"][::-1], "pixel", 3)
    assert state.pipeline.calibration.mode == "paired"
    assert "mode paired: auto: every restored image has its clean original of the same size (3 pairs" in text
    assert "restorer's PSNR on its 3 pairs:" in text
    text, state, _ = handlers.calibrate(app_images["restored"], app_images["clean"][:2], "pixel", 3)
    assert state.pipeline.calibration.mode == "unpaired"
    assert "1 of 3 restored images has no clean image of the same name (rocket_restored.png)" in text
    assert "PSNR" not in text
    small = tmp_path / "coffee_clean.png"
    Image.open(app_images["clean"][0]).crop((0, 0, 64, 64)).save(small)
    with pytest.raises(gr.Error, match="coffee_restored.png is 96×96 but its clean image coffee_clean.png is 64×64"):
        handlers.calibrate(app_images["restored"][:1], [str(small)], "pixel", 3, "paired")


def test_summary_says_how_far_the_transport_got_on_the_calibration_and_the_image(app_images):
    """Issue 18, item 3: the calibration's reach (restored set, before the fold) is in the summary, and
    once an image is transported, its own (after the fold), for that calibration only."""
    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers, summary_with_image
    from webui.enhance import EnhanceHandlers
    from webui.settings import Settings

    store = ArrayStore(2**26)
    handlers = CalibrationHandlers(Settings(), store)
    text, state, _ = handlers.calibrate(app_images["restored"], app_images["clean"], "detail", 5)
    assert "transport reach (the restored set, before the fold): W2 to the clean patches" in text
    *_, img = EnhanceHandlers(Settings(), store).enhance(app_images["image"], 0.5, state)
    shown = summary_with_image(state, img)
    assert shown.startswith(text) and "transport reach (this image, after the fold)" in shown
    reach = re.search(r"this image, after the fold\): W2 to the clean patches ([\d.e-]+) → ([\d.e-]+)", shown)
    assert float(reach.group(2)) < float(reach.group(1))  # the transport moved it towards the clean patches
    _, other, _ = handlers.calibrate(app_images["restored"], app_images["clean"], "pixel", 3)
    assert "this image" not in summary_with_image(other, img)  # x̂0 was made by the other calibration


def test_regularisation_eps_reaches_the_calibration_and_the_summary(app_images):
    """Advanced → ε: blank is the latent's own, a number is the calibration's ε (said in the summary
    and recorded in the file); anything but a finite number ≥ 0 is refused (the engine's rule, so ε = 1
    is taken); a preset keeps its own and says so."""
    import gradio as gr
    import torch

    from dot_core import load_calibration
    from serving.image_store import ArrayStore
    from webui.calibrate import CalibrationHandlers
    from webui.settings import Settings

    handlers = CalibrationHandlers(Settings(), ArrayStore(2**26))
    args = (app_images["restored"], app_images["clean"], "detail", 5)
    text, own, _ = handlers.calibrate(*args)
    assert own.pipeline.calibration.eps == 0.3 and "ε = 0.3 " in text
    text, small, _ = handlers.calibrate(*args, eps=0.05)
    assert small.pipeline.calibration.eps == 0.05 and "ε = 0.05 " in text
    assert load_calibration(small.file).eps == 0.05
    assert not torch.allclose(small.pipeline.calibration.operator.T, own.pipeline.calibration.operator.T)
    for bad in (-0.1, "lots", "inf", "nan"):
        with pytest.raises(gr.Error, match="eps must be a finite number ≥ 0"):
            handlers.calibrate(*args, eps=bad)
    assert handlers.calibrate(*args, eps="1")[1].pipeline.calibration.eps == 1.0
    text, preset, _ = handlers.calibrate(None, None, "detail", 0, preset="sr-bicubic-x4", eps=0.05)
    assert preset.pipeline.calibration.eps == 0.2 and "ε = 0.2 " in text


def test_eps_is_the_last_parameter_of_calibrate_in_the_api(app_url, app_images):
    client = Client(app_url, verbose=False)
    api = client.view_api(return_format="dict")["named_endpoints"]
    params = [p["parameter_name"] for p in api["/calibrate"]["parameters"]]
    assert params[-1] == "eps" and params[:4] == ["restored", "clean", "encoder", "patch_size"], params
    text = client.predict([handle_file(p) for p in app_images["restored"]],
                          [handle_file(p) for p in app_images["clean"]], "detail", 5, eps=0.1, api_name="/calibrate")
    assert "ε = 0.1 " in text


def test_served_and_zipped_pngs_say_how_they_were_made_and_a_release_writes_a_compact_png(app_images, tmp_path):
    """Every PNG the app serves or zips carries the CLI's ``dot_core`` chunk (α included); the PNG
    shown after a release is written then, compressed, beside the slider's fast preview."""
    import io

    from dot_core.io.png import PNG_KEYWORD, read_png_provenance
    from serving.image_store import ArrayStore
    from webui.batch import BatchHandlers
    from webui.calibrate import CalibrationHandlers
    from webui.enhance import EnhanceHandlers
    from webui.ground_truth import GroundTruthHandlers
    from webui.roundtrip import RoundTripHandlers
    from webui.settings import Settings

    settings, store = Settings(), ArrayStore(2**26)
    _, cal, _ = CalibrationHandlers(settings, store).calibrate(app_images["restored"], app_images["clean"], "pixel", 3)
    enhance = EnhanceHandlers(settings, store)
    original, transported, interpolated, img = enhance.enhance(app_images["image"], 0.5, cal)
    for path, alpha in ((original, 1.0), (transported, 0.0), (interpolated, 0.5)):
        made = read_png_provenance(path)
        assert made and made["alpha"] == alpha and made["calibration"]["patch_size"] == 3, (path, made)
    preview = enhance.blend(0.25, img)  # while dragging: stored, uncompressed
    released = GroundTruthHandlers(settings, store).on_release(0.25, img)[0]
    assert released != preview and Path(released).name == Path(preview).name
    assert Path(released).stat().st_size < 0.8 * Path(preview).stat().st_size
    assert np.array_equal(np.asarray(Image.open(released)), np.asarray(Image.open(preview)))
    assert read_png_provenance(released)["alpha"] == read_png_provenance(preview)["alpha"] == 0.25
    (_, roundtrip), _ = RoundTripHandlers(settings).show_roundtrip(True, img)
    assert read_png_provenance(roundtrip)["encoder"] == cal.pipeline.provenance["encoder"]
    archive, _ = BatchHandlers(settings).enhance_batch([app_images["image"]], "0, 0.5", cal)
    with zipfile.ZipFile(archive) as z:
        alphas = sorted(json.loads(Image.open(io.BytesIO(z.read(n))).text[PNG_KEYWORD])["alpha"] for n in z.namelist())
    assert alphas == [0.0, 0.5]


def test_the_round_trip_that_follows_a_new_upload_is_admitted_as_a_heavy_job():
    """The toggle's round trip after a new upload, calibration or example runs a full encode/decode:
    the toggle goes through the heavy-job admission and slot, and so do the actions that follow it."""
    import inspect

    import app as dot_app
    from webui.actions import PageActions
    from webui.roundtrip import RoundTripHandlers

    following = (RoundTripHandlers.show_roundtrip, RoundTripHandlers.toggle, PageActions.calibrate, PageActions.load_calibration,
                 PageActions.upload_image, PageActions.example)
    round_trips = [d for d in dot_app.demo.fns.values()  # unwrapped: the admission and the MCP marking wrap them
                   if getattr(inspect.unwrap(d.fn), "__func__", None) in following]
    assert len(round_trips) == len(following)
    for d in round_trips:
        assert d.concurrency_id == "heavy" and d.validator is not None, d
