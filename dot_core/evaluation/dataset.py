"""A test set's perception–distortion table: every image at every α, against its ground truth.

For each pair (restoration x*, ground truth y), matched by file stem, the pipeline transports x*
once (x̂0) and eq. (4) gives x̂α = α·x* + (1 − α)·x̂0 for every α. Each x̂α is measured as
``enhance`` writes it (8-bit PNG) with the project's own metrics: PSNR, SSIM, the texture distance
(:func:`dot_core.quality.metrics.texture_distance`) and the lattice ratio against y
(:func:`dot_core.quality.lattice.lattice_ratio`), and LPIPS where it can run. Two reference rows come
with every image: the restoration x* itself, and the ground truth's round trip D(E(y)), the
fidelity ceiling of the latent. Set-level FID and KID (:mod:`dot_core.quality.perceptual`) are computed
from features kept per image.

Each image's rows and features are saved in ``OUT/parts`` under a key of the settings and the two
files' contents, so a re-run with the same settings skips finished images, and processes of an
``accelerate launch`` each take a shard of the images and the main one gathers one table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..io.images import DEFAULT_MAX_PIXELS, load_image, to_uint8
from ..quality.lattice import lattice_ratio
from ..quality.metrics import psnr, ssim, texture_distance
from ..quality.perceptual import Perceptual, image_features, lpips_distance

__all__ = ["DEFAULT_ALPHAS", "Pairing", "ImageEval", "Evaluation", "pair_by_stem", "settings_hash",
           "evaluate_image", "evaluate_dataset", "row_label"]

DEFAULT_ALPHAS = tuple(-1.0 + 0.25 * i for i in range(13))  # −1, −0.75, …, 2: 0 and 1 included
DEFAULT_LATTICE_PERIOD = 4  # a ×4 upscaler's grid, when the calibration names no restorer's lattice
COLUMNS = ("image", "kind", "alpha", "psnr", "ssim", "texture_distance", "lattice_ratio", "lpips", "settings")


@dataclasses.dataclass(frozen=True)
class Pairing:
    """Restorations and ground truths matched by file stem, and what found no partner."""

    pairs: list[tuple[str, Path, Path]]  # (stem, restored, truth), sorted by stem
    unmatched_restored: list[Path]
    unmatched_truth: list[Path]


@dataclasses.dataclass(frozen=True)
class ImageEval:
    """One image's rows (restoration, every α, round trip) and the features FID/KID need."""

    name: str
    rows: list[dict]
    features: dict[str, np.ndarray]  # row label (and "truth") → (d,) float64; empty without features


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything measured: all rows, the images skipped and why, and the settings they depend on.

    Examples
    --------
    What :func:`evaluate_dataset` returns; here made from one :func:`evaluate_image`:

    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:132, 180:244] / 255.0  # (32, 64, 3) in [0, 1]
    >>> truth, other = photo[:, :32], photo[:, 32:]
    >>> def blur(x):  # a weight-free "restorer"
    ...     return (x + np.roll(x, 1, axis=1)) / 2
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(blur(other)), cal.add_clean(other)
    (900, 900)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> from dot_core import Evaluation, evaluate_image
    >>> one = evaluate_image(pipe, blur(truth), truth, name="crop", alphas=(0.5,))
    >>> ev = Evaluation(images=[one], skipped=[], settings={}, settings_hash="")
    >>> len(ev.rows), ev.rows[0]["image"]
    (3, 'crop')
    """

    images: list[ImageEval]
    skipped: list[str]
    settings: dict
    settings_hash: str

    @property
    def rows(self) -> list[dict]:
        return [r for im in self.images for r in im.rows]


def _by_stem(paths: list[Path], label: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:
        if p.stem in out:
            raise ValueError(f"{label}: {out[p.stem].name} and {p.name} share the name {p.stem!r}; "
                             "pairs are matched by name, so rename one")
        out[p.stem] = p
    return out


def pair_by_stem(restored: list[Path], truth: list[Path]) -> Pairing:
    """Match restorations with ground truths by file stem (``0801.png`` ↔ ``0801.jpg``).

    Raises ``ValueError`` naming the files when nothing pairs, or when two files of one side share a stem.

    Examples
    --------
    >>> from pathlib import Path
    >>> from dot_core import pair_by_stem
    >>> pairing = pair_by_stem([Path("out/0801.png"), Path("out/0802.png")],
    ...                        [Path("gt/0801.jpg"), Path("gt/0900.jpg")])
    >>> [(stem, r.name, t.name) for stem, r, t in pairing.pairs]
    [('0801', '0801.png', '0801.jpg')]
    >>> [p.name for p in pairing.unmatched_restored], [p.name for p in pairing.unmatched_truth]
    (['0802.png'], ['0900.jpg'])
    """
    r, t = _by_stem([Path(p) for p in restored], "restored"), _by_stem([Path(p) for p in truth], "truth")
    common = sorted(r.keys() & t.keys())
    pairing = Pairing(pairs=[(s, r[s], t[s]) for s in common],
                      unmatched_restored=[r[s] for s in sorted(r.keys() - t.keys())],
                      unmatched_truth=[t[s] for s in sorted(t.keys() - r.keys())])
    if not common:
        names = lambda ps: ", ".join(p.name for p in ps[:5]) + (" …" if len(ps) > 5 else "")  # noqa: E731
        raise ValueError(f"no restoration has a ground truth of the same name (restored: "
                         f"{names(pairing.unmatched_restored) or 'none'}; truth: "
                         f"{names(pairing.unmatched_truth) or 'none'}); name each pair alike")
    return pairing


def _calibration_digest(cal) -> str:
    h = hashlib.sha256()
    for m in (cal.source, cal.target):
        if m is not None:
            h.update(str(m.n).encode())
            h.update(m.s1.double().cpu().numpy().tobytes())
            h.update(m.s2.double().cpu().numpy().tobytes())
    h.update(json.dumps(cal.info, sort_keys=True, default=str).encode())
    return h.hexdigest()


def settings_hash(pipeline, *, space: str, period: int, perceptual: Perceptual) -> tuple[dict, str]:
    """The settings every row depends on (α aside: each row carries its own) and their short hash."""
    settings = {"pipeline": pipeline.provenance, "calibration_sha256": _calibration_digest(pipeline.calibration),
                "space": space, "bits": 8, "lattice_period": period, "texture": "texture_distance defaults",
                "features": perceptual.features_name if perceptual.features is not None else None,
                "lpips": "alex" if perceptual.lpips is not None else None}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return settings, digest[:16]


def row_label(kind: str, alpha: float | None) -> str:
    """``"restoration"``, ``"roundtrip"`` or ``"alpha=0.25"``: a row's place in the table."""
    return kind if alpha is None else f"alpha={alpha:g}"


def _as_written(x: np.ndarray) -> np.ndarray:
    """x as an 8-bit PNG of it reads back (``enhance``'s default output)."""
    return to_uint8(x).astype(np.float32) / 255.0


def _measure(x: np.ndarray, y: np.ndarray, period: int, perceptual: Perceptual) -> dict:
    try:
        lattice = lattice_ratio(x, y, period=period)
    except ValueError:  # too small for the lattice's tiles, or a flat ground truth: no figure
        lattice = None
    lp = lpips_distance(perceptual.lpips, x, y) if perceptual.lpips is not None else None
    return {"psnr": psnr(x, y), "ssim": ssim(x, y), "texture_distance": texture_distance(x, y),
            "lattice_ratio": lattice, "lpips": lp}


def evaluate_image(pipeline, x_star: np.ndarray, truth: np.ndarray, *, name: str, alphas, space: str = "pixel",
                   period: int = DEFAULT_LATTICE_PERIOD, perceptual: Perceptual = Perceptual(),
                   settings: str = "") -> ImageEval:
    """Rows for the restoration, x̂α at every α (eq. 4) and the round trip D(E(y)), each against y.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:132, 180:244] / 255.0  # (32, 64, 3) in [0, 1]
    >>> truth, other = photo[:, :32], photo[:, 32:]
    >>> def blur(x):  # a weight-free "restorer"
    ...     return (x + np.roll(x, 1, axis=1)) / 2
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(blur(other)), cal.add_clean(other)
    (900, 900)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> from dot_core import evaluate_image
    >>> ev = evaluate_image(pipe, blur(truth), truth, name="crop", alphas=(0.0,))
    >>> [(row["kind"], row["alpha"]) for row in ev.rows]
    [('restoration', None), ('alpha', 0.0), ('roundtrip', None)]
    >>> [round(row["psnr"], 1) for row in ev.rows]  # x̂0 trades distortion for detail; D(E(y)) = y
    [28.9, 28.6, inf]
    """
    x_star, truth = np.asarray(x_star, np.float32), np.asarray(truth, np.float32)
    if x_star.shape != truth.shape:
        raise ValueError(f"{name}: the restoration is {x_star.shape[1]}×{x_star.shape[0]} but its ground truth "
                         f"{truth.shape[1]}×{truth.shape[0]}; a ground truth must have its restoration's size")
    enhanced = pipeline.enhance(x_star)
    outputs = [("restoration", None, x_star)]
    outputs += [("alpha", float(a), pipeline.blend(enhanced, float(a), space=space)) for a in alphas]
    outputs.append(("roundtrip", None, pipeline.roundtrip(truth)))
    rows, features = [], {}
    for kind, alpha, img in outputs:
        x = _as_written(img)
        rows.append({"image": name, "kind": kind, "alpha": alpha, **_measure(x, truth, period, perceptual),
                     "settings": settings})
        if perceptual.features is not None:
            features[row_label(kind, alpha)] = image_features(perceptual.features, x)
    if perceptual.features is not None:
        features["truth"] = image_features(perceptual.features, truth)
    return ImageEval(name=name, rows=rows, features=features)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_part(folder: Path, name: str, key: str, alphas) -> ImageEval | None:
    """The saved evaluation of ``name`` if it was made with ``key`` and has a row for every α."""
    meta = folder / f"{name}.json"
    if not meta.is_file():
        return None
    try:
        saved = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None  # a half-written part from an interrupted run: measured again
    if saved.get("key") != key:
        return None
    have = {r["alpha"] for r in saved["rows"] if r["kind"] == "alpha"}
    if not all(float(a) in have for a in alphas):
        return None
    features = {}
    if saved.get("features"):
        from safetensors.numpy import load_file

        try:
            features = load_file(str(folder / f"{name}.features.safetensors"))
        except (OSError, ValueError):
            return None
    want = {float(a) for a in alphas}
    rows = [r for r in saved["rows"] if r["kind"] != "alpha" or r["alpha"] in want]
    keep = {row_label(r["kind"], r["alpha"]) for r in rows} | {"truth"}
    return ImageEval(name=name, rows=rows, features={k: v for k, v in features.items() if k in keep})


def _save_part(folder: Path, ev: ImageEval, key: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if ev.features:
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in ev.features.items()},
                  str(folder / f"{ev.name}.features.safetensors"))
    tmp = folder / f".{ev.name}.json.part"
    tmp.write_text(json.dumps({"key": key, "rows": ev.rows, "features": bool(ev.features)}))
    tmp.replace(folder / f"{ev.name}.json")  # last, atomically: a part is either whole or absent


def _image_key(settings: str, restored: Path, truth: Path) -> str:
    return f"{settings}:{_file_digest(restored)}:{_file_digest(truth)}"


def _evaluate_pair(pipeline, stem: str, restored: Path, truth: Path, *, alphas, space: str, period: int,
                   perceptual: Perceptual, settings: str, parts: Path, max_pixels: int) -> ImageEval:
    """One pair's rows: from ``parts`` when measured before with these settings, else measured and saved."""
    key = _image_key(settings, restored, truth)
    done = _load_part(parts, stem, key, alphas)
    if done is not None:
        return done
    x_star = load_image(restored, max_pixels=max_pixels)
    y = load_image(truth, max_pixels=max_pixels)
    ev = evaluate_image(pipeline, x_star, y, name=stem, alphas=alphas, space=space, period=period,
                        perceptual=perceptual, settings=settings)
    _save_part(parts, ev, key)
    return ev


def evaluate_dataset(pipeline, restored, truth, out, *, alphas=DEFAULT_ALPHAS, space: str = "pixel",
                     lattice_period: int | None = None, perceptual: Perceptual = Perceptual(), group=None,
                     max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True) -> Evaluation:
    """Evaluate every restoration of ``restored`` against the ground truth of the same name in ``truth``.

    Parameters
    ----------
    pipeline : DOTPipeline
        The calibration and latent to enhance with (its config: fold kernel, colour fix, seed, noise).
    restored, truth : list of paths
        Image files (``collect_image_paths`` of folders); pairs are matched by stem.
    out : path
        Folder for ``parts/`` (one image's rows and features each): a re-run skips finished images.
    alphas : sequence of float
        Eq. (4)'s α; default −1 to 2 in steps of 0.25.
    space : "pixel" or "latent"
        Where x̂α is interpolated (as ``enhance --space``).
    lattice_period : int, optional
        Period of :func:`lattice_ratio`; default the calibration's restorer's lattice, else 4.
    perceptual : Perceptual
        FID/KID features and LPIPS (:func:`dot_core.quality.perceptual.load_perceptual`); default none.
    group : ProcessGroup, optional
        Under ``accelerate launch``, each process measures a shard and all gather every image.

    Returns
    -------
    Evaluation
        All images' rows, in stem order, on every process; use :mod:`dot_core.evaluation.report` to write them.

    Examples
    --------
    A restoration and its ground truth written to a folder, then evaluated:

    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:132, 180:244] / 255.0  # (32, 64, 3) in [0, 1]
    >>> truth, other = photo[:, :32], photo[:, 32:]
    >>> def blur(x):  # a weight-free "restorer"
    ...     return (x + np.roll(x, 1, axis=1)) / 2
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(blur(other)), cal.add_clean(other)
    (900, 900)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> import os, tempfile
    >>> from dot_core import evaluate_dataset, save_image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     restored = save_image(os.path.join(folder, "restored", "0801.png"), blur(truth))
    ...     gt = save_image(os.path.join(folder, "truth", "0801.png"), truth)
    ...     ev = evaluate_dataset(pipe, [restored], [gt], os.path.join(folder, "evaluation"),
    ...                           alphas=(0.5,), progress=False)
    >>> [im.name for im in ev.images], ev.skipped
    (['0801'], [])
    >>> [(row["kind"], row["alpha"]) for row in ev.rows]
    [('restoration', None), ('alpha', 0.5), ('roundtrip', None)]
    """
    from ..calibration.distributed import ProcessGroup

    group = group or ProcessGroup()
    alphas = [float(a) for a in alphas]
    if not alphas or not all(math.isfinite(a) for a in alphas):
        raise ValueError(f"alphas: give at least one finite α, got {alphas!r}")
    period = lattice_period or pipeline.calibration.restoration_lattice or DEFAULT_LATTICE_PERIOD
    pairing = pair_by_stem(restored, truth)
    settings, digest = settings_hash(pipeline, space=space, period=period, perceptual=perceptual)
    parts = Path(out) / "parts"
    mine, skipped = [], []
    work = group.shard(pairing.pairs)
    for stem, r_path, t_path in tqdm(work, desc="evaluating", unit="image",
                                     disable=None if (progress and group.is_main) else True):
        try:
            mine.append(_evaluate_pair(pipeline, stem, r_path, t_path, alphas=alphas, space=space, period=period,
                                       perceptual=perceptual, settings=digest, parts=parts, max_pixels=max_pixels))
        except (ValueError, MemoryError) as exc:
            skipped.append(str(exc) if str(exc).startswith(stem) else f"{r_path.name}: {exc}")
    shards = group.gather((mine, skipped))
    images = sorted((ev for sh in shards for ev in sh[0]), key=lambda ev: ev.name)
    skipped = [s for sh in shards for s in sh[1]]
    skipped += [f"{p.name}: no ground truth of that name" for p in pairing.unmatched_restored]
    skipped += [f"{p.name}: no restoration of that name" for p in pairing.unmatched_truth]
    return Evaluation(images=images, skipped=skipped, settings=settings, settings_hash=digest)
