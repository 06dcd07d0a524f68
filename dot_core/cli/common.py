"""What every subcommand shares: one-line errors, output paths, progress, the runtime options.

Bad input gives a one-line message on stderr and a non-zero exit, never a traceback: a
subcommand raises :class:`CLIError` and :func:`dot_core.cli.commands.main` prints it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..calibration.distributed import ProcessGroup
from ..io.images import DEFAULT_MAX_PIXELS
from ..io.paths import collect_image_paths
from ..latents.base import EncoderUnavailableError
from ..latents.registry import load_encoder
from ..pipeline import check_alpha

__all__ = ["PROG", "CLIError", "parse_alphas"]


PROG = "dot_core"
DEFAULT_ENCODER = "sd-vae-ft-mse"  # the paper's latent; needs its weights (Hub or local cache)
DESCRIPTION = (
    "Few-shot perceptual enhancement of restored images by latent optimal transport "
    "(Adrai et al., NeurIPS 2023): calibrate on about ten restored and ten clean images, "
    "then enhance new restorations."
)
EPILOG = "Exit codes: 0 success, 1 some inputs were skipped, 2 nothing could be done. " \
    "See 'COMMAND --help' for each command's options."


class CLIError(Exception):
    """A failure that ends the command with a message and exit code 2."""


def parse_alphas(values: list[str] | None) -> list[float]:
    """``--alpha 0 --alpha 0.5,1`` → [0.0, 0.5, 1.0], each in [ALPHA_MIN, ALPHA_MAX], repeats
    dropped; default [0.0]."""
    out: list[float] = []
    for value in values or ["0"]:
        for part in value.split(","):
            try:
                a = float(part)
            except ValueError:
                raise CLIError(f"--alpha expects numbers, got {part!r}") from None
            if not math.isfinite(a):
                raise CLIError(f"--alpha must be finite, got {part!r}")
            try:
                a = check_alpha(a)
            except ValueError as exc:
                raise CLIError(f"--alpha: {exc}") from None
            if a not in out:
                out.append(a)
    return out


def os_error(path, exc: OSError) -> CLIError:
    """One line naming the path and what the system said (``Not a directory``, ``No space left``)."""
    return CLIError(f"{path}: {exc.strerror or exc}")


def make_folder(folder: Path, out: Path) -> None:
    """Create ``folder`` (and its parents) for ``--out``, or say in one line why it cannot be."""
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise CLIError(f"--out {out}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(folder, exc) from None


def out_file(path: str) -> Path:
    """``calibrate --out``: a file whose folder exists or can be made; checked before any work."""
    out = Path(path)
    if out.is_dir():
        raise CLIError(f"--out {out}: is a folder; give a file name, e.g. {out / 'calibration.safetensors'}")
    make_folder(out.parent, out)
    return out


def out_dir_arg(path: str) -> Path:
    """``enhance --out``: a folder that exists or can be made; checked before any work."""
    out = Path(path)
    make_folder(out, out)
    return out


def note(msg: str) -> None:
    tqdm.write(f"{PROG}: {msg}", file=sys.stderr)  # keeps an open progress bar intact


def progress(items: list, desc: str, group: ProcessGroup) -> tqdm:
    """A progress bar on the main process's terminal only: piped into a log, a bar's carriage
    returns and blanked lines would surround every message; there, the messages stand alone."""
    return tqdm(items, desc=desc, unit="image", disable=None if group.is_main else True)


def prog() -> str:
    """How the user called us: ``dot-core`` (console script) or ``python -m dot_core``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and name not in ("__main__.py", "-c", "-m") else f"python -m {PROG}"


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1 or mps (default: %(default)s)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="VAE precision; statistics stay float64 (default: %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse images of more than N pixels (default: %(default)s)")


def load_encoder_arg(name: str, args: argparse.Namespace):
    try:
        return load_encoder(name, device=process_group(args).device_for(args.device), dtype=args.dtype)
    except (EncoderUnavailableError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def process_group(args: argparse.Namespace) -> ProcessGroup:
    """The processes sharing this command (``main`` joins them); one when called directly."""
    return getattr(args, "group", None) or ProcessGroup()


def image_paths(items: list[str], label: str) -> list[Path]:
    try:
        return collect_image_paths(items)
    except ValueError as exc:
        raise CLIError(f"{label}: {exc}") from None
