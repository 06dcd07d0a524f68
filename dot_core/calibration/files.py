"""Calibration files: safetensors tensors plus JSON metadata. Never pickle.

A calibration may come from a stranger, so loading parses nothing but the safetensors format
(a JSON header and raw little-endian buffers), then checks every tensor name, shape, dtype and
value and every metadata field before building a :class:`Calibration`. The operator is refitted
from the stored moments, so a file cannot smuggle in an operator that disagrees with them.

Tensors: ``target.n`` (int64, ()), ``target.s1`` (float64, (d,)), ``target.s2`` (float64, (d, d)),
the same for ``source.`` unless zero-shot, and for reference ``operator.T``, ``operator.mu_s``,
``operator.mu_t`` (and ``operator.noise_cov`` for a singular source). Optional (files written
before them lack them): ``content.source.counts`` / ``.s1`` / ``.sq`` and the same for
``content.target.`` (:class:`dot_core.calibration.content.ContentStats`), and the metadata ``match_content``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import struct
from datetime import datetime, timezone
from pathlib import Path

import torch

from .._version import __version__
from ..ot.moments import PatchMoments
from .checks import MAX_RESTORATION_LATTICE, MODES
from .content import N_BINS, ContentStats
from .result import Calibration

__all__ = ["FORMAT", "MAX_CALIBRATION_BYTES", "calibration_file_bytes", "check_savable", "save_calibration",
           "load_calibration", "read_writer"]

FORMAT = "dot-calibration"
FORMAT_VERSION = 1
MAX_CALIBRATION_BYTES = 64 * 1024 * 1024
MAX_DIM = 4096
MAX_HEADER_BYTES = 1 << 20  # the loader's limit on the JSON header (names, shapes, metadata)
_METHODS = ("auto", "deterministic", "stochastic")


def calibration_file_bytes(dim: int, *, mode: str = "unpaired", method: str = "auto") -> int:
    """The most bytes a calibration of patch dimension d = C·p² can take on disk.

    float64 tensors: n, S1 (d) and S2 (d × d) per set (one set in zero-shot mode), the operator's
    T (d × d) and means, and Σw (d × d) unless the operator is deterministic; plus the header.
    """
    d, sets = dim, 1 if mode == "zero-shot" else 2
    square = sets + (0 if mode == "zero-shot" else 1 + (method != "deterministic"))
    vectors = sets + (0 if mode == "zero-shot" else 2)
    return 8 * (sets + vectors * d + square * d * d) + MAX_HEADER_BYTES


def check_savable(dim: int, *, mode: str = "unpaired", method: str = "auto") -> None:
    """Refuse, before any work, a calibration whose file could exceed what :func:`load_calibration`
    reads (``MAX_CALIBRATION_BYTES``): what can be saved can be loaded."""
    size = calibration_file_bytes(dim, mode=mode, method=method)
    if size > MAX_CALIBRATION_BYTES:
        raise ValueError(
            f"patch dimension d = C·p² = {dim} makes a calibration file of up to {size / 2**20:.0f} MiB, over "
            f"the {MAX_CALIBRATION_BYTES / 2**20:.0f} MiB calibration files are limited to; use a smaller "
            "patch size")


def save_calibration(cal: Calibration, path: str | os.PathLike) -> Path:
    """Write ``cal`` to ``path`` (``.safetensors``); returns the path.

    Refuses (``ValueError``) a calibration :func:`load_calibration` would refuse for its size, and
    writes a temporary file first, so ``path`` is never left half-written; a disk error (a folder
    at ``path``, no space) is an ``OSError`` naming the path.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from dot_core import Calibrator, load_calibration, load_encoder, save_calibration
    >>> clean = np.random.default_rng(0).random((24, 24, 3))
    >>> cal = Calibrator(load_encoder("pixel", device="cpu"), patch_size=3)
    >>> cal.add_restored(clean ** 2), cal.add_clean(clean)
    (484, 484)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_calibration(cal.fit(), os.path.join(folder, "pixel-p3.safetensors"))
    ...     print(path.name, load_calibration(path).patch_size)
    pixel-p3.safetensors 3
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for role, m in (("target", cal.target), ("source", cal.source)):
        if m is not None:
            tensors[f"{role}.n"] = torch.tensor(m.n, dtype=torch.int64)
            tensors[f"{role}.s1"] = m.s1.detach().cpu().contiguous()
            tensors[f"{role}.s2"] = m.s2.detach().cpu().contiguous()
    for role, c in (("source", cal.content_source), ("target", cal.content_target)):
        if c is not None:
            tensors.update({f"content.{role}.counts": c.counts, f"content.{role}.s1": c.s1, f"content.{role}.sq": c.sq})
    op = cal.operator
    if op is not None:
        tensors.update({"operator.T": op.T, "operator.mu_s": op.mu_s, "operator.mu_t": op.mu_t})
        if op.noise_cov is not None:
            tensors["operator.noise_cov"] = op.noise_cov
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "encoder": cal.encoder,
        "channels": str(cal.channels),
        "factor": str(cal.factor),
        "patch_size": str(cal.patch_size),
        "mode": cal.mode,
        "method": cal.method,
        "eps": repr(cal.eps),
        "w2": "" if cal.w2 is None else repr(cal.w2),
        "info": json.dumps(cal.info),
        "library": f"dot_core {__version__}; torch {torch.__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if cal.match_content:  # absent means off, as in files written before the content match
        meta["match_content"] = "1"
    path = Path(path)
    size = sum(t.numel() * t.element_size() for t in tensors.values()) + len(json.dumps(meta)) + 8 * 1024
    if size > MAX_CALIBRATION_BYTES or len(json.dumps(meta)) > MAX_HEADER_BYTES // 2:
        raise ValueError(f"{path.name}: this calibration ({size / 2**20:.1f} MiB) is over the "
                         f"{MAX_CALIBRATION_BYTES / 2**20:.0f} MiB calibration files are limited to; "
                         "use a smaller patch size")
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        save_file(tensors, str(part), metadata=meta)
        os.replace(part, path)
    except SafetensorError as exc:  # safetensors reports its I/O failures as its own error
        raise OSError(errno.EIO, str(exc), str(path)) from None
    finally:
        part.unlink(missing_ok=True)
    return path


def _fail(name: str, why: str) -> ValueError:
    return ValueError(f"{name}: not a usable DOT calibration file: {why}")


def _read_header(path: Path, name: str) -> tuple[dict, dict]:
    size = path.stat().st_size
    if size > MAX_CALIBRATION_BYTES:
        raise _fail(name, f"{size / 2**20:.1f} MiB is over the {MAX_CALIBRATION_BYTES / 2**20:.0f} MiB limit")
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _fail(name, "file is too short to be safetensors")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > size - 8 or n > MAX_HEADER_BYTES:
            raise _fail(name, "it is not a safetensors file (bad header length; pickles are never loaded)")
        header = _parse_json(fh.read(n), name, "its safetensors header")
    if not isinstance(header, dict):
        raise _fail(name, "its safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(name, f"its metadata does not say format={FORMAT!r}")
    if not all(isinstance(v, str) for v in meta.values()):  # the safetensors format: str -> str
        raise _fail(name, "its metadata values are not all strings")
    return header, meta


def _parse_json(raw: bytes | str, name: str, what: str):
    """``json.loads`` whose every failure, deep-nesting bombs included, is a ValueError."""
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except RecursionError:
        raise _fail(name, f"{what} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(name, f"{what} is malformed JSON ({exc})") from None


def _check_info(info: dict, name: str) -> None:
    """The ``info`` fields the engine reads must have the types it expects (summary, merge)."""
    def is_count(v):
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53

    checks = {
        "n_restored_images": is_count,
        "n_clean_images": is_count,
        "n_skipped_restored": is_count,
        "n_skipped_clean": is_count,
        "n_pairs": is_count,
        "warnings": lambda v: isinstance(v, list) and all(isinstance(w, str) for w in v),
        "pair_psnr_db": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "mode_reason": lambda v: isinstance(v, str),  # how the mode was chosen (dot_core.calibration.pairing)
        "restoration_lattice_origin": lambda v: v == "found",  # found by restorer_grid (absent: given)
        "restoration_lattice_search": lambda v: isinstance(v, str),  # the evidence restorer_grid weighed
        # the latent space's settings (Encoder.describe()), compared by pipeline.check_compatible
        # the restorer's lattice period (Calibration.restoration_lattice), read by the pipeline
        "restoration_lattice": lambda v: v is None or (is_count(v) and 2 <= v <= MAX_RESTORATION_LATTICE),
        "encoder_config": lambda v: isinstance(v, dict) and all(
            isinstance(k, str) and (v[k] is None or isinstance(v[k], (str, int, float, bool))) for k in v),
    }
    for key, ok in checks.items():
        if key in info and not ok(info[key]):
            raise _fail(name, f"metadata field 'info' has a malformed {key!r}")


def _meta_int(meta: dict, key: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(meta[key])
    except (KeyError, TypeError, ValueError):
        raise _fail(name, f"metadata field {key!r} is missing or not an integer") from None
    if not lo <= value <= hi:
        raise _fail(name, f"metadata field {key!r} = {value} is outside [{lo}, {hi}]")
    return value


def _tensor(tensors: dict, key: str, shape: tuple, dtype: torch.dtype, name: str) -> torch.Tensor:
    if key not in tensors:
        raise _fail(name, f"tensor {key!r} is missing")
    t = tensors[key]
    if t.dtype != dtype or tuple(t.shape) != shape:
        raise _fail(name, f"tensor {key!r} is {t.dtype} {tuple(t.shape)}, expected {dtype} {shape}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise _fail(name, f"tensor {key!r} contains NaN or Inf")
    return t


def _moments(tensors: dict, role: str, d: int, name: str) -> PatchMoments:
    n = int(_tensor(tensors, f"{role}.n", (), torch.int64, name))
    if n < 2:
        raise _fail(name, f"{role} sample count {n} is below 2")
    s1 = _tensor(tensors, f"{role}.s1", (d,), torch.float64, name)
    s2 = _tensor(tensors, f"{role}.s2", (d, d), torch.float64, name)
    m = PatchMoments(d, n=n, s1=s1.clone(), s2=s2.clone())
    C = m.covariance
    if not torch.isfinite(C).all():  # finite sums can still overflow: S2 − n·μμᵀ
        raise _fail(name, f"{role} moments give a covariance with NaN or Inf")
    try:
        psd = torch.allclose(C, C.T, rtol=1e-6, atol=1e-12) and bool(
            torch.linalg.eigvalsh(C).min() >= -1e-6 * C.diagonal().abs().max()
        )
    except RuntimeError:  # torch.linalg.LinAlgError: eigh did not converge
        psd = False
    if not psd:
        raise _fail(name, f"{role} moments do not give a positive semi-definite covariance")
    return m


def _content(tensors: dict, role: str, d: int, name: str) -> ContentStats | None:
    """A set's per-bin content statistics, or None when the file has none (written before them)."""
    if f"content.{role}.counts" not in tensors:
        return None
    counts = _tensor(tensors, f"content.{role}.counts", (N_BINS,), torch.float64, name)
    s1 = _tensor(tensors, f"content.{role}.s1", (N_BINS, d), torch.float64, name)
    sq = _tensor(tensors, f"content.{role}.sq", (N_BINS,), torch.float64, name)
    if bool((counts < 0).any()) or bool((sq < 0).any()) or not torch.equal(counts, counts.round()):
        raise _fail(name, f"content.{role} counts or energies are negative or not whole")
    return ContentStats(d, counts.clone(), s1.clone(), sq.clone())


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read and validate a calibration file; every problem is a ``ValueError`` naming the file.

    Examples
    --------
    A calibration read back is the one written, operator included:

    >>> import os, tempfile
    >>> import numpy as np
    >>> import torch
    >>> from dot_core import Calibrator, load_calibration, load_encoder, save_calibration
    >>> clean = np.random.default_rng(0).random((24, 24, 3))
    >>> cal = Calibrator(load_encoder("pixel", device="cpu"), patch_size=3)
    >>> cal.add_restored(clean ** 2), cal.add_clean(clean)
    (484, 484)
    >>> written = cal.fit()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     read = load_calibration(save_calibration(written, os.path.join(folder, "c.safetensors")))
    >>> read.encoder, read.mode, torch.equal(read.operator.T, written.operator.T)
    ('pixel', 'unpaired', True)
    >>> load_calibration("missing.safetensors")
    Traceback (most recent call last):
    ...
    ValueError: missing.safetensors: no such calibration file
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ValueError(f"{path}: no such calibration file")
    header, meta = _read_header(path, name)
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise _fail(name, f"format version {meta.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    channels = _meta_int(meta, "channels", name, 1, 256)
    patch = _meta_int(meta, "patch_size", name, 1, 16)
    factor = _meta_int(meta, "factor", name, 1, 64)
    d = channels * patch * patch
    if d > MAX_DIM:
        raise _fail(name, f"patch dimension {d} is over the limit of {MAX_DIM}")
    mode, method, encoder = meta.get("mode"), meta.get("method"), meta.get("encoder")
    if mode not in MODES or method not in _METHODS:
        raise _fail(name, f"mode {mode!r} / method {method!r} not recognised")
    if not isinstance(encoder, str) or not encoder or len(encoder) > 512:
        raise _fail(name, "metadata field 'encoder' is missing")
    try:
        eps = float(meta.get("eps", "1e-9"))
    except ValueError as exc:
        raise _fail(name, f"metadata is malformed ({exc})") from None
    info = _parse_json(meta.get("info", "{}"), name, "metadata field 'info'")
    if not (math.isfinite(eps) and eps >= 0) or not isinstance(info, dict):  # ot.gaussian_maps.check_eps
        raise _fail(name, "metadata fields 'eps' or 'info' are malformed")
    _check_info(info, name)
    allowed = {f"{r}.{k}" for r in ("target", "source") for k in ("n", "s1", "s2")}
    allowed |= {"operator.T", "operator.mu_s", "operator.mu_t", "operator.noise_cov"}
    allowed |= {f"content.{r}.{k}" for r in ("source", "target") for k in ("counts", "s1", "sq")}
    unknown = set(header) - allowed
    if unknown:
        raise _fail(name, f"unexpected tensors {sorted(unknown)[:5]}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _fail(name, f"safetensors could not read it ({exc})") from exc
    target = _moments(tensors, "target", d, name)
    source = None if mode == "zero-shot" else _moments(tensors, "source", d, name)
    if meta.get("match_content", "0") not in ("0", "1"):
        raise _fail(name, f"metadata field 'match_content' is {meta.get('match_content')!r}, expected '0' or '1'")
    try:
        cal = Calibration(
            encoder=encoder, channels=channels, factor=factor, patch_size=patch, mode=mode,
            target=target, source=source, method=method, eps=eps, info=info,
            content_source=_content(tensors, "source", d, name), content_target=_content(tensors, "target", d, name),
            match_content=meta.get("match_content") == "1",
        )
    except (ValueError, RuntimeError) as exc:  # RuntimeError: torch.linalg did not converge
        raise _fail(name, f"no operator can be fitted to its moments ({exc})") from None
    if cal.operator is not None and not torch.isfinite(cal.operator.T).all():
        raise _fail(name, "its moments give a non-finite operator")
    return cal


def read_writer(path: str | os.PathLike) -> dict[str, str]:
    """Who wrote a calibration file and when: ``{"library": ..., "created": ...}`` from its metadata.

    Reads the header only (see :func:`load_calibration` for the full check); a field the file
    does not record is ``""``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such calibration file")
    _, meta = _read_header(path, path.name)
    return {key: meta.get(key, "") for key in ("library", "created")}
