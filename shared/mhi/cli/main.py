"""`mhi`: run and inspect flows, run one step, and the analysts' commands.

Each module in `mhi.cli.commands` exposes `register(subparsers)`; it adds its sub-commands
with `set_defaults(func=...)`, where `func(args) -> int` returns the exit code. Errors from the
error model are printed as one clear line (no traceback) and exit 2.

Building the parser imports every command module, so their top-level imports stay light
(standard library and `mhi.cli.common`): pandas, the Google clients and the runtime load inside
the command that needs them, and `mhi --help` or `mhi runs list` start at once
(`tests/cli/test_startup.py` holds this).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mhi.errors import OrchestratorError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

#: Exit status after the reader of stdout went away (`mhi steps | head -1`), as for SIGPIPE.
EXIT_BROKEN_PIPE = 128 + 13


class _Parser(argparse.ArgumentParser):
    """argparse, except that help written into a closed pipe fails like any other output.

    (argparse swallows the error, so `mhi --help | head -1` would exit 0 where every other
    command exits 141; sub-command parsers are of this class too.)
    """

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        """Write the help to `file` (default stdout), letting a BrokenPipeError through."""
        (file or sys.stdout).write(self.format_help())


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every command module's sub-commands."""
    from mhi.cli import commands

    parser = _Parser(prog="mhi", description="MHI Workflow Orchestrator")
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except OrchestratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mhi` console script."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        # The reader (`head`) is gone: stop quietly. Point stdout at devnull so the flush at
        # interpreter exit does not fail again (the recipe of the `signal` module's docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
