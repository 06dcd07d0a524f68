"""Names of the enhanced PNGs, shared by the command line and the app's batch zip.

One PNG per input and α: ``<stem>.png`` when one α is asked for, ``<stem>_alpha<α>.png`` for
several. The names of one run are unique whatever the inputs are called (``a.png``, ``a.jpg``
and ``a-2.png`` give ``a``, ``a-2`` and ``a-2-2``), compared without case, since the folder they
land in may not tell ``A.png`` from ``a.png``. Nothing here touches the disk except
:func:`inputs_overwritten`, which only reads.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Sequence

__all__ = ["alpha_labels", "output_names", "inputs_overwritten"]


def alpha_labels(alphas: Sequence[float]) -> list[str]:
    """How each α is written in a file name: ``0.5``, ``-1`` (``%g``), or in full (``repr``)
    when two different α would otherwise read the same (0.5 and 0.500000001)."""
    short = [f"{a:g}" for a in alphas]
    if len(set(short)) == len(set(alphas)):
        return short
    return [repr(float(a)) for a in alphas]


def output_names(inputs: Sequence[str | os.PathLike], alphas: Sequence[float]) -> list[list[str]]:
    """For each input, the file names of its PNGs (one per α), all distinct over the run.

    A stem already taken (the same name with another extension, or an earlier ``-2``) gets the
    first free suffix ``-2``, ``-3``, ...; ``alphas`` must not repeat a value.
    """
    if len(set(alphas)) != len(alphas) or not alphas:
        raise ValueError(f"alphas must be one or more distinct values, got {list(alphas)}")
    labels = alpha_labels(alphas)
    taken: set[str] = set()
    names = []
    for path in inputs:
        stem = Path(path).stem
        for k in itertools.count(1):  # each earlier input blocks at most one k
            base = stem if k == 1 else f"{stem}-{k}"
            mine = [f"{base}.png"] if len(alphas) == 1 else [f"{base}_alpha{label}.png" for label in labels]
            if not any(n.casefold() in taken for n in mine):
                break
        taken.update(n.casefold() for n in mine)
        names.append(mine)
    return names


def inputs_overwritten(inputs: Sequence[str | os.PathLike], outputs: Sequence[str | os.PathLike]
                       ) -> list[tuple[Path, Path]]:
    """(input, output) pairs where writing ``output`` would replace ``input``: the same file,
    through any path, link or case (compared by device and inode, as ``os.path.samefile``)."""
    def key(p) -> tuple[int, int] | None:
        try:
            st = os.stat(p)  # follows symbolic links: a link to an input is that input
        except OSError:
            return None
        return st.st_dev, st.st_ino

    by_key = {k: Path(p) for p in inputs if (k := key(p)) is not None}
    return [(by_key[k], Path(out)) for out in outputs if (k := key(out)) is not None and k in by_key]
