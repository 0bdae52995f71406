"""What every command line shares: the ``--gin``/``--bind``/``--debug`` arguments and the rule
that a user error ends the program with one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from wm_core.gin_front import debug_enabled, one_line

__all__ = ["ErrorCodes", "add_config_arguments", "report_errors"]

ErrorCodes = Sequence[tuple[tuple[type[BaseException], ...], int]]


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--gin FILE`` and ``--bind BINDING`` (repeatable, later wins) and ``--debug``."""
    parser.add_argument(
        "--gin", action="append", default=[], metavar="FILE", help="gin file (repeatable)"
    )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="gin binding, e.g. \"ENCODER = 'vit'\" (repeatable, later wins)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (also: environment WM_DEBUG=1)",
    )


def report_errors(
    prog: str, body: Callable[[], int], errors: ErrorCodes, *, debug: bool = False
) -> int:
    """Run ``body``; an exception listed in ``errors`` prints ``<prog>: error: <one line>`` and
    returns its code (with ``--debug`` or ``WM_DEBUG=1`` it propagates with its traceback)."""
    try:
        return body()
    except Exception as exc:
        for types, code in errors:
            if isinstance(exc, types):
                if debug_enabled(debug):
                    raise
                print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
                return code
        raise
