"""``info``: the versions and settings in use, and what a calibration file holds and who wrote it."""

from __future__ import annotations

import argparse
import platform

from ..calibration.files import load_calibration, read_writer
from ..io.images import DEFAULT_MAX_PIXELS
from ..latents.hub import hub_offline
from .common import DEFAULT_ENCODER, CLIError

__all__ = ["add_parser", "run_info"]


def add_parser(sub) -> None:
    """The ``info`` subcommand."""
    info = sub.add_parser("info", help="versions and settings, and what a calibration file holds",
                          description="Print the versions (dot_core, torch, python) and settings in use; given a "
                                      "calibration file, also what it holds and what wrote it.")
    info.add_argument("calibration", nargs="?", metavar="FILE", help="a calibration file to describe (optional)")


def _versions() -> str:
    import numpy
    import PIL
    import torch

    from .._version import __version__

    line = f"dot_core {__version__}, torch {torch.__version__}, python {platform.python_version()}"
    return f"{line} (numpy {numpy.__version__}, pillow {PIL.__version__})"


def _settings() -> list[str]:
    import torch

    from ..latents.memory import CPU_BUDGET_BYTES

    cuda = f"{torch.cuda.device_count()} GPU(s)" if torch.cuda.is_available() else "none"
    mps = getattr(torch.backends, "mps", None)
    offline = hub_offline()
    return [
        f"devices: CUDA {cuda}; MPS {'yes' if mps is not None and mps.is_available() else 'no'}; "
        f"CPU threads {torch.get_num_threads()}",
        f"default encoder: {DEFAULT_ENCODER} (weight-free: detail, pixel)",
        f"Hugging Face Hub: {'offline (HF_HUB_OFFLINE)' if offline else 'online when reachable'}",
        f"max pixels per image: {DEFAULT_MAX_PIXELS:,}; VAE memory budget on CPU: {CPU_BUDGET_BYTES / 2**30:g} GiB",
    ]


def run_info(args: argparse.Namespace) -> int:
    print(_versions())
    for line in _settings():
        print(line)
    if args.calibration is None:
        return 0
    try:
        cal = load_calibration(args.calibration)
        made = read_writer(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"\n{args.calibration}:")
    print(cal.summary())
    config = cal.info.get("encoder_config") or {}
    latent = ", ".join(f"{k} = {v}" for k, v in config.items()) or "not recorded"
    print(f"latent settings: {latent}")
    print(f"operator: method {cal.method}, eps {cal.eps:g}")
    print(f"written by {made['library'] or 'an unknown version'}" + (f", {made['created']}" if made["created"] else ""))
    return 0
