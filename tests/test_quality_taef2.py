"""The quality report's taef2 rows: when they are skipped and what counts as a met target."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import quality_taef2  # noqa: E402


def _rows(psnr0, texture0, texture_m1=0.1):
    return {1.0: {"psnr": 30.0, "texture": 0.2}, 0.5: {"psnr": 29.5, "texture": 0.17},
            0.0: {"psnr": psnr0, "texture": texture0}, -0.5: {"psnr": 27.0, "texture": 0.12},
            -1.0: {"psnr": 26.0, "texture": texture_m1}}


def test_missing_reason_names_the_folder_and_the_fix(tmp_path):
    absent = tmp_path / "nowhere"
    assert str(absent) in quality_taef2.missing_reason(absent) and "DOT_TEST_WEIGHTS" in quality_taef2.missing_reason(absent)
    (tmp_path / "taef2_encoder.safetensors").write_bytes(b"")
    assert "_decoder" in quality_taef2.missing_reason(tmp_path)  # half a pair is not a latent
    (tmp_path / "taef2_decoder.safetensors").write_bytes(b"")
    assert quality_taef2.missing_reason(tmp_path) is None


def test_weights_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DOT_TEST_WEIGHTS", str(tmp_path))
    assert quality_taef2.weights_folder() == tmp_path


@pytest.mark.parametrize("psnr0, texture0, met", [
    (28.5, 0.13, {"psnr0": True, "texture0": True}),   # −1.5 dB, 0.65×
    (27.9, 0.13, {"psnr0": False, "texture0": True}),  # −2.1 dB
    (29.0, 0.15, {"psnr0": True, "texture0": False}),  # 0.75×
])
def test_taef2_targets_at_alpha_zero(psnr0, texture0, met):
    got = quality_taef2.taef2_targets(_rows(psnr0, texture0))
    assert {k: got[k] for k in met} == met and got["monotone"]


def test_taef2_targets_monotone_fails_when_texture_rises():
    assert not quality_taef2.taef2_targets(_rows(28.5, 0.13, texture_m1=0.15))["monotone"]
