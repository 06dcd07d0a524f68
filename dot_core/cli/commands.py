"""The command line: ``python -m dot_core {calibrate,enhance,evaluate,info}`` (or ``dot-core`` once installed).

Bad input gives a one-line message on stderr and a non-zero exit, never a traceback. In a batch,
a bad file is reported and skipped; the others are still processed, and the exit code is 1 at
the end. Exit codes: 0 success, 1 some inputs failed, 2 nothing could be done.
"""

from __future__ import annotations

import argparse

from ..calibration.distributed import ProcessGroup, init_from_env
from . import calibrate, enhance, evaluate, info
from .common import DESCRIPTION, EPILOG, CLIError, note, prog

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog=prog(), description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="calibrate, enhance, evaluate or info")
    calibrate.add_parser(sub)
    enhance.add_parser(sub)
    evaluate.add_parser(sub)
    info.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit code: 0 success, 1 some inputs were skipped, 2 nothing could be done."""
    args = build_parser().parse_args(argv)
    commands = {"calibrate": calibrate.run_calibrate, "enhance": enhance.run_enhance, "evaluate": evaluate.run_evaluate,
                "info": info.run_info}
    # accelerate launch / torchrun: join the process group; alone, this touches nothing
    args.group = init_from_env() if args.command in ("calibrate", "enhance", "evaluate") else ProcessGroup()
    try:
        return commands[args.command](args)
    except CLIError as exc:
        note(f"error: {exc}")
        return 2
    except MemoryError as exc:
        note(f"error: {exc or 'out of memory'}; use smaller images or --max-pixels")
        return 2
    except OSError as exc:  # a disk error the command did not expect: still one line
        note(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    finally:
        args.group.close()
