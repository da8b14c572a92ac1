"""`mhi validate FILE...`: every problem of every flow, with its JSON path, in one pass."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mhi.cli.common import load_json_file
from mhi.errors import InvalidMessageError

if TYPE_CHECKING:
    from mhi.model.problems import Problem


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi validate`."""
    p = sub.add_parser("validate", help="check flow files; every problem with its JSON path")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def check_file(path: str) -> list[Problem]:
    """Return every problem of one flow file (the same checks the controller runs at start)."""
    from mhi.model.validate import validate_flow

    try:
        raw = load_json_file(path)
    except InvalidMessageError as e:
        return [("", str(e).removeprefix(f"{path}: "))]
    return validate_flow(raw)[1]


def run(args: argparse.Namespace) -> int:
    """Validate each file; exit 1 if any has a problem."""
    bad = 0
    for path in args.files:
        problems = check_file(path)
        if not problems:
            print(f"{path}: ok")
            continue
        bad += 1
        print(f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        for where, msg in problems:
            print(f"  {where}: {msg}" if where else f"  {msg}")
    return 1 if bad else 0
