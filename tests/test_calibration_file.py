"""Calibration files: round trip, and everything that is not one of ours is refused."""

import json
import os
import pickle
import struct

import pytest
import torch
from conftest import bicubic_x4, photo
from safetensors.torch import save_file

from dot_core import Calibrator, DOTPipeline, load_calibration, load_encoder, save_calibration
from dot_core.calibration.files import MAX_CALIBRATION_BYTES


@pytest.fixture(scope="module")
def calibration():
    cal = Calibrator(load_encoder("pixel"), 3)
    cal.add_restored(bicubic_x4(photo("astronaut", 64)))
    cal.add_clean(photo("chelsea", 64))
    return cal.fit()


def test_calibration_round_trip(tmp_path, calibration):
    path = save_calibration(calibration, tmp_path / "cal.safetensors")
    back = load_calibration(path)
    assert (back.encoder, back.patch_size, back.channels, back.mode) == ("pixel", 3, 3, "unpaired")
    assert back.source.n == calibration.source.n and back.target.n == calibration.target.n
    torch.testing.assert_close(back.operator.T, calibration.operator.T)
    assert back.w2 == pytest.approx(calibration.w2)
    assert back.info["n_restored_images"] == 1


def test_calibration_metadata_is_json_with_provenance(tmp_path, calibration):
    from safetensors import safe_open

    path = save_calibration(calibration, tmp_path / "cal.safetensors")
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    assert meta["format"] == "dot-calibration" and meta["encoder"] == "pixel"
    assert float(meta["w2"]) == pytest.approx(calibration.w2)
    assert "dot_core" in meta["library"] and json.loads(meta["info"])["n_clean_images"] == 1


def test_read_writer_names_the_versions_that_wrote_a_file(tmp_path, calibration):
    import dot_core
    from dot_core.calibration.files import read_writer

    path = save_calibration(calibration, tmp_path / "cal.safetensors")
    made = read_writer(path)
    assert made["library"] == f"dot_core {dot_core.__version__}; torch {torch.__version__}"
    assert made["created"][:4].isdigit() and "T" in made["created"]  # ISO 8601, UTC
    (tmp_path / "other.safetensors").write_bytes(b"not a calibration")
    with pytest.raises(ValueError, match="other.safetensors: not a usable DOT calibration"):
        read_writer(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="no such calibration file"):
        read_writer(tmp_path / "missing.safetensors")


def test_zero_shot_calibration_round_trip(tmp_path):
    cal = Calibrator(load_encoder("pixel"), 2, mode="zero-shot")
    cal.add_clean(photo("coffee", 32))
    back = load_calibration(save_calibration(cal.fit(), tmp_path / "zs.safetensors"))
    assert back.mode == "zero-shot" and back.source is None and back.operator is None


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch"])
def test_pickle_is_refused_and_its_payload_never_runs(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    if how == "pickle":
        path.write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save({"x": Payload(marker)}, path)
    with pytest.raises(ValueError, match="evil.safetensors"):
        load_calibration(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\x00" * 7, struct.pack("<Q", 10**12) + b"{}", struct.pack("<Q", 2) + b"[]"]
)
def test_garbage_is_refused(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_calibration(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no such calibration file"):
        load_calibration(tmp_path / "nope.safetensors")


def test_plain_safetensors_without_our_metadata_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="format"):
        load_calibration(path)


def _tamper(tmp_path, calibration, tensors=None, meta=None):
    from safetensors import safe_open
    from safetensors.torch import load_file

    src = save_calibration(calibration, tmp_path / "src.safetensors")
    with safe_open(str(src), "pt") as fh:
        metadata = dict(fh.metadata())
    data = load_file(str(src))
    data.update(tensors or {})
    metadata.update(meta or {})
    out = tmp_path / "tampered.safetensors"
    save_file({k: v for k, v in data.items() if v is not None}, str(out), metadata=metadata)
    return out


@pytest.mark.parametrize(
    "tensors, meta, match",
    [
        ({"target.s2": torch.full((27, 27), float("nan"), dtype=torch.float64)}, None, "NaN"),
        ({"source.s1": torch.zeros(5, dtype=torch.float64)}, None, "expected"),
        ({"source.s1": torch.zeros(27, dtype=torch.float32)}, None, "expected"),
        ({"target.n": torch.tensor(1)}, None, "below 2"),
        ({"extra": torch.zeros(1)}, None, "unexpected tensors"),
        (None, {"patch_size": "99"}, "patch_size"),
        (None, {"channels": "three"}, "channels"),
        (None, {"mode": "magic"}, "mode"),
        (None, {"format_version": "7"}, "version"),
        (None, {"info": "{broken"}, "malformed"),
        (None, {"info": json.dumps({"restoration_lattice": 1})}, "malformed 'restoration_lattice'"),
        (None, {"info": json.dumps({"restoration_lattice": "4"})}, "malformed 'restoration_lattice'"),
    ],
)
def test_tampered_calibration_is_refused(tmp_path, calibration, tensors, meta, match):
    with pytest.raises(ValueError, match=match):
        load_calibration(_tamper(tmp_path, calibration, tensors, meta))


def test_restoration_lattice_survives_the_file(tmp_path):
    cal = Calibrator(load_encoder("detail"), 5, restoration_lattice=4)
    cal.add_restored(bicubic_x4(photo("astronaut", 64)))
    cal.add_clean(photo("chelsea", 64))
    back = load_calibration(save_calibration(cal.fit(), tmp_path / "x4.safetensors"))
    assert back.restoration_lattice == 4
    plain = Calibrator(load_encoder("detail"), 5)
    plain.add_restored(bicubic_x4(photo("astronaut", 64)))
    plain.add_clean(photo("chelsea", 64))
    assert load_calibration(save_calibration(plain.fit(), tmp_path / "plain.safetensors")).restoration_lattice is None


def test_negative_definite_covariance_is_refused(tmp_path, calibration):
    s2 = calibration.source.s2.clone()
    s2 -= 10 * torch.eye(27, dtype=torch.float64) * s2.diagonal().max()
    with pytest.raises(ValueError, match="positive semi-definite"):
        load_calibration(_tamper(tmp_path, calibration, {"source.s2": s2}))


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "huge.safetensors"
    with path.open("wb") as fh:
        fh.truncate(MAX_CALIBRATION_BYTES + 1)
    with pytest.raises(ValueError, match="limit"):
        load_calibration(path)


def test_calibration_for_another_patch_size_or_encoder_is_refused(tmp_path, calibration, tiny_kl_dir):
    back = load_calibration(save_calibration(calibration, tmp_path / "cal.safetensors"))
    with pytest.raises(ValueError, match="calibrate again"):
        DOTPipeline(load_encoder(str(tiny_kl_dir)), back)


@pytest.mark.parametrize("eps", [1.0, 7.5])
def test_any_eps_a_calibrator_takes_survives_the_file(tmp_path, eps):
    """ε is relative to the mean eigenvalue of Σs: ε ≥ 1 is strong regularisation, not an error."""
    c = Calibrator(load_encoder("pixel"), 3, eps=eps)
    c.add_restored(bicubic_x4(photo("astronaut", 48)))
    c.add_clean(photo("chelsea", 48))
    cal = c.fit()
    back = load_calibration(save_calibration(cal, tmp_path / "e.safetensors"))
    assert back.eps == eps
    torch.testing.assert_close(back.operator.T, cal.operator.T)


def test_save_refuses_what_load_would_refuse_by_size_before_writing(tmp_path):
    from dot_core import Calibration, PatchMoments
    from dot_core.calibration.files import calibration_file_bytes, check_savable

    d = 3000  # zero-shot: one d × d float64 sum, 69 MiB
    m = PatchMoments(d, n=10, s1=torch.zeros(d, dtype=torch.float64), s2=torch.eye(d, dtype=torch.float64))
    cal = Calibration(encoder="pixel", channels=3000, factor=1, patch_size=1, mode="zero-shot", target=m)
    with pytest.raises(ValueError, match="MiB"):
        save_calibration(cal, tmp_path / "big.safetensors")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="smaller patch size"):
        check_savable(32 * 7 * 7)  # taef2 (32 channels) at p = 7
    check_savable(32 * 6 * 6)
    assert calibration_file_bytes(32 * 6 * 6) <= MAX_CALIBRATION_BYTES


def test_save_into_a_folder_is_an_os_error_naming_it(tmp_path, calibration):
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(IsADirectoryError, match="dir.safetensors"):
        save_calibration(calibration, tmp_path / "dir.safetensors")
