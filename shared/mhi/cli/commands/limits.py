"""`mhi limits KEY`: who holds the slots of a concurrency key, and which runs wait for one."""

from __future__ import annotations

import argparse
import json

from mhi.cli.common import services_from_env, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi limits`."""
    p = sub.add_parser(
        "limits", help="who holds the slots of a concurrency key, and which runs wait for one"
    )
    p.add_argument("key", help="a rendered concurrency key, e.g. qlik:hotel-fergus")
    p.add_argument("--json", action="store_true", help="print the slots as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the key's slots (held or free, by whom, since when) and the waiting runs."""
    from mhi.model.limits import key_problem
    from mhi.runtime.limits import describe_key

    problem = key_problem(args.key)
    if problem is not None:
        print(f"mhi limits: {problem}")
        return 2
    detail = describe_key(services_from_env().run_store, args.key)
    if args.json:
        print(json.dumps(detail, indent=2))
        return 0
    if not detail["slots"]:
        print(f"{args.key}: no slot was ever taken")
    rows = [
        (
            s["slot"],
            "held" if s["holder"] else "free",
            _holder(s["holder"]) if s["holder"] else "-",
            s["holder"]["at"] if s["holder"] else "-",
        )
        for s in detail["slots"]
    ]
    if rows:
        print(table(rows, ["SLOT", "STATE", "HOLDER", "SINCE"]))
    for ref in detail["waiting"]:
        print(f"waiting: {ref}")
    return 0


def _holder(h: dict[str, str]) -> str:
    return f"{h['account']}/{h['flow_id']}/{h['run_id']} step {h['step']} attempt {h['attempt']}"
