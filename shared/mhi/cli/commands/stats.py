"""`mhi stats [--flow F] [--since 30d]`: runs, success rate and durations per flow and step, and
SLA hits and misses per flow."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mhi.cli.common import seconds, services_from_env, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi stats`."""
    p = sub.add_parser(
        "stats", help="runs, success rate, p50/p95 durations, failing steps, SLA hits and misses"
    )
    p.add_argument("--flow", help="only this flow id")
    p.add_argument("--since", default="30d", help="runs started since: 30d (default), 12h, date")
    p.add_argument("--max-runs", type=int, default=1000, help="look at most at N runs")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _rows(groups: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            name,
            g["count"],
            g["failed"],
            _rate(g["success_rate"]),
            seconds(g["p50_seconds"]),
            seconds(g["p95_seconds"]),
        )
        for name, g in groups.items()
    ]


def _sla_rows(flows: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            name,
            sla["runs"],
            sla["met"],
            sla["missed"],
            sla["pending"],
            _rate(sla["hit_rate"]),
            seconds(sla["worst_late_seconds"]),
        )
        for name, g in flows.items()
        if (sla := g.get("sla"))
    ]


def run(args: argparse.Namespace) -> int:
    """Print the statistics."""
    from datetime import UTC, datetime

    from mhi.cli.commands.runs import _view, parse_since

    services = services_from_env()
    since = parse_since(args.since, datetime.now(UTC))
    figures = _view(services).stats(flow_id=args.flow, since=since, max_runs=args.max_runs)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    head = ["RUNS", "FAILED", "SUCCESS", "P50", "P95"]
    total = figures["runs"]
    print(f"since {figures['since']}: {total['count']} run(s), {_rate(total['success_rate'])} ok")
    if figures["truncated"]:
        print(f"(the {args.max_runs} most recent runs only: see --max-runs)")
    print("\nper flow:")
    print(table(_rows(figures["flows"]), ["FLOW", *head]))
    sla_rows = _sla_rows(figures["flows"])
    if sla_rows:
        print("\nSLA per flow (met: ended by the deadline):")
        sla_head = ["FLOW", "WITH SLA", "MET", "MISSED", "PENDING", "HIT RATE", "WORST LATE"]
        print(table(sla_rows, sla_head))
    print("\nper step type:")
    print(table(_rows(figures["step_types"]), ["STEP TYPE", *head]))
    sections = (("slowest steps (p95)", "slowest_steps"), ("most failing", "most_failing_steps"))
    for title, key in sections:
        steps = {f"{s['flow_id']}.{s['step_id']}": s for s in figures[key]}
        if steps:
            print(f"\n{title}:")
            print(table(_rows(steps), ["STEP", *head]))
    return 0
