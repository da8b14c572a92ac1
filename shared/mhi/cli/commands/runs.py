"""`mhi runs list|show|cancel`: look at runs in the run store."""

from __future__ import annotations

import argparse
import json

from mhi.cli.commands.run import print_summary
from mhi.cli.common import services_from_env, table
from mhi.engine.summary import run_summary
from mhi.runtime.controller import Controller
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.inspect import find_run, find_runs, overview


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi runs ...`."""
    p = sub.add_parser("runs", help="list, show and cancel runs")
    runs = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    ls = runs.add_parser("list", help="runs, newest first")
    ls.add_argument("--flow", help="only this flow id")
    ls.add_argument("--account", help="only this account")
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(func=list_runs)
    show = runs.add_parser(
        "show", help="one run: every step with attempts, status, duration, error"
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(func=show_run)
    cancel = runs.add_parser("cancel", help="cancel a run: nothing more is dispatched")
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.add_argument("--reason", default="cancelled by user")
    cancel.set_defaults(func=cancel_run)


def list_runs(args: argparse.Namespace) -> int:
    """Print runs."""
    store = services_from_env().run_store
    refs = [
        r
        for r in find_runs(store)
        if (not args.flow or r.flow_id == args.flow)
        and (not args.account or r.account == args.account)
    ]
    rows = []
    for ref in refs[: args.limit]:
        o = overview(store, ref)
        rows.append(
            (
                ref.run_id,
                ref.flow_id,
                ref.account,
                o.status,
                o.started_at[:19],
                (o.error or "")[:60],
            )
        )
    if not rows:
        print("no runs")
        return 0
    print(table(rows, ["RUN_ID", "FLOW", "ACCOUNT", "STATUS", "STARTED (UTC)", "ERROR"]))
    return 0


def show_run(args: argparse.Namespace) -> int:
    """Print one run's step table."""
    services = services_from_env()
    ref = find_run(services.run_store, args.run_id)
    controller = Controller(services.run_store, _NoBus(), services.clock.now)
    summary = run_summary(controller.state(ref), with_children=True)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)
    return 0


def cancel_run(args: argparse.Namespace) -> int:
    """Request cancellation, and apply it here (another process running the run applies it too)."""
    services = services_from_env()
    ref = find_run(services.run_store, args.run_id)
    with EmbeddedRuntime(services) as runtime:
        runtime.cancel(ref, args.reason)
        runtime.bus.wait_idle(30.0)
        status = runtime.controller.state(ref).done
    print(f"run {ref.run_id}: {(status or {}).get('status', 'cancel requested')}")
    return 0


class _NoBus:
    def publish(self, topic: str, data: bytes, attributes: object) -> None:
        raise RuntimeError("read-only view: nothing may be published")
