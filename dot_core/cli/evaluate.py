"""``evaluate``: a test set's perception–distortion table against its ground truths (:mod:`dot_core.evaluation`)."""

from __future__ import annotations

import argparse

from ..calibration.files import load_calibration
from ..latents.base import EncoderUnavailableError
from ..latents.registry import encoder_for
from ..ot.patches import NOISE_MODELS
from ..pipeline import DOTPipeline, TransportConfig
from .common import CLIError, add_runtime_args, image_paths, load_encoder_arg, note, parse_alphas, process_group

__all__ = ["add_parser", "run_evaluate"]


def add_parser(sub) -> None:
    """The ``evaluate`` subcommand and its options."""
    ev = sub.add_parser("evaluate", help="a test set's perception–distortion table against its ground truths",
                        description="Enhance every restoration at every alpha and measure it against the ground "
                                    "truth of the same name: metrics.csv, summary.json, table.md and pd_plot.png "
                                    "(PSNR, SSIM, texture distance, lattice ratio; LPIPS, FID and KID where their "
                                    "networks can be loaded). A re-run with the same settings skips finished images.")
    ev.add_argument("--calibration", required=True, metavar="FILE", help="a calibration from 'calibrate'")
    ev.add_argument("--restored", nargs="+", required=True, metavar="DIR_OR_FILE", help="restorations to enhance")
    ev.add_argument("--truth", nargs="+", required=True, metavar="DIR_OR_FILE",
                    help="ground truths, matched with the restorations by file name (stem)")
    ev.add_argument("--alpha", action="append", metavar="A",
                    help="eq. (4)'s alpha; repeat or A,B,C (default: -1 to 2 in steps of 0.25)")
    ev.add_argument("--encoder", default=None, metavar="NAME",
                    help="override the calibration's encoder (default: the calibration's)")
    ev.add_argument("--space", choices=["pixel", "latent"], default="pixel", help="where to interpolate (default: %(default)s)")
    ev.add_argument("--color-fix", choices=["none", "wavelet", "adain"], default=None,
                    help="as for enhance (default: wavelet for learned latents, none for detail and pixel)")
    ev.add_argument("--seed", type=int, default=0, help="seed of eq. 5's noise (default: %(default)s)")
    ev.add_argument("--noise", choices=NOISE_MODELS, default="stationary", help="as for enhance (default: %(default)s)")
    ev.add_argument("--lattice-period", type=int, default=None, metavar="P",
                    help="period of the lattice ratio (default: the calibration's restorer's lattice, else 4)")
    ev.add_argument("--no-perceptual", action="store_true", help="skip LPIPS, FID and KID (no network is loaded)")
    ev.add_argument("--out", required=True, metavar="DIR", help="folder for the table, plot and per-image parts")
    add_runtime_args(ev)


def _evaluate_pipeline(args: argparse.Namespace) -> DOTPipeline:
    try:
        calibration = load_calibration(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        encoder = (load_encoder_arg(args.encoder, args) if args.encoder else
                   encoder_for(calibration, device=process_group(args).device_for(args.device), dtype=args.dtype))
        config = TransportConfig(seed=args.seed, color_fix=args.color_fix or "auto", noise=args.noise)
        return DOTPipeline(encoder, calibration, config=config, allow_other_encoder_name=args.encoder is not None)
    except (EncoderUnavailableError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.dataset import DEFAULT_ALPHAS, evaluate_dataset
    from ..evaluation.report import summarize, write_report
    from ..quality.perceptual import load_perceptual

    alphas = parse_alphas(args.alpha) if args.alpha else list(DEFAULT_ALPHAS)
    if args.lattice_period is not None and args.lattice_period < 2:
        raise CLIError(f"--lattice-period must be at least 2 pixels, got {args.lattice_period}")
    restored, truth = image_paths(args.restored, "--restored"), image_paths(args.truth, "--truth")
    pipe = _evaluate_pipeline(args)
    group = process_group(args)
    perceptual = load_perceptual(None if args.no_perceptual else "inception", lpips=not args.no_perceptual)
    try:
        ev = evaluate_dataset(pipe, restored, truth, args.out, alphas=alphas, space=args.space,
                              lattice_period=args.lattice_period, perceptual=perceptual, group=group,
                              max_pixels=args.max_pixels)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not ev.images:
        raise CLIError("no image could be evaluated: " + "; ".join(ev.skipped))
    if not group.is_main:
        return 1 if ev.skipped else 0
    for s in ev.skipped:
        note(f"skipped {s}")
    summary = summarize(ev, perceptual)
    paths = write_report(ev, summary, args.out)
    for reason in summary["not_measured"]:
        note(reason)
    print(f"evaluated {len(ev.images)} image(s) at {len(alphas)} alpha(s); wrote " +
          ", ".join(str(p) for p in paths.values()))
    return 1 if ev.skipped else 0
