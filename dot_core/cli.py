"""Command line: ``python -m dot_core {calibrate,enhance,info}`` (or ``dot-core`` once installed).

Bad input gives a one-line message on stderr and a non-zero exit, never a traceback. In a batch,
a bad file is reported and skipped; the others are still processed, and the exit code is 1 at
the end. Exit codes: 0 success, 1 some inputs failed, 2 nothing could be done.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from pathlib import Path

from tqdm.auto import tqdm

from .calibration import MODES, Calibrator, check_restoration_lattice
from .calibration_file import load_calibration, read_provenance, save_calibration
from .distributed import ProcessGroup, all_reduce_calibrator, init_from_env
from .encoders import EncoderUnavailableError
from .imageio import DEFAULT_MAX_PIXELS, collect_image_paths, load_image, save_image
from .latents import encoder_for, load_encoder
from .patches import FOLD_KERNELS, NOISE_MODELS
from .pipeline import DOTPipeline, TransportConfig
from .provenance import write_png_provenance

__all__ = ["main", "build_parser", "parse_alphas"]

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
    """``--alpha 0 --alpha 0.5,1`` → [0.0, 0.5, 1.0]; default [0.0]."""
    out: list[float] = []
    for value in values or ["0"]:
        for part in value.split(","):
            try:
                a = float(part)
            except ValueError:
                raise CLIError(f"--alpha expects numbers, got {part!r}") from None
            if not math.isfinite(a):
                raise CLIError(f"--alpha must be finite, got {part!r}")
            out.append(a)
    return out


def _note(msg: str) -> None:
    tqdm.write(f"{PROG}: {msg}", file=sys.stderr)  # keeps an open progress bar intact


def _progress(items: list, desc: str, group: ProcessGroup) -> tqdm:
    """A progress bar on the main process's terminal only: piped into a log, a bar's carriage
    returns and blanked lines would surround every message; there, the messages stand alone."""
    return tqdm(items, desc=desc, unit="image", disable=None if group.is_main else True)


def _prog() -> str:
    """How the user called us: ``dot-core`` (console script) or ``python -m dot_core``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and name not in ("__main__.py", "-c", "-m") else f"python -m {PROG}"


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1 or mps (default: %(default)s)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="VAE precision; statistics stay float64 (default: %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse images of more than N pixels (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(), description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="calibrate, enhance or info")

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
    cal.add_argument("--mode", choices=MODES, default="unpaired",
                     help="unpaired sets; paired: restored[i] restores clean[i]; zero-shot: clean images only "
                          "(default: %(default)s)")
    cal.add_argument("--method", choices=["auto", "deterministic", "stochastic"], default="auto",
                     help="operator: deterministic (eq. 2), stochastic (eq. 5, for a singular restored "
                          "covariance) or auto, which picks (default: %(default)s)")
    cal.add_argument("--restoration-lattice", type=int, default=None, metavar="P",
                     help="the restorer's lattice period in pixels (a x4 upscaler: 4): enhancing then keeps the "
                          "restoration's content around those frequencies, so the transport cannot grow its "
                          "interpolation grid (default: none)")
    cal.add_argument("--no-content-match", dest="match_content", action="store_false",
                     help="unpaired: fit to the clean set's statistics as they are, without moving them to the "
                          "restored set's content (docs/method.md, 'Content and degradation')")
    cal.add_argument("--out", required=True, metavar="FILE.safetensors", help="where to write the calibration")
    _add_runtime_args(cal)

    enh = sub.add_parser("enhance", help="transport restored images with a calibration",
                         description="Transport restored images with a calibration and write one PNG per input "
                                     "and alpha; a bad file is reported and skipped.")
    enh.add_argument("inputs", nargs="+", metavar="IN", help="restored images or folders")
    enh.add_argument("--calibration", required=True, metavar="FILE", help="a calibration from 'calibrate'")
    enh.add_argument("--alpha", action="append", metavar="A",
                     help="eq. (4): 1 = restoration, 0 = transported, beyond extrapolates; repeat or A,B,C "
                          "(default: 0)")
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
    enh.add_argument("--seed", type=int, default=0,
                     help="seed of the stochastic operator's noise (eq. 5) (default: %(default)s)")
    enh.add_argument("--noise", choices=NOISE_MODELS, default="stationary",
                     help="how that noise is spread: stationary (eq. 5 as written, the same grain everywhere) or "
                          "local (scaled by each patch's detail: flat regions stay flat) (default: %(default)s)")
    enh.add_argument("--bits", type=int, choices=[8, 16], default=8, help="PNG bit depth (default: %(default)s)")
    enh.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs, one per input and alpha")
    _add_runtime_args(enh)

    info = sub.add_parser("info", help="versions and settings, and what a calibration file holds",
                          description="Print the versions (dot_core, torch, python) and settings in use; given a "
                                      "calibration file, also what it holds and what wrote it.")
    info.add_argument("calibration", nargs="?", metavar="FILE", help="a calibration file to describe (optional)")
    return parser


def _load_encoder(name: str, args: argparse.Namespace):
    try:
        return load_encoder(name, device=_group(args).device_for(args.device), dtype=args.dtype)
    except (EncoderUnavailableError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _group(args: argparse.Namespace) -> ProcessGroup:
    """The processes sharing this command (``main`` joins them); one when called directly."""
    return getattr(args, "group", None) or ProcessGroup()


def _paths(items: list[str], label: str) -> list[Path]:
    try:
        return collect_image_paths(items)
    except ValueError as exc:
        raise CLIError(f"{label}: {exc}") from None


def run_calibrate(args: argparse.Namespace) -> int:
    if args.mode != "zero-shot" and not args.restored:
        raise CLIError(f"--restored is required in {args.mode} mode")
    restored = _paths(args.restored, "--restored") if args.restored else []
    clean = _paths(args.clean, "--clean")
    if args.mode == "paired" and len(restored) != len(clean):
        raise CLIError(f"paired mode needs as many restored as clean images, got {len(restored)} and {len(clean)}")
    try:  # before loading a latent space, which may take a while
        check_restoration_lattice(args.restoration_lattice)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    encoder = _load_encoder(args.encoder, args)
    patch = args.patch_size or getattr(encoder, "default_patch_size", 3)
    try:
        calibrator = Calibrator(encoder, patch, mode=args.mode, method=args.method,
                                restoration_lattice=args.restoration_lattice,
                                match_content=None if args.match_content else False)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    failures = 0
    jobs = list(zip(restored, clean)) if args.mode == "paired" else [(p, None) for p in restored] + [(None, p) for p in clean]
    group = _group(args)  # under accelerate launch, each process takes a shard
    for r_path, c_path in _progress(group.shard(jobs), "calibrating", group):
        try:
            r_img = None if r_path is None else load_image(r_path, max_pixels=args.max_pixels)
            c_img = None if c_path is None else load_image(c_path, max_pixels=args.max_pixels)
            if args.mode == "paired":
                calibrator.add_pair(r_img, c_img)
            elif r_img is not None:
                calibrator.add_restored(r_img)
            else:
                calibrator.add_clean(c_img)
        except ValueError as exc:
            failures += 1
            _note(f"skipped: {exc}")
    all_reduce_calibrator(calibrator, group)  # float64 sums over all processes (no-op alone)
    (failures,) = group.sum_ints(failures)
    try:
        calibration = calibrator.fit()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not group.is_main:
        return 1 if failures else 0
    out = save_calibration(calibration, args.out)
    print(calibration.summary())
    print(f"wrote {out}")
    if failures:
        _note(f"{failures} file(s) could not be used; see above")
    return 1 if failures else 0


def _output_names(paths: list[Path]) -> list[str]:
    names, seen = [], {}
    for p in paths:
        stem = p.stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def run_enhance(args: argparse.Namespace) -> int:
    alphas = parse_alphas(args.alpha)
    inputs = _paths(args.inputs, "inputs")
    try:
        calibration = load_calibration(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.encoder:
        encoder = _load_encoder(args.encoder, args)
    else:  # the latent the calibration was made in, with the settings it recorded (detail's σ)
        try:
            encoder = encoder_for(calibration, device=_group(args).device_for(args.device), dtype=args.dtype)
        except (EncoderUnavailableError, ValueError) as exc:
            raise CLIError(str(exc)) from None
    try:
        pipe = DOTPipeline(
            encoder, calibration,
            config=TransportConfig(fold_kernel=args.fold_kernel, seed=args.seed, color_fix=args.color_fix or "auto",
                                   lattice_fix=args.lattice_fix, noise=args.noise),
            allow_other_encoder_name=args.encoder is not None,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out_dir = Path(args.out)
    failures = 0
    group = _group(args)  # under accelerate launch, each process writes its own shard
    work = group.shard(list(zip(inputs, _output_names(inputs))))
    for path, stem in _progress(work, "enhancing", group):
        try:
            result = pipe.enhance(load_image(path, max_pixels=args.max_pixels))
            for a in alphas:
                name = f"{stem}.png" if len(alphas) == 1 else f"{stem}_alpha{a:g}.png"
                png = save_image(out_dir / name, pipe.blend(result, a, space=args.space), bits=args.bits)
                write_png_provenance(png, {**result.provenance, "alpha": a, "space": args.space})
        except (ValueError, MemoryError) as exc:
            failures += 1
            _note(f"skipped {path.name}: {exc}" if isinstance(exc, MemoryError) else f"skipped: {exc}")
    (failures,) = group.sum_ints(failures)
    done = len(inputs) - failures
    if group.is_main:
        print(f"wrote {done * len(alphas)} image(s) for {done} of {len(inputs)} input(s) to {out_dir}")
    return 1 if failures else 0


def _versions() -> str:
    import numpy
    import PIL
    import torch

    from ._version import __version__

    line = f"dot_core {__version__}, torch {torch.__version__}, python {platform.python_version()}"
    return f"{line} (numpy {numpy.__version__}, pillow {PIL.__version__})"


def _settings() -> list[str]:
    import torch

    from .memory import CPU_BUDGET_BYTES

    cuda = f"{torch.cuda.device_count()} GPU(s)" if torch.cuda.is_available() else "none"
    mps = getattr(torch.backends, "mps", None)
    hub_offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return [
        f"devices: CUDA {cuda}; MPS {'yes' if mps is not None and mps.is_available() else 'no'}; "
        f"CPU threads {torch.get_num_threads()}",
        f"default encoder: {DEFAULT_ENCODER} (weight-free: detail, pixel)",
        f"Hugging Face Hub: {'offline (HF_HUB_OFFLINE)' if hub_offline else 'online when reachable'}",
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
        made = read_provenance(args.calibration)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"calibrate": run_calibrate, "enhance": run_enhance, "info": run_info}
    # accelerate launch / torchrun: join the process group; alone, this touches nothing
    args.group = init_from_env() if args.command in ("calibrate", "enhance") else ProcessGroup()
    try:
        return commands[args.command](args)
    except CLIError as exc:
        _note(f"error: {exc}")
        return 2
    except MemoryError as exc:
        _note(f"error: {exc or 'out of memory'}; use smaller images or --max-pixels")
        return 2
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    finally:
        args.group.close()
