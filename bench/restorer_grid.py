"""Does the restorer's grid get found, and only where there is one? (``dot_core.calibration.restorer_grid``)

For each photograph and each restorer — bicubic ×2/×3/×4 (Pillow), FSRCNN ×2/×3/×4 (OpenCV's
cubic degradation, ``dot_core.fsrcnn``), non-local means σ = 25/50 and JPEG q10 (the presets'
restorers) and the clean photograph itself — the phase variation of the detail at 2, 3, 4, 8 px
is measured once; then sets of ``--set-size`` restorations are judged against sets of as many
*other* clean photographs (unpaired, the harder case), sliding over the collection, and the table
gives how often each period was found. The thresholds (``MIN_VARIATION``) were chosen on the
TUNING photographs (CBSD68, ``--photos cbsd68``) and scikit-image's; ``--photos kodak24`` checks
them on the reporting ones.

Run: ``python bench/restorer_grid.py --photos cbsd68 [--out bench/results/restorer_grid_cbsd68.md]``
(FSRCNN rows need ``../shared/weights/fsrcnn``; about a minute per 10 photographs on one core).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
from PIL import Image

from dot_core.calibration.restorer_grid import PERIODS, find_restoration_lattice, phase_variation
from dot_core.fsrcnn import fsrcnn_pair, fsrcnn_unavailable_reason, reporting_photos, tuning_photos
from dot_core.io.images import load_image
from dot_core.presets.recipes import make_restoration, to_pil

SKIMAGE = ("rocket", "motorcycle_left", "immunohistochemistry", "hubble_deep_field", "coins", "grass",
           "astronaut", "coffee", "chelsea", "camera")


def _photos(which: str) -> list[tuple[str, np.ndarray]]:
    if which == "skimage":
        from dot_core.presets.recipes import bundled_photo

        return [(n, bundled_photo(n)) for n in SKIMAGE]
    paths = tuning_photos() if which == "cbsd68" else reporting_photos()
    return [(p.stem, load_image(p)) for p in paths]


def _bicubic(x: np.ndarray, f: int) -> np.ndarray:
    H, W = x.shape[:2]
    small = to_pil(x).resize((-(-W // f), -(-H // f)), Image.BICUBIC)
    return np.asarray(small.resize((W, H), Image.BICUBIC).convert("RGB"), dtype=np.float32) / 255.0


def _restorers() -> dict:
    out = {"clean": lambda x: x}
    out.update({f"bicubic x{f}": (lambda f: lambda x: _bicubic(x, f))(f) for f in (2, 3, 4)})
    if fsrcnn_unavailable_reason(4) is None:
        out.update({f"fsrcnn x{f}": (lambda f: lambda x: fsrcnn_pair(x, f)[0])(f) for f in (2, 3, 4)})
    out.update({name: (lambda n: lambda x: make_restoration(n, x))(name)
                for name in ("denoise-nlm-25", "denoise-nlm-50", "jpeg-q10")})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", choices=["cbsd68", "kodak24", "skimage"], default="cbsd68")
    parser.add_argument("--set-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    photos = [(n, np.ascontiguousarray(x[: x.shape[0] // 12 * 12, : x.shape[1] // 12 * 12]))
              for n, x in _photos(args.photos)]
    k = args.set_size
    pv = {name: [phase_variation(restore(x)) for _, x in photos] for name, restore in _restorers().items()}
    pixels = int(np.median([x.shape[0] * x.shape[1] for _, x in photos]))
    starts = range(0, len(photos) - 2 * k + 1, k)
    lines = [f"# Restorer's grid found ({args.photos}, {len(photos)} photographs, sets of {k} restored "
             f"against {k} other clean photographs, {len(starts)} sets)", "",
             "| restorer | median phase variation at 2 / 3 / 4 / 8 px | period found (sets) |",
             "| --- | --- | --- |"]
    for name, values in pv.items():
        found = collections.Counter()
        for s in starts:
            result = find_restoration_lattice(values[s : s + k], pv["clean"][s + k : s + 2 * k], pixels=pixels)
            found[result.period or "none"] += 1
        med = " / ".join(f"{np.median([v[p] for v in values]):.3f}" for p in PERIODS)
        lines.append(f"| {name} | {med} | {', '.join(f'{p}: {n}' for p, n in sorted(found.items(), key=str))} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
