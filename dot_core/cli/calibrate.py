"""``calibrate``: collect patch statistics of restored and clean images, fit the operator, write the file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..calibration import LATTICE_AUTO, MODES, Calibrator, check_restoration_lattice
from ..calibration.distributed import all_reduce_calibrator
from ..calibration.files import check_savable, save_calibration
from ..calibration.pairing import ModeChoice, choose_mode, pairs_for_paired_mode
from ..io.images import load_image
from ..ot.gaussian_maps import check_eps
from .common import (
    DEFAULT_ENCODER,
    CLIError,
    add_runtime_args,
    image_paths,
    load_encoder_arg,
    note,
    os_error,
    out_file,
    process_group,
    progress,
)

__all__ = ["add_parser", "run_calibrate"]


def add_parser(sub) -> None:
    """The ``calibrate`` subcommand and its options."""
    cal = sub.add_parser("calibrate", help="collect statistics and fit the transport operator",
                         description="Collect latent patch statistics of restored and clean images and fit the "
                                     "transport operator; prints the latent W2 and the sample counts.")
    cal.add_argument("--restored", nargs="+", default=[], metavar="DIR_OR_FILE", help="restored images (source)")
    cal.add_argument("--clean", nargs="+", required=True, metavar="DIR_OR_FILE", help="clean images (target)")
    cal.add_argument("--encoder", default=DEFAULT_ENCODER, metavar="NAME",
                     help="latent space: sd-vae-ft-mse, sd-vae-ft-ema, taesd (need their weights), detail, "
                          "pixel (weight-free), a repo id, a diffusers VAE folder or a TAESD-family folder "
                          "(*_encoder.* + *_decoder.*, e.g. models/vae_approx/taef2) (default: %(default)s)")
    cal.add_argument("--patch-size", type=int, default=None, metavar="P",
                     help="latent patch size p (default: the encoder's)")
    cal.add_argument("--mode", choices=("auto", *MODES), default="auto",
                     help="auto: paired when every restored image has its clean original of the same size (matched "
                          "by file name: same stem, case and tags such as _sr, _x4, _restored, _out ignored), else "
                          "unpaired; unpaired sets; paired: each restoration with its original (by name, else in "
                          "the order given); zero-shot: clean images only (default: %(default)s)")
    cal.add_argument("--method", choices=["auto", "deterministic", "stochastic"], default="auto",
                     help="operator: deterministic (eq. 2), stochastic (eq. 5, for a singular restored "
                          "covariance) or auto, which picks (default: %(default)s)")
    cal.add_argument("--eps", type=float, default=None, metavar="E",
                     help="the operator's stability constant, relative to the mean eigenvalue of the restored "
                          "covariance: Σs + E·mean λ(Σs)·I replaces Σs (eq. 2); larger is smoother, a number ≥ 0 "
                          "(default: the latent's own, 1e-9 for most)")
    cal.add_argument("--restoration-lattice", default=LATTICE_AUTO, metavar="P",
                     help="the restorer's lattice period in pixels (a x4 upscaler: 4): enhancing then keeps the "
                          "restoration's content around those frequencies, so the transport cannot grow its "
                          "interpolation grid; auto finds it in the restored images (2, 3, 4 or 8), none or 0 "
                          "turns it off (default: %(default)s)")
    cal.add_argument("--no-content-match", dest="match_content", action="store_false",
                     help="unpaired: fit to the clean set's statistics as they are, without moving them to the "
                          "restored set's content (docs/method.md, 'Content and degradation')")
    cal.add_argument("--out", required=True, metavar="FILE.safetensors", help="where to write the calibration")
    add_runtime_args(cal)


def _restoration_lattice(value: str) -> int | str | None:
    """``--restoration-lattice``: "auto", "none" / "0" (off) or a period in pixels."""
    if value == LATTICE_AUTO:
        return value
    if value.lower() in ("none", "0"):
        return None
    try:
        return check_restoration_lattice(int(value))
    except ValueError as exc:
        raise CLIError(f"--restoration-lattice: {exc}" if value.strip().lstrip("-").isdigit() else
                       f"--restoration-lattice must be auto, none or a period in pixels (a x4 upscaler: 4), "
                       f"got {value!r}") from None


def _mode(asked: str, restored: list[Path], clean: list[Path]) -> ModeChoice:
    """The mode to calibrate in, its pairs and why (dot_core.calibration.pairing): auto looks at the file names."""
    try:
        if asked == "auto":
            choice = choose_mode(restored, clean)
            return ModeChoice(choice.mode, choice.pairs, f"auto: {choice.reason}")
        if asked == "paired":
            return pairs_for_paired_mode(restored, clean)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return ModeChoice(asked, (), "asked for")


def run_calibrate(args: argparse.Namespace) -> int:
    if args.mode != "zero-shot" and not args.restored:
        raise CLIError(f"--restored is required in {args.mode} mode (clean images only: --mode zero-shot)")
    restored = image_paths(args.restored, "--restored") if args.restored else []
    clean = image_paths(args.clean, "--clean")
    choice = _mode(args.mode, restored, clean)
    lattice = _restoration_lattice(args.restoration_lattice)  # before loading a latent space (may take a while)
    try:
        check_eps(args.eps)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = out_file(args.out) if process_group(args).is_main else Path(args.out)
    encoder = load_encoder_arg(args.encoder, args)
    patch = args.patch_size or getattr(encoder, "default_patch_size", 3)
    try:
        calibrator = Calibrator(encoder, patch, mode=choice.mode, method=args.method, eps=args.eps,
                                restoration_lattice=lattice,
                                match_content=None if args.match_content else False)
        check_savable(calibrator.source.dim, mode=choice.mode, method=args.method)  # before any image is encoded
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    failures = 0
    paired = choice.mode == "paired"
    jobs = list(choice.pairs) if paired else [(p, None) for p in restored] + [(None, p) for p in clean]
    group = process_group(args)  # under accelerate launch, each process takes a shard
    for r_path, c_path in progress(group.shard(jobs), "calibrating", group):
        try:
            r_img = None if r_path is None else load_image(r_path, max_pixels=args.max_pixels)
            c_img = None if c_path is None else load_image(c_path, max_pixels=args.max_pixels)
            if paired:
                calibrator.add_pair(r_img, c_img)
            elif r_img is not None:
                calibrator.add_restored(r_img)
            else:
                calibrator.add_clean(c_img)
        except ValueError as exc:
            failures += 1
            note(f"skipped: {exc}")
    all_reduce_calibrator(calibrator, group)  # float64 sums over all processes (no-op alone)
    (failures,) = group.sum_ints(failures)
    try:
        calibration = calibrator.fit()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    calibration.info["mode_reason"] = choice.reason
    if not group.is_main:
        return 1 if failures else 0
    try:
        save_calibration(calibration, out)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise os_error(out, exc) from None
    print(calibration.summary())
    print(f"wrote {out}")
    if failures:
        note(f"{failures} file(s) could not be used; see above")
    return 1 if failures else 0
