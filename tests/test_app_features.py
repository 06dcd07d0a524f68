"""The page's features through the API (gradio_client) and their handlers: batch enhancement,
the α suggestion of the perception–distortion curve, and the latent's own round trip."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from webui.batch import output_names, parse_alphas


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
    assert output_names(["/a/x.png", "/b/x.jpg", "/c/y.png", "/d/x.webp"]) == ["x", "x-2", "y", "x-3"]


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
    assert "6 PNGs" in report and "2 of 3 images" in report and "broken.png" in report

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
