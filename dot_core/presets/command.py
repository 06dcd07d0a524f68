"""``python -m dot_core.presets [NAME ...] [--out-dir DIR]``: rebuild the files under presets/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..calibration.files import load_calibration
from .build import build_preset, write_examples
from .catalog import PRESETS_DIR, SHIPPED_ENCODERS, recipe_dict, unavailable_reason
from .recipes import COMMAND, RECIPES, get_recipe

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m dot_core.presets [NAME ...] [--out-dir DIR]``: rebuild presets/ (all by default)."""
    names = [r.name for r in RECIPES]
    parser = argparse.ArgumentParser(prog=COMMAND, description="Rebuild the ready calibrations in presets/.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"presets to rebuild (default: all of {', '.join(names)})")
    parser.add_argument("--out-dir", type=Path, default=PRESETS_DIR, metavar="DIR",
                        help="write DIR/<name>/... instead of the project's presets/ folder (e.g. to compare)")
    args = parser.parse_args(argv)
    for name in args.names or names:
        get_recipe(name)
        reason = unavailable_reason(name)
        if reason is not None:  # a preset whose restorer is test data (FSRCNN): its committed files stay
            print(f"{name}: not rebuilt: {reason}")
            if name in args.names:
                return 2
            continue
        folder = args.out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.json").write_text(json.dumps(recipe_dict(name), indent=2, ensure_ascii=False) + "\n")
        for enc_name in SHIPPED_ENCODERS:
            path = build_preset(name, enc_name, out=folder / f"{enc_name}.safetensors")
            cal = load_calibration(path)
            print(f"{name} / {enc_name}: W2 = {cal.w2:.4g}, {cal.source.n:,} + {cal.target.n:,} patches → {path}")
        write_examples(name, args.out_dir)
    return 0
