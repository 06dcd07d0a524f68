"""Merging two calibrations: one calibration over the images of both.

Moments add (:meth:`~dot_core.ot.moments.PatchMoments.merge`) and the operator is refitted; the
counts add, the warnings that follow from counts and the pairs' PSNR are recomputed for the
merged sets, other warnings (resolution) are kept once.
"""

from __future__ import annotations

from dataclasses import replace

from .checks import count_warnings, psnr_db

__all__ = ["merge"]

# what makes two sets of moments comparable and the operator the same: the latent and its settings
# (e.g. detail's σ), the patches, the mode, ε, the method, the restorer's lattice and the content match
_SETTINGS = ("encoder", "channels", "factor", "patch_size", "mode", "eps", "method", "restoration_lattice",
             "match_content")
_COUNTS = ("n_restored_images", "n_clean_images", "n_skipped_restored", "n_skipped_clean")


def _settings(cal) -> dict:
    return {**{k: getattr(cal, k) for k in _SETTINGS}, "encoder_config": cal.info.get("encoder_config")}


def merge(a, b):
    """One :class:`~dot_core.calibration.result.Calibration` over the images of ``a`` and ``b``.

    Raises ValueError naming every setting in which they differ.
    """
    mine, theirs = _settings(a), _settings(b)
    diff = [k for k in mine if mine[k] != theirs[k]]
    if diff:
        detail = "; ".join(f"{k}: {mine[k]!r} vs {theirs[k]!r}" for k in diff)
        raise ValueError(
            f"cannot merge calibrations that differ in {detail}; calibrate both sets of images "
            "with the same latent space, settings, patch size, mode, eps, method and restorer's lattice"
        )
    source = None if a.source is None else a.source.merge(b.source)
    target = a.target.merge(b.target)
    content = {}
    for key in ("content_source", "content_target"):  # kept only when both have them
        mine_c, theirs_c = getattr(a, key), getattr(b, key)
        content[key] = None if mine_c is None or theirs_c is None else mine_c.merge(theirs_c)
    return replace(a, target=target, source=source, info=_merged_info(a, b, target, source), **content)


def _merged_info(a, b, target, source) -> dict:
    """``info`` of the merged calibration (see the module's docstring)."""
    info = {**a.info, **{k: a.info.get(k, 0) + b.info.get(k, 0) for k in _COUNTS}}
    from_counts = {w for cal in (a, b) for w in count_warnings(cal.dim, cal.target, cal.source, cal.info)}
    kept = [w for cal in (a, b) for w in cal.info.get("warnings", []) if w not in from_counts]
    info["warnings"] = count_warnings(a.dim, target, source, info) + list(dict.fromkeys(kept))
    info.pop("pair_psnr_db", None), info.pop("n_pairs", None)
    pairs = [(cal.info.get("n_pairs", cal.info.get("n_restored_images", 0)), cal.info.get("pair_psnr_db"))
             for cal in (a, b)]
    if all(db is not None and n > 0 for n, db in pairs):  # PSNR of the mean squared error over all pairs
        n_pairs = sum(n for n, _ in pairs)
        info["pair_psnr_db"] = psnr_db(sum(n * 10 ** (-db / 10) for n, db in pairs) / n_pairs)
        if n_pairs != info["n_restored_images"]:
            info["n_pairs"] = n_pairs
    return {k: v for k, v in info.items() if not (k.startswith("n_skipped_") and v == 0)}
