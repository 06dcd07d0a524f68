"""``enhance``: transport restored images with a calibration, one PNG per input and α, never over an input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..calibration.files import load_calibration
from ..calibration.reach import enhanced_reach
from ..io.images import load_image, save_image
from ..io.outputs import inputs_overwritten, output_names
from ..io.png import write_png_provenance
from ..latents.base import EncoderUnavailableError
from ..latents.registry import encoder_for
from ..ot.patches import FOLD_KERNELS, NOISE_MODELS
from ..pipeline import ALPHA_MAX, ALPHA_MIN, DOTPipeline, TransportConfig
from .common import (
    CLIError,
    add_runtime_args,
    image_paths,
    load_encoder_arg,
    note,
    os_error,
    out_dir_arg,
    parse_alphas,
    process_group,
    progress,
)

__all__ = ["add_parser", "run_enhance"]


def add_parser(sub) -> None:
    """The ``enhance`` subcommand and its options."""
    enh = sub.add_parser("enhance", help="transport restored images with a calibration",
                         description="Transport restored images with a calibration and write one PNG per input "
                                     "and alpha; a bad file is reported and skipped.")
    enh.add_argument("inputs", nargs="+", metavar="IN", help="restored images or folders")
    enh.add_argument("--calibration", required=True, metavar="FILE", help="a calibration from 'calibrate'")
    enh.add_argument("--alpha", action="append", metavar="A",
                     help=f"eq. (4): 1 = restoration, 0 = transported, beyond extrapolates, in "
                          f"[{ALPHA_MIN:g}, {ALPHA_MAX:g}]; repeat or A,B,C (default: 0)")
    enh.add_argument("--encoder", default=None, metavar="NAME",
                     help="override the calibration's encoder, e.g. a local copy of its weights or its "
                          "TAESD-family folder "
                          "(default: the calibration's)")
    enh.add_argument("--space", choices=["pixel", "latent"], default="pixel",
                     help="where to interpolate (default: %(default)s)")
    enh.add_argument("--fold-kernel", choices=FOLD_KERNELS, default=None,
                     help="how overlapping patches are averaged (default: the latent's own: gaussian for detail, "
                          "uniform otherwise)")
    enh.add_argument("--color-fix", choices=["none", "wavelet", "adain"], default=None,
                     help="keep the restoration's colours: wavelet (its low frequencies), adain (its per-channel "
                          "mean and spread) or none (default: wavelet for learned latents, none for detail and pixel)")
    enh.add_argument("--lattice-fix", action="store_true",
                     help="put the restoration's content back on a learned decoder's f-pixel lattice frequencies "
                          "(off by default: it barely lowers the decoder's grid)")
    enh.add_argument("--no-degrid", action="store_true",
                     help="transport the restoration itself, not its copy without the restorer's grid (by default, "
                          "when the calibration names a 2, 3 or 4 px grid and the latent is detail or pixel, the copy, "
                          "on which the transported image is built: the grid does not grow)")
    enh.add_argument("--seed", type=int, default=0,
                     help="seed of the stochastic operator's noise (eq. 5) (default: %(default)s)")
    enh.add_argument("--noise", choices=NOISE_MODELS, default="stationary",
                     help="how that noise is spread: stationary (eq. 5 as written, the same grain everywhere) or "
                          "local (scaled by each patch's detail: flat regions stay flat) (default: %(default)s)")
    enh.add_argument("--bits", type=int, choices=[8, 16], default=8, help="PNG bit depth (default: %(default)s)")
    enh.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs, one per input and alpha")
    add_runtime_args(enh)


def _refuse_overwriting(inputs: list[Path], out_dir: Path, names: list[list[str]]) -> None:
    """Stop before any work when an output would replace an input (the same file by any path)."""
    hits = inputs_overwritten(inputs, [out_dir / n for group in names for n in group])
    if hits:
        src, dst = hits[0]
        raise CLIError(f"--out {out_dir}: writing {dst.name} would overwrite the input {src}"
                       f"{f' (and {len(hits) - 1} more)' if len(hits) > 1 else ''}; choose another folder")


def _write_outputs(pipe: DOTPipeline, result, alphas: list[float], out_dir: Path, names: list[str],
                   args: argparse.Namespace) -> int:
    """One PNG per α, with its provenance; returns how many were written. Disk errors stop the run."""
    for a, name in zip(alphas, names):
        path = out_dir / name
        try:
            png = save_image(path, pipe.blend(result, a, space=args.space), bits=args.bits)
            write_png_provenance(png, {**result.provenance, "alpha": a, "space": args.space})
        except OSError as exc:
            raise os_error(path, exc) from None
    return len(names)


def _note_reach(path: Path, result, calibration) -> None:
    """One line on stdout: how far the transport got on this image (W2 to the target, detail energy)."""
    reach = enhanced_reach(result, calibration)
    if reach is not None:  # None: a latent smaller than two patches, the image is still written
        tqdm.write(f"{path.name}: {reach.describe('after the fold')}", file=sys.stdout)  # an open bar stays intact


def run_enhance(args: argparse.Namespace) -> int:
    alphas = parse_alphas(args.alpha)
    inputs = image_paths(args.inputs, "inputs")
    names = output_names(inputs, alphas)
    group = process_group(args)  # under accelerate launch, each process writes its own shard
    out_dir = out_dir_arg(args.out) if group.is_main else Path(args.out)
    _refuse_overwriting(inputs, out_dir, names)
    try:
        calibration = load_calibration(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.encoder:
        encoder = load_encoder_arg(args.encoder, args)
    else:  # the latent the calibration was made in, with the settings it recorded (detail's σ)
        try:
            encoder = encoder_for(calibration, device=group.device_for(args.device), dtype=args.dtype)
        except (EncoderUnavailableError, ValueError) as exc:
            raise CLIError(str(exc)) from None
    try:
        pipe = DOTPipeline(
            encoder, calibration,
            config=TransportConfig(fold_kernel=args.fold_kernel, seed=args.seed, color_fix=args.color_fix or "auto",
                                   lattice_fix=args.lattice_fix, noise=args.noise, degrid=not args.no_degrid),
            allow_other_encoder_name=args.encoder is not None,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    failures = written = 0
    for path, mine in progress(group.shard(list(zip(inputs, names))), "enhancing", group):
        try:
            result = pipe.enhance(load_image(path, max_pixels=args.max_pixels))
            _note_reach(path, result, calibration)
        except (ValueError, MemoryError) as exc:
            failures += 1
            note(f"skipped {path.name}: {exc}" if isinstance(exc, MemoryError) else f"skipped: {exc}")
            continue
        written += _write_outputs(pipe, result, alphas, out_dir, mine, args)
    failures, written = group.sum_ints(failures, written)
    done = len(inputs) - failures
    if group.is_main:
        print(f"wrote {written} image(s) for {done} of {len(inputs)} input(s) to {out_dir}")
    if not done:
        raise CLIError("none of the inputs could be enhanced; see above")
    return 1 if failures else 0
