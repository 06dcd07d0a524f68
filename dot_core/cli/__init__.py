"""Command line: ``python -m dot_core {calibrate,enhance,evaluate,info}`` (or ``dot-core`` once installed).

One module per subcommand (:mod:`.calibrate`, :mod:`.enhance`, :mod:`.evaluate`, :mod:`.info`),
what they share in :mod:`.common`, the parser and the exit codes in :mod:`.commands`.
"""

from .commands import build_parser, main
from .common import parse_alphas

__all__ = ["main", "build_parser", "parse_alphas"]
