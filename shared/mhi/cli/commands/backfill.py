"""`mhi backfill FLOW --start D --end D`: one run per schedule slot, each for its slot."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mhi.cli.common import parse_assignments, services_from_env


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi backfill`."""
    p = sub.add_parser(
        "backfill",
        help="start one run per schedule slot of a date range (the flow's cron, or daily)",
    )
    p.add_argument("flow", metavar="FLOW_ID", help="a stored flow (flows folder or FLOWS_BUCKET)")
    p.add_argument("--start", required=True, help="first day (2025-01-01) or ISO date-time")
    p.add_argument("--end", required=True, help="last day (2025-01-31, included) or date-time")
    p.add_argument("--max-runs", type=int, default=100, help="start at most N runs (default 100)")
    p.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="flow param"
    )
    p.add_argument("--no-wait", action="store_true", help="do not wait for the runs to end")
    p.add_argument("--timeout", type=float, default=3600.0, help="wait at most SECONDS")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _name(started: dict[str, Any], many: bool) -> str:
    """A started run's name: its run id, with its account when several accounts ran."""
    return f"{started['account']}/{started['run_id']}" if many else str(started["run_id"])


def run(args: argparse.Namespace) -> int:
    """Start the missing slots; on the local store, run them here until they end."""
    from mhi.cli.commands.runs import _acting, _local, _wait
    from mhi.model.keys import RunRef
    from mhi.ops.backfill import parse_bound
    from mhi.ops.identity import cli_actor

    services = services_from_env()
    start = parse_bound(args.start, "start", end=False)
    end = parse_bound(args.end, "end", end=True)
    params = parse_assignments(args.param, "--param")
    statuses: dict[str, str] = {}
    with _acting(services) as ops:
        result = ops.backfill(
            args.flow,
            start,
            end,
            cli_actor(services.settings),
            params=params,
            max_runs=args.max_runs,
        )
        # a flow whose schedule fans out to several accounts has a run per slot and account
        many = len({started["account"] for started in result.started}) > 1
        if _local(services) and not args.no_wait:
            flow = ops.flow(args.flow)
            for started in result.started:
                ref = RunRef(started["account"], flow.flow_id, started["run_id"])
                done = _wait(ops, ref, args.timeout)
                statuses[_name(started, many)] = (done or {}).get("status", "not finished")
    if args.json:
        print(json.dumps({**result.to_json(), "statuses": statuses}, indent=2))
        return 0
    print(f"{args.flow}: {result.slots} slot(s) from {start.isoformat()} to {end.isoformat()}")
    for started in result.started:
        status = statuses.get(_name(started, many), "started")
        print(f"  {_name(started, many)}  for {started['logical_time']}  {status}")
    if result.existing:
        print(f"  {len(result.existing)} slot(s) already had a run: {', '.join(result.existing)}")
    if result.left:
        print(f"  {result.left} slot(s) left (--max-runs {args.max_runs}): run it again")
    failed = [s for s in statuses.values() if s != "succeeded"]
    return 1 if failed else 0
