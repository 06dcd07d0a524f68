"""Pairs of restored and clean images, found by file name, and the calibration mode they allow.

Σs and Σt should differ only by what the restorer does; two unrelated sets of a few photographs
also differ by what the scenes hold (measured on FSRCNN ×4: the fine-detail energy of two sets
of 8 clean photographs differed 3× by content). A restoration's own ground truth removes that
confound, so pairs are found by themselves and preferred.

The matching rule (:func:`pair_key`): a file's name without folder and extension, lower-cased,
is cut into words at ``_``, ``-``, ``.`` and spaces; the words that restorers and datasets add
are dropped — ``restored``, ``restoration``, ``sr``, ``out``, ``output``, ``pred``, ``result``,
``enhanced``, ``denoised``, ``x2`` … ``x8`` (or ``4x``; also a trailing ``x4`` after digits, as
in ``0801x4``), and on the clean side ``gt``, ``hr``, ``clean``, ``original``, ``truth``,
``target`` — and the rest, joined by ``_``, is the key (a name made only of such words keeps
them all). ``Cat_SR.PNG``, ``cat_x4-restored.png`` and ``cat.jpg`` share the key ``cat``;
``img_7_restored.png`` and ``img_7_clean.png`` share ``img_7``. A restored
image whose key no clean key equals is matched to the clean image whose key, followed by one of
those separators, starts its own (``0801_SwinIR`` → ``0801``), when exactly one such is longest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

__all__ = ["Pairing", "ModeChoice", "pair_key", "match_pairs", "image_size", "choose_mode", "pairs_for_paired_mode"]

_TAG = re.compile(r"restored|restoration|sr|out|output|pred|result|enhanced|denoised|x[2-8]|[2-8]x"
                  r"|gt|hr|clean|original|truth|target")
_TOKENS = re.compile(r"[_\-. ]+")
_SCALE_SUFFIX = re.compile(r"(?<=\d)x[2-8]$")  # DIV2K's low-resolution names: 0801x4
_SEPARATORS = "_-. "
_SHOWN = 5  # names listed in a message before "and N more"

PathLike = str | os.PathLike


def pair_key(name: PathLike) -> str:
    """The key two files of one pair share (see the module's matching rule).

    Examples
    --------
    >>> pair_key("outputs/Cat_x4_SR.png"), pair_key("gt/cat.JPG"), pair_key("0801x4.png"), pair_key("a_sr_1.png")
    ('cat', 'cat', '0801', 'a_1')
    """
    tokens = [_SCALE_SUFFIX.sub("", t) or t for t in _TOKENS.split(Path(name).stem.lower()) if t]
    kept = [t for t in tokens if not _TAG.fullmatch(t)]
    return "_".join(kept or tokens)


def _names(paths: Sequence[PathLike]) -> str:
    shown = ", ".join(Path(p).name for p in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


@dataclass(frozen=True)
class Pairing:
    """Restored images matched to their clean originals by :func:`pair_key`."""

    pairs: tuple[tuple[PathLike, PathLike], ...]  # (restored, clean), in the order restored were given
    unmatched_restored: tuple[PathLike, ...]  # restored images with no clean original
    unmatched_clean: tuple[PathLike, ...]  # clean images no restored image matched
    ambiguous: tuple[str, ...]  # one sentence per name that matched more than once
    n_restored: int  # restored images given

    @property
    def complete(self) -> bool:
        """Every restored image has exactly one clean original."""
        return bool(self.pairs) and not self.unmatched_restored and not self.ambiguous

    @property
    def reason(self) -> str | None:
        """Why not every restored image has its original (a sentence), or None when every one has."""
        if self.complete:
            return None
        why = []
        if self.unmatched_restored:
            n = len(self.unmatched_restored)
            why.append(f"{n} of {self.n_restored} restored images {'has' if n == 1 else 'have'} no clean image of the same name "
                       f"({_names(self.unmatched_restored)})")
        return "; ".join(why + list(self.ambiguous))


def match_pairs(restored: Sequence[PathLike], clean: Sequence[PathLike]) -> Pairing:
    """Match each restored image to its clean original by file name (:func:`pair_key`).

    Examples
    --------
    >>> p = match_pairs(["r/a_sr.png", "r/b_sr.png"], ["c/A.png", "c/b.png", "c/z.png"])
    >>> [(Path(r).name, Path(c).name) for r, c in p.pairs], p.complete, [Path(c).name for c in p.unmatched_clean]
    ([('a_sr.png', 'A.png'), ('b_sr.png', 'b.png')], True, ['z.png'])
    """
    by_key: dict[str, list[int]] = {}  # key → indices into clean
    for i, c in enumerate(clean):
        by_key.setdefault(pair_key(c), []).append(i)
    matched: list[tuple[PathLike, int]] = []
    unmatched, ambiguous = [], []
    for r in restored:
        candidates = by_key.get(pair_key(r)) or _by_prefix(pair_key(r), by_key)
        if not candidates:
            unmatched.append(r)
        elif len(candidates) > 1:
            ambiguous.append(f"{Path(r).name} matches several clean images ({_names([clean[i] for i in candidates])})")
        else:
            matched.append((r, candidates[0]))
    takers: dict[int, list[PathLike]] = {}
    for r, i in matched:
        takers.setdefault(i, []).append(r)
    for i, rs in takers.items():
        if len(rs) > 1:
            ambiguous.append(f"{Path(clean[i]).name} is the clean image of several restored images ({_names(rs)})")
    pairs = tuple((r, clean[i]) for r, i in matched if len(takers[i]) == 1)
    used = {i for i, rs in takers.items() if len(rs) == 1}
    return Pairing(pairs, tuple(unmatched), tuple(c for i, c in enumerate(clean) if i not in used), tuple(ambiguous),
                   len(restored))


def _by_prefix(key: str, by_key: dict[str, list[int]]) -> list[int]:
    """The clean images whose key, then a separator, starts ``key``: the longest such, if one key."""
    hits = [k for k in by_key if len(key) > len(k) and key.startswith(k) and key[len(k)] in _SEPARATORS]
    if not hits:
        return []
    longest = max(len(k) for k in hits)
    best = [k for k in hits if len(k) == longest]
    return by_key[best[0]] if len(best) == 1 else [i for k in best for i in by_key[k]]


def image_size(path: PathLike) -> tuple[int, int] | None:
    """(width, height) of an image file as :func:`dot_core.load_image` orients it, from its header
    only; None when it cannot be read (it is then reported when loaded)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
    except Exception:  # noqa: BLE001 — any unreadable file: the loader names it with its reason
        return None
    return (h, w) if turned else (w, h)


@dataclass(frozen=True)
class ModeChoice:
    """The calibration mode for two sets of images, and why."""

    mode: str  # "paired", "unpaired" or "zero-shot"
    pairs: tuple[tuple[PathLike, PathLike], ...]  # (restored, clean) when paired, else ()
    reason: str  # one sentence for the summary


def _size_mismatches(pairs, size_of) -> list[str]:
    out = []
    for r, c in pairs:
        a, b = size_of(r), size_of(c)
        if a is not None and b is not None and a != b:
            out.append(f"{Path(r).name} is {a[0]}×{a[1]} but its clean image {Path(c).name} is {b[0]}×{b[1]}")
    return out


def choose_mode(restored: Sequence[PathLike], clean: Sequence[PathLike], *,
                size_of: Callable[[PathLike], tuple[int, int] | None] = image_size) -> ModeChoice:
    """Mode ``auto``: paired when every restored image has its clean original of the same size.

    Otherwise unpaired, saying why not paired. Clean images left over once every restored image
    has its original are left out of a paired calibration (they would bring back the content
    confound the pairs remove), and the reason says so. Zero-shot is never chosen: it is asked for.
    """
    if not restored:
        raise ValueError("mode auto needs restored images to pair; for clean images only, use mode zero-shot")
    pairing = match_pairs(restored, clean)
    if not pairing.complete:
        return ModeChoice("unpaired", (), f"{pairing.reason}, so not paired")
    differ = _size_mismatches(pairing.pairs, size_of)
    if differ:
        more = f" and {len(differ) - 1} more" if len(differ) > 1 else ""
        return ModeChoice("unpaired", (), f"every restored image has a clean image of its name, but {differ[0]}{more}: "
                                          "not restorations of them, so not paired")
    reason = f"every restored image has its clean original of the same size ({len(pairing.pairs)} pairs, matched by name)"
    return ModeChoice("paired", pairing.pairs, reason + _left_out(pairing))


def _left_out(pairing: Pairing) -> str:
    """"; 2 clean image(s) without a restoration left out (a.png, b.png)", or nothing."""
    if not pairing.unmatched_clean:
        return ""
    return f"; {len(pairing.unmatched_clean)} clean image(s) without a restoration left out ({_names(pairing.unmatched_clean)})"


def pairs_for_paired_mode(restored: Sequence[PathLike], clean: Sequence[PathLike], *,
                          size_of: Callable[[PathLike], tuple[int, int] | None] = image_size) -> ModeChoice:
    """Mode ``paired`` asked for: pairs by name when every restored image has its original, else in
    the order given (the two sets must then be as long); ``ValueError`` otherwise, or when a
    pair's two images differ in size (naming them)."""
    pairing = match_pairs(restored, clean)
    if pairing.complete:
        choice = ModeChoice("paired", pairing.pairs, f"asked for; {len(pairing.pairs)} pairs matched by name"
                            + _left_out(pairing))
    elif len(restored) != len(clean):
        raise ValueError(f"paired mode needs as many restored as clean images, got {len(restored)} and {len(clean)} "
                         f"({pairing.reason}); name each restoration after its original, or use mode auto")
    else:
        choice = ModeChoice("paired", tuple(zip(restored, clean)), f"asked for; paired in the order given ({pairing.reason})")
    differ = _size_mismatches(choice.pairs, size_of)
    if differ:
        more = f" (and {len(differ) - 1} more pairs)" if len(differ) > 1 else ""
        raise ValueError(f"paired mode: {differ[0]}{more}; a restoration and its original must have one size "
                         "(crop the original as the restorer did, or use mode unpaired)")
    return choice
