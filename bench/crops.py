"""Side-by-side crops to look at: α = 1, 0.5, 0, −1 and the ground truth, at 1:1 and at 3×.

One PNG per call: the top row shows a ``side``×``side`` crop of each image at 1:1, the bottom row
the centre ``side/scale`` square of that crop enlarged ``scale``× with nearest-neighbour (every
pixel a visible block, so a p-pixel lattice shows as a regular grid).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Where to look in each photograph (top, left) for the 1:1 crop: flat areas next to texture,
# where a lattice is easiest to see. Any other photograph: its centre.
CROP_ORIGIN = {
    "astronaut": (150, 300), "coffee": (80, 200), "chelsea": (60, 150), "camera": (60, 240),
    "brick": (160, 160), "gravel": (160, 160), "cell": (200, 200), "retina": (160, 160),
}
LABEL_H = 16


def _u8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def crop_strip(by_alpha: dict[float, np.ndarray], clean: np.ndarray, path: Path, *, photo: str = "",
               side: int = 192, scale: int = 3) -> Path:
    """Write the strip for images ``by_alpha`` {α: (H, W, 3)} and ``clean`` to ``path`` (PNG)."""
    H, W = clean.shape[:2]
    side = min(side, H, W)
    top, left = CROP_ORIGIN.get(photo, ((H - side) // 2, (W - side) // 2))
    top, left = min(max(0, top), H - side), min(max(0, left), W - side)
    small = side // scale
    s0 = (side - small) // 2
    panels = [(f"alpha = {a:g}" + (" (restored)" if a == 1 else " (x0)" if a == 0 else ""), x)
              for a, x in sorted(by_alpha.items(), reverse=True)] + [("ground truth", clean)]
    gap = 4
    canvas = Image.new("RGB", (len(panels) * (side + gap) - gap, 2 * (side + LABEL_H) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, img) in enumerate(panels):
        crop = _u8(img[top : top + side, left : left + side])
        zoom = np.repeat(np.repeat(crop[s0 : s0 + small, s0 : s0 + small], scale, 0), scale, 1)
        x = i * (side + gap)
        draw.text((x + 2, 2), f"{label}, 1:1", fill="black")
        canvas.paste(Image.fromarray(crop), (x, LABEL_H))
        draw.text((x + 2, side + LABEL_H + gap + 2), f"{label}, {scale}x", fill="black")
        canvas.paste(Image.fromarray(zoom), (x, side + 2 * LABEL_H + gap))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
