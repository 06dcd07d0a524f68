"""Ready calibrations ("presets"): build them from their recipes, ship them, load them.

The recipes (degradation, restorer, photographs) are in :mod:`.recipes`, the list of presets in
:mod:`.catalog`, building in :mod:`.build`, loading in :mod:`.loading`, the command in :mod:`.command`. Every
file under the top-level ``presets/`` folder is rebuilt by one command::

    python -m dot_core.presets [NAME ...] [--out-dir DIR]

which writes, for each preset, ``presets/<name>/recipe.json`` (degradation, restorer and its
parameters, calibration images, held-out images, latent spaces and patch sizes),
``presets/<name>/<encoder>.safetensors`` for the weight-free latents (``detail``, ``pixel``) and
``presets/<name>/examples/<photo>_{restored,clean}.png`` (small crops of held-out photographs).

Reproducibility: the files are byte-identical from one rebuild to the next with the same torch,
NumPy, Pillow and scikit-image (the file records the torch version that wrote it). Sums of
floating-point numbers depend on how they are split between threads, so a build runs on
:data:`BUILD_THREADS` threads whatever the machine; its creation time is replaced by the command.

For a VAE latent no file is shipped: :func:`load_preset` builds the calibration from the recipe
on first use (when :func:`~dot_core.latents.registry.load_encoder` can load the VAE) and caches it under
``$XDG_CACHE_HOME/dot_core/presets/`` (default ``~/.cache/dot_core/presets/``).
"""

from .build import BUILD_THREADS, build_preset
from .catalog import PRESETS_DIR, SHIPPED_ENCODERS, Preset, get_preset, list_presets, recipe_dict, unavailable_reason
from .command import main
from .loading import load_preset
from .recipes import (
    CALIBRATION_PHOTOS,
    EXAMPLE_CROPS,
    HELD_OUT,
    bundled_photo,
    calibration_split,
    estimate_noise_sigma,
    get_recipe,
    make_restoration,
)

__all__ = [
    "PRESETS_DIR",
    "HELD_OUT",
    "EXAMPLE_CROPS",
    "CALIBRATION_PHOTOS",
    "SHIPPED_ENCODERS",
    "BUILD_THREADS",
    "Preset",
    "list_presets",
    "get_preset",
    "get_recipe",
    "load_preset",
    "build_preset",
    "recipe_dict",
    "unavailable_reason",
    "make_restoration",
    "bundled_photo",
    "calibration_split",
    "estimate_noise_sigma",
    "main",
]
