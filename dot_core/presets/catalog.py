"""The presets that exist: their recipes as written to ``presets/<name>/recipe.json``, their
shipped files and examples, and the settings a preset chooses in each latent space.

Nothing here calibrates: :mod:`.build` does, :mod:`.loading` reads or builds on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..latents.registry import detail_encoder, load_encoder
from . import recipes
from .recipes import COMMAND, EXAMPLE_CROPS, HELD_OUT, RECIPES, Recipe, get_recipe

__all__ = ["PRESETS_DIR", "SHIPPED_ENCODERS", "Preset", "list_presets", "get_preset", "recipe_dict",
           "unavailable_reason"]

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"
SHIPPED_ENCODERS = ("detail", "pixel")  # weight-free latents whose calibrations are in the repo


@dataclass(frozen=True)
class Preset:
    """A ready calibration set-up, as the app lists it."""

    name: str  # e.g. "sr-bicubic-x4"
    title: str  # for people, e.g. "Bicubic ×4 super-resolution"
    description: str  # one sentence on what the restorations look like
    encoders: tuple[str, ...]  # latent spaces with a ready calibration file
    examples: tuple[tuple[Path, Path], ...]  # (restored, clean) PNGs of held-out photographs


def unavailable_reason(name: str) -> str | None:
    """Why preset ``name`` cannot be rebuilt here (its restorer's weights or photographs are absent), or None."""
    r = get_recipe(name)
    if not r.paired_photos:
        return None
    from ..fsrcnn import fsrcnn_unavailable_reason, photos_dir

    missing = [p for p in r.paired_photos if not (photos_dir() / "cbsd68" / f"{p}.png").is_file()]
    if missing:
        return f"CBSD68 photographs not found in {photos_dir() / 'cbsd68'} ({', '.join(missing)}; set DOT_PHOTOS)"
    return fsrcnn_unavailable_reason(int(r.degradation["factor"]))


def example_paths(name: str, root: Path = PRESETS_DIR) -> tuple[tuple[Path, Path], ...]:
    folder = root / name / "examples"
    return tuple((folder / f"{p}_restored.png", folder / f"{p}_clean.png") for p in EXAMPLE_CROPS)


def recipe_encoder(recipe: Recipe, name: str, **kwargs):
    """Latent space ``name`` with the settings ``recipe`` chooses for it (detail's σ), else its defaults."""
    settings = (recipe.encoder_settings or {}).get(name)
    if settings and name == "detail":
        return detail_encoder(float(settings["sigma"]), **kwargs)
    return load_encoder(name, **kwargs)


def recipe_patch_size(recipe: Recipe, encoder) -> int:
    return int(recipe.patch_sizes.get(encoder.name, encoder.default_patch_size))


def recipe_eps(recipe: Recipe, encoder) -> float:
    """The ε of eq. 2 a preset uses in a latent: its recipe's (``Recipe.eps``), else the latent's
    own default (``Encoder.default_eps``)."""
    return float(recipe.eps.get(encoder.name, encoder.default_eps))


def recipe_dict(name: str) -> dict:
    """The recipe of preset ``name`` as written to ``presets/<name>/recipe.json``."""
    r = get_recipe(name)
    latents = {}
    for enc_name in SHIPPED_ENCODERS:
        enc = recipe_encoder(r, enc_name, device="cpu")
        latents[enc_name] = {
            "patch_size": recipe_patch_size(r, enc), "eps": recipe_eps(r, enc), "file": f"{enc_name}.safetensors",
            "encoder": enc.describe(),
        }
    return {
        "name": r.name, "title": r.title, "description": r.description,
        "degradation": r.degradation, "restorer": r.restorer, "restoration_lattice": r.restoration_lattice,
        "calibration": _calibration_dict(r),
        "held_out": list(HELD_OUT),
        "examples": [
            {"photo": p, "crop": {"top": t, "left": l, "height": h, "width": w},
             "restored": f"examples/{p}_restored.png", "clean": f"examples/{p}_clean.png"}
            for p, (t, l, h, w) in EXAMPLE_CROPS.items()
        ],
        "latents": latents,
        "other_latents": "VAE latents are built from this recipe on first use with the encoder's default patch size and eps",
        "command": COMMAND,
    }


def _calibration_dict(r: Recipe) -> dict:
    """recipe.json's "calibration": the mode, the protocol and the images."""
    if r.paired_photos:
        return {
            "mode": "paired",
            "protocol": "each tuning photograph (CBSD68, ../shared/data/photos or DOT_PHOTOS) cropped to a "
                        "multiple of 4, degraded and restored as above; each restoration is paired with its own "
                        "original",
            "images": [f"cbsd68/{p}.png" for p in r.paired_photos],
        }
    return {
        "mode": "unpaired",
        "protocol": "each photograph restored whole, then halved along its longer side: one half of "
                    "the restoration is a restored image, the other half of the clean photograph a "
                    "clean image (boxes are top, left, bottom, right)",
        "images": recipes.calibration_split(),
    }


def image_names(r: Recipe) -> dict:
    """The calibration's record of its images (``info``): restored and clean, by name."""
    if r.paired_photos:
        names = [f"cbsd68/{p}.png" for p in r.paired_photos]
        return {"restored_images": [f"{n} ({r.restorer['kind']} ×{r.restorer['factor']})" for n in names],
                "clean_images": names}
    split = recipes.calibration_split()
    return {"restored_images": [f"{s['photo']}{s['restored_box']}" for s in split],
            "clean_images": [f"{s['photo']}{s['clean_box']}" for s in split]}


def list_presets() -> list[Preset]:
    """Every preset, with the encoders that have a ready file and its existing examples."""
    out = []
    for r in RECIPES:
        folder = PRESETS_DIR / r.name
        encoders = tuple(e for e in SHIPPED_ENCODERS if (folder / f"{e}.safetensors").is_file())
        examples = tuple(pair for pair in example_paths(r.name) if pair[0].is_file() and pair[1].is_file())
        out.append(Preset(r.name, r.title, r.description, encoders, examples))
    return out


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the valid ones otherwise."""
    get_recipe(name)
    return next(p for p in list_presets() if p.name == name)
