"""The launched app (in this process, loopback) against hostile and odd visitors.

Every odd-but-valid upload (1×1, smaller than a patch, 1×600, 16-bit, CMYK, palette, alpha,
animated GIF/WebP, multi-page TIFF) is enhanced, with α = 1 giving back exactly what the engine
reads; every hostile one (non-images, truncated files, decompression bombs, pickles posing as
calibrations, oversized uploads, absurd encoder names) gets a readable error and leaves the
session's calibration and current image working. Session state and its files are freed when
the session ends or expires; only the session's own outputs are served; a heavy visitor does not
hold up other visitors' α updates.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import os
import pickle
import re
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from conftest import pixel_demo, png_declaring, serve
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, ValidationError
from PIL import Image
from skimage import data

import app as dot_app
import webui.engine_calls
from dot_core import load_image
from dot_core.io.images import to_uint8
from serving.admission import Admission
from serving.image_store import ArrayStore
from webui.calibrate import CalibrationHandlers
from webui.enhance import EnhanceHandlers
from webui.ground_truth import GroundTruthHandlers
from webui.gradio_private import still_queued
from webui.services import Services
from webui.settings import Settings

PHOTO = np.ascontiguousarray(data.astronaut()[100:140, 180:228])  # (40, 48, 3) uint8


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def files(paths):
    return [handle_file(p) for p in paths]


def calibrated(url: str, app_images: dict, **kwargs) -> Client:
    client = Client(url, verbose=False, **kwargs)
    client.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3, api_name="/calibrate")
    return client


def warnings_of(job) -> list[str]:
    """The gr.Warning messages a finished gradio_client job received."""
    job.result()
    updates, out = job.communicator.updates, []
    while not updates.empty():
        log = getattr(updates.get_nowait(), "log", None)
        if log and log[1] == "warning":
            out.append(log[0])
    return out


# --------------------------------------------------------------------------- odd but valid uploads


def _save(folder: Path, name: str, im: Image.Image, **kwargs) -> str:
    path = folder / name
    im.save(path, **kwargs)
    return str(path)


def _odd_uploads(folder: Path) -> dict[str, str]:
    rgb = Image.fromarray(PHOTO)
    rgba = np.dstack([PHOTO, np.linspace(0, 255, PHOTO.shape[1], dtype=np.uint8)[None].repeat(40, 0)])
    gray16 = ((PHOTO[..., 0].astype(np.uint32) * 257 + np.arange(48)) % 65536).astype(np.uint16)
    frames = [rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT), rgb.rotate(180)]
    return {
        "1x1": _save(folder, "dot.png", Image.new("RGB", (1, 1), (200, 30, 60))),
        "smaller than a patch": _save(folder, "tiny.png", rgb.crop((0, 0, 2, 2))),
        "1x600": _save(folder, "strip.png", rgb.resize((1, 600))),
        "16-bit gray": _save(folder, "gray16.png", Image.fromarray(gray16)),
        "CMYK": _save(folder, "cmyk.jpg", rgb.convert("CMYK"), quality=95),
        "palette with transparency": _save(folder, "palette.png", rgb.convert("P"), transparency=3),
        "alpha": _save(folder, "rgba.png", Image.fromarray(rgba, "RGBA")),
        "gray alpha": _save(folder, "la.png", Image.fromarray(rgba, "RGBA").convert("LA")),
        "bilevel": _save(folder, "bilevel.bmp", rgb.convert("1")),
        "animated GIF": _save(folder, "anim.gif", rgb, save_all=True, append_images=frames),
        "animated WebP": _save(folder, "anim.webp", rgb, save_all=True, append_images=frames, lossless=True),
        "multi-page TIFF": _save(folder, "pages.tiff", rgb, save_all=True, append_images=frames),
    }


@pytest.fixture(scope="module")
def odd_uploads(tmp_path_factory):
    return _odd_uploads(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def odd_visitor(app_url, app_images):
    return calibrated(app_url, app_images)


@pytest.mark.parametrize("case", ["1x1", "smaller than a patch", "1x600", "16-bit gray", "CMYK",
                                  "palette with transparency", "alpha", "gray alpha", "bilevel",
                                  "animated GIF", "animated WebP", "multi-page TIFF"])
def test_odd_upload_is_enhanced_and_alpha_one_returns_it(case, odd_visitor, odd_uploads):
    path = odd_uploads[case]
    job = odd_visitor.submit(handle_file(path), api_name="/enhance")
    original, transported, interpolated = job.result()
    expected = to_uint8(load_image(path))  # first frame, alpha over white, 16 bits to 8 for PNG
    np.testing.assert_array_equal(pixels(original), expected)
    assert pixels(transported).shape == pixels(interpolated).shape == expected.shape
    np.testing.assert_array_equal(pixels(odd_visitor.predict(1.0, api_name="/blend")), expected)
    warned = " ".join(warnings_of(job))
    if min(expected.shape[:2]) < 3:  # narrower than one latent patch: allowed, with a warning
        assert "smaller than one 3×3 patch" in warned
    else:
        assert "patch" not in warned


# --------------------------------------------------------------------------- hostile uploads


def _encoded(fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.tile(PHOTO, (4, 4, 1))).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


class Payload:
    """Unpickling this would create a file: proof that a payload ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


HOSTILE_IMAGES = {
    # id: (file name, bytes builder, message pattern)
    "text": ("notes.png", lambda: b"hello, I am a text file\n" * 4, r"notes\.png: not an image"),
    "html": ("page.png", lambda: b"<html><script>alert(1)</script></html>", r"page\.png: not an image"),
    "pickle": ("model.png", lambda: pickle.dumps({"x": Payload(Path("/nonexistent/pwned"))}), r"model\.png"),
    "empty": ("empty.png", lambda: b"", r"empty\.png"),
    "truncated JPEG": ("cut.jpg", lambda: _encoded("JPEG")[:300], r"cut\.jpg: .*(truncated|corrupt)"),
    "truncated PNG": ("cut.png", lambda: _encoded("PNG")[:500], r"cut\.png: .*(truncated|corrupt)"),
    "decompression bomb": ("bomb.png", lambda: png_declaring(60_000, 60_000),
                           r"bomb\.png: declares 60000×60000 = 3600.0 megapixels, over the limit"),
    "bomb under Pillow's limit": ("bomb2.png", lambda: png_declaring(4000, 4000),
                                  r"bomb2\.png: declares 4000×4000 .* over the limit of 4\.2 megapixels"),
    "EPS (Ghostscript)": ("art.png", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", r"art\.png"),
}


@pytest.fixture(scope="module")
def hostile_visitor(app_url, app_images):
    """A session with a calibration and a current image: (client, x* pixels, x̂0 pixels)."""
    client = calibrated(app_url, app_images)
    original, transported, _ = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    return client, pixels(original), pixels(transported)


def assert_session_intact(visitor) -> None:
    client, x_star, x0 = visitor
    np.testing.assert_array_equal(pixels(client.predict(1.0, api_name="/blend")), x_star)
    np.testing.assert_array_equal(pixels(client.predict(0.0, api_name="/blend")), x0)


@pytest.mark.parametrize("case", list(HOSTILE_IMAGES))
def test_hostile_image_upload_gets_readable_error_and_session_survives(case, hostile_visitor, tmp_path):
    name, build, pattern = HOSTILE_IMAGES[case]
    path = tmp_path / name
    path.write_bytes(build())
    with pytest.raises(AppError, match=pattern):
        hostile_visitor[0].predict(handle_file(str(path)), api_name="/enhance")
    assert_session_intact(hostile_visitor)


def test_hostile_calibration_images_get_readable_errors(app_url, app_images, tmp_path):
    # a session of its own: its first call makes a new calibration (unpaired: the bomb has no original),
    # which must not change the shared hostile visitor's
    client = Client(app_url, verbose=False)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(60_000, 60_000))
    # skipped and named, the good files used (as the CLI does)
    summary = client.predict([*files(app_images["restored"]), handle_file(str(bomb))], files(app_images["clean"]),
                             "pixel", 3, api_name="/calibrate")
    assert re.search(r"bomb\.png: declares 60000×60000", summary) and "3 restored + 3 clean" in summary
    original, transported, _ = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    with pytest.raises(AppError, match=r"bomb\.png: declares 60000×60000"):  # nothing usable left
        client.predict([handle_file(str(bomb))], files(app_images["clean"]), "pixel", 3, api_name="/calibrate")
    assert_session_intact((client, pixels(original), pixels(transported)))


def test_calibration_limits_refuse_with_the_numbers(app_images):
    """Too many images, too many pixels: the handler refuses before any encoding, saying the limit."""
    few = CalibrationHandlers(Settings(max_calibration_images=2), ArrayStore(2**24))
    with pytest.raises(gr.Error, match="At most 2 restored and 2 clean images per calibration; got 3 and 3"):
        few.calibrate(app_images["restored"], app_images["clean"], "pixel", 3)
    small = CalibrationHandlers(Settings(max_calibration_pixels=3 * 96 * 96), ArrayStore(2**24))  # restored alone
    with pytest.raises(gr.Error, match=r"add up to more than 0 megapixels \(at coffee_clean\.png\)"):
        small.calibrate(app_images["restored"], app_images["clean"], "pixel", 3, "unpaired")  # restored read first


@pytest.mark.parametrize("encoder, pattern", [
    pytest.param("x" * 5000, "not a latent-space name", id="5000 characters"),
    pytest.param("pixel\x00", "not a latent-space name", id="NUL"),
    pytest.param("../../../../etc", "holds neither a diffusers VAE", id="a folder that is no model"),
])
def test_absurd_encoder_names_get_readable_errors(hostile_visitor, app_images, encoder, pattern):
    with pytest.raises(AppError, match=pattern):
        hostile_visitor[0].predict(files(app_images["restored"]), files(app_images["clean"]), encoder, 3,
                                   api_name="/calibrate")
    assert_session_intact(hostile_visitor)


def test_public_space_runs_only_listed_latent_spaces(app_images):
    public = CalibrationHandlers(Settings.from_env({"SPACE_ID": "someone/dot"}), ArrayStore(2**24))
    assert not public.settings.custom_encoders
    with pytest.raises(gr.Error, match="this public app runs only the listed latent spaces"):
        public.calibrate(app_images["restored"], app_images["clean"], "someone/huge-model", 3)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickle_as_calibration_is_refused_and_never_runs(hostile_visitor, tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "calibration.safetensors"
    path.write_bytes(pickle.dumps({"target.s2": Payload(marker)}, protocol=protocol))
    with pytest.raises(AppError, match=r"calibration\.safetensors: not a usable DOT calibration"):
        hostile_visitor[0].predict(handle_file(str(path)), api_name="/load_calibration")
    assert not marker.exists()
    assert_session_intact(hostile_visitor)


# --------------------------------------------------------------------------- state and files


def _get(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url}gradio_api/file={path}", timeout=10)


def test_session_end_frees_its_state_and_files(app_url, app_images):
    client = calibrated(app_url, app_images, download_files=False)
    outs = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    outs = [*outs, client.predict(0.25, api_name="/blend")]
    paths = [Path(o["path"]) for o in outs]
    assert all(p.is_file() for p in paths) and all(_get(app_url, p).status_code == 200 for p in paths)
    # What Gradio does an hour after the tab closes (or when a state's time-to-live runs out):
    dot_app.demo.state_holder.delete_state(client.session_hash)
    assert not any(p.exists() for p in paths)
    assert all(_get(app_url, p).status_code in (403, 404) for p in paths)
    with pytest.raises(AppError, match="No image yet"):
        client.predict(1.0, api_name="/blend")
    with pytest.raises(AppError, match="No calibration yet"):
        client.predict(handle_file(app_images["image"]), api_name="/enhance")


def test_a_dragged_slider_keeps_a_bounded_number_of_files(app_images):
    settings, images = Settings(keep_blends=3), ArrayStore(2**24)
    _, cal, _ = CalibrationHandlers(settings, images).calibrate(app_images["restored"], app_images["clean"],
                                                                "pixel", 3)
    enhance = EnhanceHandlers(settings, images)
    *_, img = enhance.enhance(app_images["image"], 0.5, cal)
    paths = [Path(enhance.blend(a, img)) for a in (-1.0, -0.5, 0.25, 0.5, 1.5, 2.0)]
    assert sorted(paths[-1].parent.iterdir()) == sorted(paths[-3:])  # the newest three, nothing else


def test_a_served_file_is_never_rewritten_in_place(app_images):
    """A PNG the page has shown keeps its bytes and inode: a request that read its length then its
    body never gets a shorter or a different file (h11 "Too little data for declared Content-Length")."""
    settings, images = Settings(keep_blends=8), ArrayStore(2**24)
    _, cal, _ = CalibrationHandlers(settings, images).calibrate(app_images["restored"], app_images["clean"],
                                                                "pixel", 3)
    enhance = EnhanceHandlers(settings, images)
    *_, img = enhance.enhance(app_images["image"], 0.5, cal)
    first = Path(enhance.blend(0.25, img))  # while dragging: a fast PNG (level 0)
    seen = (first.stat().st_ino, first.stat().st_size, first.read_bytes())
    # the same α on release (a compact PNG), then dragged back to it: each checked at once
    for again in (lambda: enhance.blends.png(img, 0.25, level=1), lambda: enhance.blend(0.25, img)):
        path = Path(again())
        if path == first:  # the same name must be the same file, untouched
            assert (path.stat().st_ino, path.stat().st_size, path.read_bytes()) == seen
        np.testing.assert_array_equal(pixels(path), pixels(first))


def test_only_the_sessions_own_outputs_are_served(app_url, app_images):
    owner = calibrated(app_url, app_images, download_files=False)
    out = Path(owner.predict(handle_file(app_images["image"]), api_name="/enhance")[2]["path"])
    assert _get(app_url, out).status_code == 200
    root = Path(gr.utils.get_upload_folder())
    refused = ["/etc/passwd", "/proc/self/environ", str(Path(dot_app.__file__).resolve()),
               f"{root}/../../etc/passwd", "../../../../etc/passwd", str(root), str(root / "dot_app"),
               str(out.parent), str(root / "dot_app" / uuid.uuid4().hex / out.name),  # a guessed path
               str(Path(app_images["image"]).resolve())]  # a file the app read but never served
    for path in refused:
        assert _get(app_url, path).status_code in (403, 404), path
    # another session's outputs die with it
    dot_app.demo.state_holder.delete_state(owner.session_hash)
    assert _get(app_url, out).status_code in (403, 404)


def test_nothing_is_written_outside_the_temp_and_cache_folders(app_url, app_images, tmp_path):
    probe = f"probe_{uuid.uuid4().hex[:12]}"
    image = tmp_path / f"{probe}.png"
    image.write_bytes(Path(app_images["image"]).read_bytes())
    client = calibrated(app_url, app_images, download_files=False)
    outs = [*client.predict(handle_file(str(image)), api_name="/enhance"),
            client.predict(0.5, api_name="/blend"), client.predict(api_name="/download_calibration")]
    root = Path(gr.utils.get_upload_folder()).resolve()
    for out in outs:
        if isinstance(out, dict) and out.get("path"):
            assert Path(out["path"]).resolve().is_relative_to(root), out["path"]
    repo = Path(dot_app.__file__).parent
    for folder, subdirs, names in os.walk(repo):
        subdirs[:] = [d for d in subdirs if d not in (".git", "node_modules", ".hypothesis")]
        assert not [n for n in names if probe in n], folder


# --------------------------------------------------------------------------- load and limits


@pytest.fixture
def own_app():
    """``own_app(services)``: the page launched with a test's own services; (url, demo)."""
    with contextlib.ExitStack() as stack:

        def launch(services: Services, **options):
            demo = pixel_demo(services)
            return stack.enter_context(serve(demo, services.settings, **options)), demo

        yield launch


def test_a_heavy_visitor_does_not_hold_up_other_visitors_alpha_updates(app_url, app_images, monkeypatch):
    """Calibrations queue one at a time (one 'heavy' slot); α updates have slots of their own."""
    fit, started, release = webui.engine_calls.fit, threading.Event(), threading.Event()

    def held_fit(*args, **kwargs):  # a calibration that holds the heavy slot until the test lets it go
        started.set()
        release.wait(timeout=120)
        return fit(*args, **kwargs)

    light = calibrated(app_url, app_images)
    light.predict(handle_file(app_images["image"]), api_name="/enhance")
    monkeypatch.setattr(webui.engine_calls, "fit", held_fit)
    heavy = Client(app_url, verbose=False)
    jobs = [heavy.submit(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3,
                         api_name="/calibrate") for _ in range(2)]
    try:
        assert started.wait(timeout=60)  # the heavy visitor's first calibration holds the slot now
        for alpha in (0.1, 0.4, 0.7, 1.3, -0.5):
            light.predict(alpha, api_name="/blend")
        # an order, not a clock: all five α updates came back while both calibrations were held
        assert not any(j.done() for j in jobs), "the α updates waited for the heavy visitor's calibrations"
    finally:
        release.set()
    for j in jobs:
        assert "W2" in j.result(timeout=120)


def test_kept_images_stay_within_the_memory_budget_and_nothing_is_lost(own_app, app_images):
    """Sessions' x* and x̂0 share one RAM budget; the idle ones wait on disk and come back exactly."""
    h, w = load_image(app_images["image"]).shape[:2]
    one = 2 * h * w * 3 * 2  # x* and x̂0 as 16-bit
    services = dataclasses.replace(Services.create(Settings()), images=ArrayStore(2 * one))
    url, demo = own_app(services)
    clients = [calibrated(url, app_images, download_files=False) for _ in range(4)]
    first = [c.predict(handle_file(app_images["image"]), api_name="/enhance") for c in clients]
    assert services.images.resident_bytes <= 2 * one
    spilled = list(Path(first[0][0]["path"]).parent.glob(".kept-*.npy"))
    assert len(spilled) == 2  # the least recently used session went to its own folder
    for c, (original, transported, _) in zip(clients, first):  # every session still blends exactly
        assert np.array_equal(pixels(c.predict(1.0, api_name="/blend")["path"]), pixels(original["path"]))
        assert np.array_equal(pixels(c.predict(0.0, api_name="/blend")["path"]), pixels(transported["path"]))
        assert services.images.resident_bytes <= 2 * one
    for c in clients:
        demo.state_holder.delete_state(c.session_hash)
    gc.collect()
    assert services.images.resident_bytes == 0 and not Path(spilled[0]).exists()


def test_one_visitor_cannot_stack_heavy_jobs_ahead_of_everyone(own_app, app_images, monkeypatch):
    """Admission before the queue: a burst from one API client is refused beyond its share, with a
    message; other visitors wait for at most the jobs admitted; nothing stays counted afterwards."""
    services = dataclasses.replace(Services.create(Settings()), admission=Admission(per_session=1, per_client=3))
    url, _ = own_app(services)
    fit = webui.engine_calls.fit

    def slow_fit(*args, **kwargs):  # a calibration that takes 1 s without loading the CPU
        time.sleep(1.0)
        return fit(*args, **kwargs)

    monkeypatch.setattr(webui.engine_calls, "fit", slow_fit)
    args = (files(app_images["restored"]), files(app_images["clean"]), "pixel", 3)

    def outcome(job) -> str:
        try:
            return "done" if "W2" in job.result(timeout=120) else "odd"
        except ValidationError as exc:
            return str(exc)

    # one session fires six calibrations at once: one is admitted, five are refused at the door
    burst = Client(url, verbose=False, download_files=False)
    jobs = [burst.submit(*args, api_name="/calibrate") for _ in range(6)]
    results = [outcome(j) for j in jobs]
    assert results.count("done") == 1, results
    assert all("This session already has 1 heavy job" in r for r in results if r != "done"), results
    # one address opening four sessions at once: three are admitted, the fourth is told why not
    clients = [Client(url, verbose=False, download_files=False) for _ in range(4)]
    jobs = [c.submit(*args, api_name="/calibrate") for c in clients]
    results = [outcome(j) for j in jobs]
    assert results.count("done") == 3, results
    assert any("Your address already has 3 heavy jobs" in r for r in results), results
    # everything finished or refused: nothing is left counted, the next visitor goes straight in
    assert services.admission.counts() == {"waiting": 0, "running": 0}
    assert "W2" in Client(url, verbose=False).predict(*args, api_name="/calibrate")


def _join_raw(url: str, session: str, api_name: str, data: list) -> str:
    """What the page does for an event: POST queue/join (the event stream is opened apart)."""
    deps = httpx.get(f"{url}config", timeout=10).json()["dependencies"]
    fn_index = next(d["id"] for d in deps if d.get("api_name") == api_name)
    r = httpx.post(f"{url}gradio_api/queue/join", timeout=10, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    assert r.status_code == 200, r.text
    return r.json()["event_id"]


def test_a_visitor_who_leaves_mid_calibration_does_not_leave_the_server_stuck(own_app, app_images, monkeypatch):
    """A page that closes its event stream while its calibration runs and another waits: Gradio
    drops the waiting one, the running one finishes unheard, the heavy slot and the visitor's
    admission are freed, and the next visitor goes through."""
    admission = Admission(per_session=2, per_client=8, grace_s=0.5, waiting=still_queued)
    services = dataclasses.replace(Services.create(Settings()), admission=admission)
    app_url, _ = own_app(services)
    fit, calls, release = webui.engine_calls.fit, [], threading.Event()

    def held_fit(*args, **kwargs):  # runs until the test has seen the visitor leave
        calls.append(time.monotonic())
        release.wait(timeout=120)
        return fit(*args, **kwargs)

    monkeypatch.setattr(webui.engine_calls, "fit", held_fit)
    with open(app_images["restored"][0], "rb") as r, open(app_images["clean"][0], "rb") as c:
        paths = httpx.post(f"{app_url}gradio_api/upload", timeout=10,
                           files=[("files", ("r.png", r.read())), ("files", ("c.png", c.read()))]).json()
    restored, clean = ([{"path": p, "orig_name": Path(p).name, "meta": {"_type": "gradio.FileData"}}] for p in paths)
    # files, encoder, patch, mode, fold, preset, colour fix, restorer's grid, noise, ε, states
    data = [restored, clean, "pixel", 3, "unpaired", "auto", "", "auto", "none", "stationary", "", None, None]
    session = uuid.uuid4().hex[:11]
    for _ in range(2):  # one to run, one to wait behind it
        _join_raw(app_url, session, "calibrate", data)
    with httpx.stream("GET", f"{app_url}gradio_api/queue/data", params={"session_hash": session},
                      timeout=30) as stream:
        for line in stream.iter_lines():
            if "process_starts" in line:
                break  # the first calibration is running: the visitor closes the tab now
    try:
        assert services.admission.counts() == {"waiting": 1, "running": 1}
    finally:
        release.set()  # the abandoned calibration finishes unheard
    other = Client(app_url, verbose=False, download_files=False)
    assert "W2" in other.predict(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3,
                                 api_name="/calibrate")
    # Gradio drops the leaver's waiting job once it sees the stream closed, then its admission goes too:
    # wait for that outcome (under load it may come after the next visitor's calibration)
    deadline = time.monotonic() + 60
    while services.admission.counts() != {"waiting": 0, "running": 0} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert services.admission.counts() == {"waiting": 0, "running": 0}
    assert len(calls) == 2  # the abandoned run and the next visitor's: the leaver's waiting one never ran


def test_an_upload_waiting_behind_its_own_calibration_is_admitted(own_app, app_images, monkeypatch):
    """The page's usual order (calibrate, then upload while it runs) fits the default share."""
    services = dataclasses.replace(Services.create(Settings()), admission=Admission())
    url, _ = own_app(services)
    fit = webui.engine_calls.fit
    monkeypatch.setattr(webui.engine_calls, "fit", lambda *a, **k: (time.sleep(0.5), fit(*a, **k))[1])
    client = Client(url, verbose=False, download_files=False)
    cal = client.submit(files(app_images["restored"]), files(app_images["clean"]), "pixel", 3,
                        api_name="/calibrate")
    deadline = time.monotonic() + 30
    while services.admission.counts()["running"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the calibration has started (gradio_client uploads its files first)
    enh = client.submit(handle_file(app_images["image"]), api_name="/enhance")
    assert "W2" in cal.result(timeout=60) and len(enh.result(timeout=60)) == 3


@pytest.fixture(scope="module")
def short_lived(app_images):
    """The app built again with a 2-second state time-to-live and a 100 KB upload limit."""
    services = Services.create(Settings(session_ttl=2, max_file_size="100kb"))
    with serve(pixel_demo(services), services.settings) as url:
        yield url


def test_state_expires_after_its_time_to_live_and_its_files_go(short_lived, app_images):
    client = calibrated(short_lived, app_images, download_files=False)
    outs = client.predict(handle_file(app_images["image"]), api_name="/enhance")
    paths = [Path(o["path"]) for o in outs]
    assert all(p.is_file() for p in paths)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.predict(1.0, api_name="/blend")
        except AppError as exc:
            assert "No image yet" in str(exc)
            break
        time.sleep(0.25)
    else:
        pytest.fail("the session's image outlived its time-to-live")
    deadline = time.monotonic() + 5  # the delete callback runs in Gradio's clean-up loop
    while any(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p.exists() for p in paths)


def test_uploads_beyond_the_size_limit_are_refused(short_lived, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    client = Client(short_lived, verbose=False)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client checks first
        client.predict(handle_file(str(big)), api_name="/enhance")
    with big.open("rb") as fh:  # and the server refuses it whoever sends it
        r = httpx.post(f"{short_lived}gradio_api/upload", files={"files": ("big.png", fh, "image/png")}, timeout=30)
    assert r.status_code == 413 and "maximum" in r.text.lower()


def test_a_sessions_disk_use_is_one_upload_and_one_calibration_whatever_it_replaces(app_images):
    """A new upload or recalibration removes the folder of the one it replaces (not at the 2-hour
    sweep); a ground truth kept on disk (a store of 0 bytes spills everything) survives the move."""
    from webui.files import app_root

    def folders() -> set:
        return {p for p in app_root().iterdir() if p.is_dir()} if app_root().is_dir() else set()

    settings, images = Settings(), ArrayStore(0)
    calibrate, enhance = CalibrationHandlers(settings, images), EnhanceHandlers(settings, images)
    gt = GroundTruthHandlers(settings, images)
    start = folders()
    _, cal, _ = calibrate.calibrate(app_images["restored"], app_images["clean"], "pixel", 3)
    *_, img = enhance.enhance(app_images["image"], 0.5, cal)
    _, _, img = gt.compare_ground_truth(app_images["ground_truth"], 0.5, img)
    mine = folders() - start
    assert len(mine) == 2
    for _ in range(3):  # recalibrate (the upload follows), upload again, load the calibration back
        _, new_cal, img = calibrate.calibrate(app_images["restored"], app_images["clean"], "pixel", 5,
                                              cal_state=cal, img_state=img)
        cal = new_cal
        *_, img = enhance.enhance(app_images["image"], 0.5, cal, img)
        _, _, img = gt.compare_ground_truth(app_images["ground_truth"], 0.5, img)
        _, new_cal, img = calibrate.load_calibration_file(cal.file, img_state=img, cal_state=cal)
        cal = new_cal
        assert len(folders() - start) == 2, folders() - start
    assert img.clean().shape == img.shape  # the ground truth moved with the upload
    assert Path(cal.file).exists() and Path(img.original_png).exists()
