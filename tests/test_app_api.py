"""The app's named API, driven with gradio_client against the app launched in this process.

calibrate → enhance → blend at α ∈ {1, 0, −1, 2}; α = 1 gives back the upload exactly; sessions
are isolated; every bad input gets a readable error and leaves the session's calibration and
image working.
"""

from __future__ import annotations

import inspect
import re

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import pixel_demo
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app as dot_app
import webui.startup
from dot_core import Calibration, EncoderUnavailableError, PatchMoments, load_image, psnr, save_calibration, ssim
from serving.image_store import ArrayStore
from webui.actions import FIELDS, PageActions
from webui.calibrate import CalibrationHandlers
from webui.enhance import EnhanceHandlers
from webui.examples import ExampleHandlers
from webui.ground_truth import GroundTruthHandlers
from webui.services import Services
from webui.settings import PAPER_ENCODER, Settings


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def files(paths):
    return [handle_file(p) for p in paths]


@pytest.fixture
def client(app_url) -> Client:
    """A fresh visitor (its own session)."""
    return Client(app_url, verbose=False)


@pytest.fixture
def enhanced(client, app_images):
    """A session calibrated on pixels (p = 3) with the test image enhanced: (client, outputs)."""
    client.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3, api_name="/calibrate")
    out = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    return client, out


def assert_session_intact(client, app_images, transported) -> None:
    """The session still has its image (α = 1 is the upload) and calibration (α = 0 is x̂0)."""
    np.testing.assert_array_equal(pixels(client.predict(1.0, api_name="/blend")), pixels(app_images["image"]))
    np.testing.assert_array_equal(pixels(client.predict(0.0, api_name="/blend")), pixels(transported))


def test_app_api_named_endpoints_and_parameters(client):
    api = client.view_api(return_format="dict")["named_endpoints"]
    params = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in api.items()}
    assert params["/calibrate"][:4] == ["restored", "clean", "encoder", "patch_size"]
    assert params["/enhance"][0] == "image"
    assert params["/blend"] == ["alpha"]
    for name in ("/calibrate", "/enhance"):  # further parameters have defaults
        assert all(p["parameter_has_default"] for p in api[name]["parameters"][4 if name == "/calibrate" else 1:])
    assert len(api["/enhance"]["returns"]) == 3 and len(api["/blend"]["returns"]) == 1


def test_app_calibrate_enhance_blend(client, app_images):
    summary = client.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3,
                             api_name="/calibrate")
    assert "W2" in summary and "3 images" in summary
    original, transported, interpolated = client.predict(handle_file(app_images["image"]), 0.5,
                                                         api_name="/enhance")
    x_star, x0 = pixels(app_images["image"]), pixels(transported)
    np.testing.assert_array_equal(pixels(original), x_star)
    assert np.abs(x0 - x_star).mean() > 0.5  # transport changed the image
    for alpha in (1.0, 0.0, -1.0, 2.0, 0.5):
        got = pixels(client.predict(alpha, api_name="/blend"))
        if alpha == 1.0:
            np.testing.assert_array_equal(got, x_star)  # eq. (4): α = 1 is the restoration, exactly
        elif alpha == 0.0:
            np.testing.assert_array_equal(got, x0)
        else:  # x̂0 is known here only to 8 bits: |1 − α|·½ + ½ levels at most
            want = np.clip(np.rint(alpha * x_star + (1 - alpha) * x0), 0, 255)
            assert np.abs(got - want).max() <= 2, alpha
            if alpha == 0.5:
                np.testing.assert_array_equal(got, pixels(interpolated))


def test_app_download_and_reuse_calibration(enhanced, app_images, app_url):
    client, (_, transported, _) = enhanced
    path = client.predict(api_name="/download_calibration")
    assert str(path).endswith(".safetensors")
    other = Client(app_url, verbose=False)
    summary = other.predict(handle_file(path), api_name="/load_calibration")
    assert "W2" in summary
    _, transported_again, _ = other.predict(handle_file(app_images["image"]), api_name="/enhance")
    np.testing.assert_array_equal(pixels(transported_again), pixels(transported))


def test_app_zero_shot_mode(client, app_images):
    summary = client.predict([], files(app_images["clean"]), "pixel", 3, "zero-shot", api_name="/calibrate")
    assert "zero-shot" in summary
    _, transported, _ = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    assert pixels(transported).shape == pixels(app_images["image"]).shape


def test_app_two_clients_are_isolated(app_url, app_images):
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    a.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3, api_name="/calibrate")
    with pytest.raises(AppError, match="No calibration yet"):  # b has none of a's calibration
        b.predict(handle_file(app_images["image"]), api_name="/enhance")
    with pytest.raises(AppError, match="No image yet"):
        b.predict(1.0, api_name="/blend")
    b.predict(files(app_images["restored"][:2]), files(app_images["clean"][:2]), "pixel", 5, api_name="/calibrate")
    a.predict(handle_file(app_images["image"]), api_name="/enhance")
    b.predict(handle_file(app_images["other_image"]), api_name="/enhance")
    np.testing.assert_array_equal(pixels(a.predict(1.0, api_name="/blend")), pixels(app_images["image"]))
    np.testing.assert_array_equal(pixels(b.predict(1.0, api_name="/blend")), pixels(app_images["other_image"]))


def _metrics(text: str) -> dict[str, float]:
    """The numbers of the ground-truth Markdown: PSNR and SSIM at α, PSNR at α = 1 and α = 0."""
    at = re.search(r"PSNR (-?[0-9.]+) dB · SSIM (-?[0-9.]+)", text)
    refs = dict(re.findall(r"α = (-?[0-9.]+): (-?[0-9.]+) dB, texture distance", text))
    return {"psnr": float(at[1]), "ssim": float(at[2]), "psnr@1": float(refs["1"]), "psnr@0": float(refs["0"])}


def test_app_ground_truth_metrics_and_curve(enhanced, app_images):
    """The numbers shown are dot_core.quality.metrics on the images the session shows (its 8-bit PNGs: within
    a hundredth of a dB of the server's float x̂α; x* is the upload itself, so α = 1 is exact)."""
    client, (_, transported, _) = enhanced
    text, plot = client.predict(handle_file(app_images["ground_truth"]), 0.5, api_name="/ground_truth")
    assert "α = 0.5" in text and plot is not None
    shown = _metrics(text)
    gt = load_image(app_images["ground_truth"])
    x_half = load_image(client.predict(0.5, api_name="/blend"))
    assert abs(shown["psnr"] - psnr(x_half, gt)) < 0.02, (shown, psnr(x_half, gt))
    assert abs(shown["ssim"] - ssim(x_half, gt)) < 1e-3, (shown, ssim(x_half, gt))
    assert abs(shown["psnr@1"] - psnr(load_image(app_images["image"]), gt)) <= 0.005
    assert abs(shown["psnr@0"] - psnr(load_image(transported), gt)) < 0.02


def test_handlers_without_a_browser_show_dot_core_psnr(app_images):
    """The handlers are plain calls: calibrate, enhance, compare; the PSNR shown is dot_core's on the
    very arrays the session keeps (x̂α blended from the kept x*, x̂0; the kept ground truth)."""
    settings, images = Settings(), ArrayStore(2**26)
    _, cal, _ = CalibrationHandlers(settings, images).calibrate(app_images["restored"], app_images["clean"],
                                                                "pixel", 3)
    *_, img = EnhanceHandlers(settings, images).enhance(app_images["image"], 0.5, cal)
    text, fig, img = GroundTruthHandlers(settings, images).compare_ground_truth(app_images["ground_truth"], 0.25,
                                                                                 img)
    assert fig is not None and img.curve["alpha"][0] == -1.0
    want = psnr(img.blend(0.25), img.clean())
    assert abs(_metrics(text)["psnr"] - want) <= 0.005, (text, want)
    assert abs(_metrics(text)["psnr@1"] - psnr(load_image(app_images["image"]), img.clean())) <= 0.005


# --------------------------------------------------------------------------- bad inputs


def _mismatched_calibration(path) -> str:
    """A valid file whose statistics (C = 1) cannot belong to the 'pixel' latent (C = 3)."""
    v = torch.randn(500, 9, dtype=torch.float64)
    target = PatchMoments(9)
    target.update(v)
    cal = Calibration(encoder="pixel", channels=1, factor=1, patch_size=3, mode="zero-shot", target=target)
    return str(save_calibration(cal, path))


def _huge_png(path) -> str:
    side = int(dot_app.SETTINGS.max_pixels**0.5) + 64  # a few KB on disk, over the limit once decoded
    Image.new("RGB", (side, side)).save(path)
    return str(path)


def _truncated_png(path, source) -> str:
    data = open(source, "rb").read()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


BAD_INPUTS = {
    # id: (endpoint, args builder(tmp_path, images), message pattern)
    "corrupt image": ("/enhance", lambda t, im: [handle_file(_truncated_png(t / "cut.png", im["image"]))],
                      r"cut\.png.*(truncated|corrupt|not an image)"),
    "text as image": ("/enhance", lambda t, im: [handle_file(_write(t / "notes.png", b"hello"))],
                      r"notes\.png"),
    "huge image": ("/enhance", lambda t, im: [handle_file(_huge_png(t / "huge.png"))], r"huge\.png.*megapixels"),
    "not a calibration": ("/load_calibration", lambda t, im: [handle_file(_write(t / "x.safetensors", b"\0" * 64))],
                          r"x\.safetensors.*not a usable DOT calibration"),
    "mismatched calibration": ("/load_calibration",
                               lambda t, im: [handle_file(_mismatched_calibration(t / "c1.safetensors"))],
                               r"calibration was made with encoder 'pixel' \(C=1"),
    "unknown encoder": ("/calibrate", lambda t, im: [files(im["restored"]), files(im["clean"]), "no-such-vae", 3],
                        r"no-such-vae"),
    "paired count mismatch": ("/calibrate",
                              lambda t, im: [files(im["restored"][:2]), files(im["clean"][2:]), "pixel", 3, "paired"],
                              r"as many restored as clean"),
    "no clean images": ("/calibrate", lambda t, im: [files(im["restored"]), [], "pixel", 3], r"clean images"),
    "corrupt calibration image": ("/calibrate",
                                  lambda t, im: [[handle_file(_write(t / "bad.jpg", b"\xff\xd8\xff"))],
                                                 files(im["clean"]), "pixel", 3],
                                  r"bad\.jpg"),
    "alpha above range": ("/blend", lambda t, im: [5.0], r"Value 5\.0 is greater than maximum value 2\.0"),
    "alpha below range": ("/blend", lambda t, im: [-3.0], r"Value -3\.0 is less than minimum value -1\.0"),
    "ground truth of another size": ("/ground_truth", lambda t, im: [handle_file(im["restored"][0])],
                                     r"96×96.*128×128"),
}


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_app_bad_input_gets_readable_error_and_session_survives(case, enhanced, app_images, tmp_path):
    client, (_, transported, _) = enhanced
    endpoint, build, pattern = BAD_INPUTS[case]
    with pytest.raises(AppError, match=pattern):
        client.predict(*build(tmp_path, app_images), api_name=endpoint)
    assert_session_intact(client, app_images, transported)


# --------------------------------------------------------------------------- helpers


def test_app_startup_offline_says_why():
    startup = webui.startup.probe_startup(Settings())
    assert startup.encoder == "detail" and not startup.online
    assert startup.notice.startswith("**Offline mode:**") and "detail" in startup.notice
    assert dict((v, k) for k, v in startup.choices)[PAPER_ENCODER].endswith("unavailable offline")


def test_app_startup_falls_back_with_a_notice_when_the_download_breaks(monkeypatch):
    """The Hub answers but the weights cannot be fetched (cut off half-way): the page starts on the
    weight-free latent and says why."""
    monkeypatch.setattr(webui.startup, "hub_reachable", lambda timeout=2.0: True)
    real = webui.startup.load_encoder

    def load(name, **kwargs):
        if name == PAPER_ENCODER:
            raise EncoderUnavailableError(f"cannot load '{name}': download interrupted [ConnectionResetError]")
        return real(name, **kwargs)

    monkeypatch.setattr(webui.startup, "load_encoder", load)
    startup = webui.startup.probe_startup(Settings())
    assert startup.online and startup.encoder == "detail"
    assert "download interrupted" in startup.notice and startup.encoder in startup.notice
    assert startup.notice.startswith("**Fallback:**")


def test_settings_are_read_once_from_the_environment_with_safer_defaults_on_a_space():
    s = Settings.from_env({"DOT_APP_MAX_PIXELS": "1000", "DOT_APP_IMAGE_MEMORY_MB": "1.5",
                           "DOT_APP_ENCODER": " pixel "})
    assert (s.max_pixels, s.max_calibration_pixels, s.image_memory, s.encoder) == (1000, 16_000, 1_572_864, "pixel")
    assert s.custom_encoders and not s.trust_forwarded
    space = Settings.from_env({"SPACE_ID": "someone/dot"})
    assert space.trust_forwarded and not space.custom_encoders
    assert Settings.from_env({}) == Settings()


def test_heavy_events_are_admitted_first_and_a_refusal_shows_on_a_visible_input():
    """Every heavy event has the admission validator, and its first input (where the page paints a
    validator's message) is a component the visitor sees, not a state or a closed accordion's."""
    heavy = [d for d in dot_app.demo.fns.values() if d.concurrency_id == "heavy"]
    assert len(heavy) >= 5
    for d in heavy:
        assert d.validator is not None and d.concurrency_limit == 1
        first = d.inputs[0]
        assert not isinstance(first, gr.State)
        visible = ("dot-restored", "dot-cal-upload", "dot-image", "dot-gt", "dot-examples", "dot-roundtrip-toggle",
                   "dot-batch-files")
        assert first.elem_id in visible or first.elem_id.startswith("dot-agent-"), first  # agent tools: API only


# --------------------------------------------------------------------------- examples (presets)


def test_app_examples_run_a_preset_in_one_call(app_images):
    """With a presets catalogue (faked here with the test photos), one example gives everything."""
    from dataclasses import dataclass

    from dot_core import Calibrator, load_encoder, load_image

    @dataclass(frozen=True)
    class Preset:
        name: str
        title: str
        description: str
        encoders: tuple
        examples: tuple

    preset = Preset("bicubic-x4", "Bicubic ×4", "test", ("pixel",),
                    ((app_images["image"], app_images["ground_truth"]),))

    class FakePresets:
        list_presets = staticmethod(lambda: [preset])
        get_preset = staticmethod(lambda name: preset)

        @staticmethod
        def load_preset(name, encoder="detail"):
            cal = Calibrator(load_encoder(encoder), 3)
            for r, c in zip(app_images["restored"], app_images["clean"]):
                cal.add_restored(load_image(r))
                cal.add_clean(load_image(c))
            return cal.fit()

    services = Services.create(Settings())
    demo = pixel_demo(services, presets=FakePresets)
    select = [d for d in demo.fns.values()
              if getattr(inspect.unwrap(d.fn), "__func__", None) is PageActions.example]
    assert len(select) == 1 and len(select[0].outputs) == len(FIELDS)  # one request sets the whole page
    handlers = (CalibrationHandlers(services.settings, services.images, FakePresets),
                EnhanceHandlers(services.settings, services.images),
                GroundTruthHandlers(services.settings, services.images))
    out = ExampleHandlers(*handlers).run(0, "detail", "uniform", "auto", "stationary", None, None)
    assert len(out) == 18
    summary, cal_state, _, encoder, patch, name, restored, clean, image, gt, alpha, original, *_ = out
    assert restored is None and clean is None  # the visitor's calibration files are cleared
    assert "W2" in summary and "preset bicubic-x4" in summary
    assert (encoder, patch, name, image, gt) == ("pixel", 3, "bicubic-x4", app_images["image"],
                                                 app_images["ground_truth"])
    np.testing.assert_array_equal(pixels(original), pixels(app_images["image"]))
    assert "PSNR" in out[15] and out[16] is not None


# ---- issue 13: the API does what the caller asked ----------------------------------------------


def test_app_files_and_a_preset_together_are_refused_never_calibrated_on_the_preset(client, app_images):
    from dot_core import presets

    names = [p.name for p in presets.list_presets()]
    if not names:
        pytest.skip("no presets bundled")
    with pytest.raises(AppError, match=r"either .*or a preset"):
        client.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3, "unpaired", "auto",
                       names[0], api_name="/calibrate")
    with pytest.raises(AppError, match="No calibration yet"):  # nothing was calibrated
        client.predict(handle_file(app_images["image"]), api_name="/enhance")


def test_app_calibration_skips_every_broken_file_and_names_each(client, app_images, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    short = tmp_path / "short.png"
    short.write_bytes(open(app_images["clean"][0], "rb").read()[:150])
    summary = client.predict([*files(app_images["restored"]), handle_file(str(notes))],
                             [handle_file(str(short)), *files(app_images["clean"])], "pixel", 3,
                             api_name="/calibrate")
    assert "3 restored + 3 clean" in summary
    for name in ("notes.png", "short.png"):
        assert re.search(rf"skipped.*{re.escape(name)}", summary, re.S | re.I), summary
    with pytest.raises(AppError, match=r"notes\.png.*short\.png|short\.png.*notes\.png"):  # nothing usable: all named
        client.predict([handle_file(str(notes))], [handle_file(str(short))], "pixel", 3, api_name="/calibrate")


def test_app_one_image_is_one_image(client, app_images):
    summary = client.predict(files(app_images["restored"][:1]), files(app_images["clean"][:1]), "pixel", 3,
                             api_name="/calibrate")
    assert "1 images" not in summary and "1 restored + 1 clean image" in summary


# ---- issue 19: the API's names and types -------------------------------------------------------


def test_app_api_outputs_have_names_and_patch_size_is_an_integer(client):
    api = client.view_api(return_format="dict")["named_endpoints"]
    unnamed = {name: r["label"] for name, ep in api.items() for r in ep["returns"]
               if re.fullmatch(r"value_\d+", r["label"] or "")}
    assert not unnamed, unnamed
    patch = next(p for p in api["/calibrate"]["parameters"] if p["parameter_name"] == "patch_size")
    assert patch["type"]["type"] == "integer", patch


@pytest.mark.parametrize("patch_size, pattern", [(0, r"patch_size must be between 1 and 16, got 0"),
                                                 (17, r"between 1 and 16, got 17"), (-1, r"between 1 and 16, got -1"),
                                                 (5.5, r"whole number.*5\.5")])
def test_app_calibrate_refuses_a_patch_size_out_of_range_with_a_message(client, app_images, patch_size, pattern):
    with pytest.raises(AppError, match=pattern):
        client.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", patch_size,
                       api_name="/calibrate")


def test_load_calibration_file_refuses_an_unknown_fold_kernel_like_the_other_controls(app_images):
    """The handler checks the fold kernel as calibrate does (Gradio's radio checks it only on the page)."""
    settings, images = Settings(), ArrayStore(2**26)
    handlers = CalibrationHandlers(settings, images)
    _, cal, _ = handlers.calibrate(app_images["restored"], app_images["clean"], "pixel", 3)
    with pytest.raises(gr.Error, match=r"fold_kernel must be one of auto, uniform, gaussian, got 'triangular'"):
        handlers.load_calibration_file(cal.file, "triangular")
