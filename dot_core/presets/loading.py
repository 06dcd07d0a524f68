"""Loading a preset's calibration: the shipped file, else the one built from the recipe on first use."""

from __future__ import annotations

from ..calibration import Calibration
from ..calibration.files import load_calibration
from ..latents.registry import load_encoder
from . import build
from .catalog import PRESETS_DIR, SHIPPED_ENCODERS
from .recipes import get_recipe

__all__ = ["load_preset"]


def load_preset(name: str, encoder: str = "detail") -> Calibration:
    """The calibration of preset ``name`` in latent space ``encoder``.

    Shipped files are read from ``presets/``; otherwise the calibration is built from the recipe
    on first use (needs :func:`load_encoder` to succeed) and cached, then reused.
    """
    get_recipe(name)
    shipped = PRESETS_DIR / name / f"{encoder}.safetensors"
    if encoder in SHIPPED_ENCODERS and shipped.is_file():
        return load_calibration(shipped)
    enc = load_encoder(encoder)
    path = build.cache_path(name, enc.name)
    if not path.is_file():
        build.build_preset(name, encoder, out=path)
    return load_calibration(path)
