"""A bounded fuzz run over the calibration loader: files from strangers.

Starting from a real calibration (pixel latent, 2×2 patches, d = 12), Hypothesis writes mutated
bytes, forged header lengths (giant ones included), random JSON headers, nested-JSON bombs,
non-dict and non-string metadata, wrong dtypes and shapes and non-finite values. The only
acceptable outcomes are a ``ValueError`` naming the file, or a calibration whose operator is
finite. Nothing is ever unpickled.
"""
import json
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dot_core import Calibrator, load_calibration, load_encoder, save_calibration

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NAME = "stranger.safetensors"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Bytes of a real calibration file, its parsed header and its tensor buffer."""
    rng = np.random.default_rng(0)
    cal = Calibrator(load_encoder("pixel"), 2)
    cal.add_restored(rng.random((12, 12, 3), dtype=np.float32))
    cal.add_clean(rng.random((12, 12, 3), dtype=np.float32))
    raw = save_calibration(cal.fit(), tmp_path_factory.mktemp("real") / "cal.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, json.loads(raw[8:8 + n]), raw[8 + n:]


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _pack(header, body: bytes) -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + body


def _load_or_refuse(folder: Path, content: bytes) -> None:
    path = folder / NAME
    path.write_bytes(content)
    try:
        cal = load_calibration(path)
    except ValueError as exc:
        assert NAME in str(exc), exc
    else:
        assert cal.operator is None or torch.isfinite(cal.operator.T).all()
        cal.summary()  # what the app shows must not fail either


positions = st.one_of(st.integers(0, 15), st.integers(0, 1 << 14))
byte_edits = st.lists(st.tuples(st.sampled_from(["flip", "set", "delete", "truncate"]), positions,
                                st.integers(0, 255)), min_size=1, max_size=6)


@FUZZ
@given(ops=byte_edits)
def test_fuzz_mutated_bytes(real, folder, ops):
    b = bytearray(real[0])
    for op, pos, arg in ops:
        if not b:
            break
        i = pos % len(b)
        if op == "flip":
            b[i] ^= 1 << (arg % 8)
        elif op == "set":
            b[i] = arg
        elif op == "delete":
            del b[i:i + 1 + arg % 16]
        else:
            del b[i:]
    _load_or_refuse(folder, bytes(b))


@FUZZ
@given(length=st.one_of(st.sampled_from([0, 1, 2, 7, 2**20 + 1, 2**31, 2**63, 2**64 - 1]),
                        st.integers(0, 2**64 - 1)))
def test_fuzz_declared_header_length(real, folder, length):
    _load_or_refuse(folder, struct.pack("<Q", length) + real[0][8:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
META_KEYS = ["format", "format_version", "encoder", "channels", "factor", "patch_size", "mode",
             "method", "eps", "w2", "info"]


@FUZZ
@given(key=st.sampled_from(META_KEYS), value=json_values)
def test_fuzz_metadata_values_of_any_json_type(real, folder, key, value):
    header = json.loads(json.dumps(real[1]))
    header["__metadata__"][key] = value
    _load_or_refuse(folder, _pack(json.dumps(header, allow_nan=True).encode(), real[2]))


@FUZZ
@given(key=st.sampled_from(META_KEYS), text=st.one_of(
    st.text(max_size=40), st.sampled_from(["NaN", "inf", "-inf", "1e400", "-1", "0", "1" * 5000, "٣",
                                           "{}", "[]", '{"warnings": 3}', '{"n_clean_images": "x"}',
                                           '{"warnings": [1, 2]}', '{"pair_psnr_db": true}'])))
def test_fuzz_metadata_strings(real, folder, key, text):
    header = json.loads(json.dumps(real[1]))
    header["__metadata__"][key] = text
    _load_or_refuse(folder, _pack(header, real[2]))


@FUZZ
@given(meta=json_values)
def test_fuzz_metadata_that_is_not_a_dict(real, folder, meta):
    header = json.loads(json.dumps(real[1]))
    header["__metadata__"] = meta
    _load_or_refuse(folder, _pack(header, real[2]))


@FUZZ
@given(header=json_values)
def test_fuzz_random_headers(real, folder, header):
    _load_or_refuse(folder, _pack(json.dumps(header, allow_nan=True).encode(), real[2]))


@pytest.mark.parametrize("where", ["header", "metadata", "info"])
@pytest.mark.parametrize("depth", [50, 5_000, 200_000])
def test_nested_json_bombs_are_refused(real, folder, where, depth):
    bomb = "[" * depth + "]" * depth
    header = json.loads(json.dumps(real[1]))
    if where == "header":
        content = _pack(b'{"__metadata__": ' + bomb.encode() + b"}", real[2])
    elif where == "metadata":
        header["__metadata__"]["encoder"] = json.loads("[" * 50 + "]" * 50)
        content = _pack(json.dumps(header).encode()[:-1] + b', "x": ' + bomb.encode() + b"}", real[2])
    else:
        header["__metadata__"]["info"] = bomb
        content = _pack(header, real[2])
    with pytest.raises(ValueError, match=NAME):
        load_calibration(_write(folder, content))


def _write(folder: Path, content: bytes) -> Path:
    path = folder / NAME
    path.write_bytes(content)
    return path


TENSORS = ["target.n", "target.s1", "target.s2", "source.n", "source.s1", "source.s2", "operator.T"]


@FUZZ
@given(tensor=st.sampled_from(TENSORS),
       dtype=st.sampled_from(["F64", "F32", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F8_E4M3", "XX", 7]),
       shape=st.one_of(st.none(), st.lists(st.integers(0, 40), max_size=3)),
       offsets=st.one_of(st.none(), st.tuples(st.integers(0, 2**40), st.integers(0, 2**40))))
def test_fuzz_tensor_entries(real, folder, tensor, dtype, shape, offsets):
    header = json.loads(json.dumps(real[1]))
    header[tensor]["dtype"] = dtype
    if shape is not None:
        header[tensor]["shape"] = shape
    if offsets is not None:
        header[tensor]["data_offsets"] = list(offsets)
    _load_or_refuse(folder, _pack(header, real[2]))


@FUZZ
@given(index=st.integers(0, 10_000), value=st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 1e-308, 0.0, 1e154, -1e154]))
def test_fuzz_tensor_values(real, folder, index, value):
    body = bytearray(real[2])
    i = (index * 8) % (len(body) - 7)
    body[i:i + 8] = struct.pack("<d", value)
    _load_or_refuse(folder, _pack(real[1], bytes(body)))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickles_of_every_protocol_are_refused_and_never_run(folder, protocol):
    class Payload:
        def __reduce__(self):
            return (Path.touch, (folder / "pwned",))
    content = pickle.dumps({"target.n": Payload()}, protocol=protocol)
    with pytest.raises(ValueError, match=NAME):
        load_calibration(_write(folder, content))
    assert not (folder / "pwned").exists()


def test_fuzz_seed_loads(real, folder):
    assert load_calibration(_write(folder, real[0])).operator is not None
