"""Command line: ``python -m dot_core {calibrate,enhance,evaluate,info}`` (or ``dot-core`` once installed).

Bad input gives a one-line message on stderr and a non-zero exit, never a traceback. In a batch,
a bad file is reported and skipped; the others are still processed, and the exit code is 1 at
the end. Exit codes: 0 success, 1 some inputs failed, 2 nothing could be done.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path

from tqdm.auto import tqdm

from .calibration.distributed import ProcessGroup, all_reduce_calibrator, init_from_env
from .calibration.files import check_savable, load_calibration, read_provenance, save_calibration
from .calibration.fit import LATTICE_AUTO, MODES, Calibrator, check_restoration_lattice
from .calibration.pairing import ModeChoice, choose_mode, pairs_for_paired_mode
from .calibration.reach import enhanced_reach
from .io.images import DEFAULT_MAX_PIXELS, collect_image_paths, load_image, save_image
from .io.outputs import inputs_overwritten, output_names
from .io.png import write_png_provenance
from .latents.base import EncoderUnavailableError
from .latents.hub import hub_offline
from .latents.registry import encoder_for, load_encoder
from .ot.gaussian import check_eps
from .ot.patches import FOLD_KERNELS, NOISE_MODELS
from .pipeline import ALPHA_MAX, ALPHA_MIN, DOTPipeline, TransportConfig, check_alpha

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


def _os_error(path, exc: OSError) -> CLIError:
    """One line naming the path and what the system said (``Not a directory``, ``No space left``)."""
    return CLIError(f"{path}: {exc.strerror or exc}")


def _make_folder(folder: Path, out: Path) -> None:
    """Create ``folder`` (and its parents) for ``--out``, or say in one line why it cannot be."""
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise CLIError(f"--out {out}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(folder, exc) from None


def _out_file(path: str) -> Path:
    """``calibrate --out``: a file whose folder exists or can be made; checked before any work."""
    out = Path(path)
    if out.is_dir():
        raise CLIError(f"--out {out}: is a folder; give a file name, e.g. {out / 'calibration.safetensors'}")
    _make_folder(out.parent, out)
    return out


def _out_dir(path: str) -> Path:
    """``enhance --out``: a folder that exists or can be made; checked before any work."""
    out = Path(path)
    _make_folder(out, out)
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
                                help="calibrate, enhance, evaluate or info")

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
    _add_runtime_args(cal)

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
                          "when the calibration names the grid and the latent is detail or pixel, the copy: the grid "
                          "does not grow)")
    enh.add_argument("--seed", type=int, default=0,
                     help="seed of the stochastic operator's noise (eq. 5) (default: %(default)s)")
    enh.add_argument("--noise", choices=NOISE_MODELS, default="stationary",
                     help="how that noise is spread: stationary (eq. 5 as written, the same grain everywhere) or "
                          "local (scaled by each patch's detail: flat regions stay flat) (default: %(default)s)")
    enh.add_argument("--bits", type=int, choices=[8, 16], default=8, help="PNG bit depth (default: %(default)s)")
    enh.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs, one per input and alpha")
    _add_runtime_args(enh)

    _add_evaluate_parser(sub)

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
    restored = _paths(args.restored, "--restored") if args.restored else []
    clean = _paths(args.clean, "--clean")
    choice = _mode(args.mode, restored, clean)
    lattice = _restoration_lattice(args.restoration_lattice)  # before loading a latent space (may take a while)
    try:
        check_eps(args.eps)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = _out_file(args.out) if _group(args).is_main else Path(args.out)
    encoder = _load_encoder(args.encoder, args)
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
    group = _group(args)  # under accelerate launch, each process takes a shard
    for r_path, c_path in _progress(group.shard(jobs), "calibrating", group):
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
            _note(f"skipped: {exc}")
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
        raise _os_error(out, exc) from None
    print(calibration.summary())
    print(f"wrote {out}")
    if failures:
        _note(f"{failures} file(s) could not be used; see above")
    return 1 if failures else 0


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
            raise _os_error(path, exc) from None
    return len(names)


def _note_reach(path: Path, result, calibration) -> None:
    """One line on stdout: how far the transport got on this image (W2 to the target, detail energy)."""
    reach = enhanced_reach(result, calibration)
    if reach is not None:  # None: a latent smaller than two patches, the image is still written
        tqdm.write(f"{path.name}: {reach.describe('after the fold')}", file=sys.stdout)  # an open bar stays intact


def run_enhance(args: argparse.Namespace) -> int:
    alphas = parse_alphas(args.alpha)
    inputs = _paths(args.inputs, "inputs")
    names = output_names(inputs, alphas)
    group = _group(args)  # under accelerate launch, each process writes its own shard
    out_dir = _out_dir(args.out) if group.is_main else Path(args.out)
    _refuse_overwriting(inputs, out_dir, names)
    try:
        calibration = load_calibration(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.encoder:
        encoder = _load_encoder(args.encoder, args)
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
    for path, mine in _progress(group.shard(list(zip(inputs, names))), "enhancing", group):
        try:
            result = pipe.enhance(load_image(path, max_pixels=args.max_pixels))
            _note_reach(path, result, calibration)
        except (ValueError, MemoryError) as exc:
            failures += 1
            _note(f"skipped {path.name}: {exc}" if isinstance(exc, MemoryError) else f"skipped: {exc}")
            continue
        written += _write_outputs(pipe, result, alphas, out_dir, mine, args)
    failures, written = group.sum_ints(failures, written)
    done = len(inputs) - failures
    if group.is_main:
        print(f"wrote {written} image(s) for {done} of {len(inputs)} input(s) to {out_dir}")
    if not done:
        raise CLIError("none of the inputs could be enhanced; see above")
    return 1 if failures else 0


def _add_evaluate_parser(sub) -> None:
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
    _add_runtime_args(ev)


def _evaluate_pipeline(args: argparse.Namespace) -> DOTPipeline:
    try:
        calibration = load_calibration(args.calibration)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        encoder = (_load_encoder(args.encoder, args) if args.encoder else
                   encoder_for(calibration, device=_group(args).device_for(args.device), dtype=args.dtype))
        config = TransportConfig(seed=args.seed, color_fix=args.color_fix or "auto", noise=args.noise)
        return DOTPipeline(encoder, calibration, config=config, allow_other_encoder_name=args.encoder is not None)
    except (EncoderUnavailableError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def run_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.dataset import DEFAULT_ALPHAS, evaluate_dataset
    from .evaluation.report import summarize, write_report
    from .quality.perceptual import load_perceptual

    alphas = parse_alphas(args.alpha) if args.alpha else list(DEFAULT_ALPHAS)
    if args.lattice_period is not None and args.lattice_period < 2:
        raise CLIError(f"--lattice-period must be at least 2 pixels, got {args.lattice_period}")
    restored, truth = _paths(args.restored, "--restored"), _paths(args.truth, "--truth")
    pipe = _evaluate_pipeline(args)
    group = _group(args)
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
        _note(f"skipped {s}")
    summary = summarize(ev, perceptual)
    paths = write_report(ev, summary, args.out)
    for reason in summary["not_measured"]:
        _note(reason)
    print(f"evaluated {len(ev.images)} image(s) at {len(alphas)} alpha(s); wrote " +
          ", ".join(str(p) for p in paths.values()))
    return 1 if ev.skipped else 0


def _versions() -> str:
    import numpy
    import PIL
    import torch

    from ._version import __version__

    line = f"dot_core {__version__}, torch {torch.__version__}, python {platform.python_version()}"
    return f"{line} (numpy {numpy.__version__}, pillow {PIL.__version__})"


def _settings() -> list[str]:
    import torch

    from .latents.memory import CPU_BUDGET_BYTES

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
    commands = {"calibrate": run_calibrate, "enhance": run_enhance, "evaluate": run_evaluate, "info": run_info}
    # accelerate launch / torchrun: join the process group; alone, this touches nothing
    args.group = init_from_env() if args.command in ("calibrate", "enhance", "evaluate") else ProcessGroup()
    try:
        return commands[args.command](args)
    except CLIError as exc:
        _note(f"error: {exc}")
        return 2
    except MemoryError as exc:
        _note(f"error: {exc or 'out of memory'}; use smaller images or --max-pixels")
        return 2
    except OSError as exc:  # a disk error the command did not expect: still one line
        _note(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    finally:
        args.group.close()
