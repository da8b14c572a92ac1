"""`mhi runs list|show|cancel`: look at runs in the run store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC

_RUN_NAME_HELP = "RUN_ID, or FLOW_ID/RUN_ID (ACCOUNT/FLOW_ID/RUN_ID) when the id is not unique"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi runs ...`."""
    p = sub.add_parser("runs", help="list, show and cancel runs")
    runs = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    ls = runs.add_parser("list", help="runs, the most recently started first")
    ls.add_argument("--flow", help="only runs of this flow id")
    ls.add_argument("--account", help="only runs of this account")
    ls.add_argument(
        "--status",
        help="only runs in this status: running, cancelling, succeeded, failed, cancelled, "
        "timed_out",
    )
    ls.add_argument("--limit", type=int, default=20, help="show at most N runs (default 20)")
    ls.set_defaults(func=list_runs)
    show = runs.add_parser(
        "show", help="one run: every step with attempts, status, duration, error"
    )
    show.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(func=show_run)
    cancel = runs.add_parser("cancel", help="cancel a run: nothing more is dispatched")
    cancel.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    cancel.add_argument("--reason", default="cancelled by user")
    cancel.set_defaults(func=cancel_run)


def list_runs(args: argparse.Namespace) -> int:
    """Print runs, the most recently started first."""
    from mhi.cli.common import services_from_env, table
    from mhi.runtime.inspect import list_runs as find

    rows = [
        (
            o.ref.run_id,
            o.ref.flow_id,
            o.ref.account,
            o.status,
            o.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if o.started_at else "-",
            (o.error or "")[:60],
        )
        for o in find(
            services_from_env().run_store,
            account=args.account,
            flow_id=args.flow,
            status=args.status,
            limit=args.limit,
        )
    ]
    if not rows:
        print("no runs")
        return 0
    print(table(rows, ["RUN_ID", "FLOW", "ACCOUNT", "STATUS", "STARTED (UTC)", "ERROR"]))
    return 0


def show_run(args: argparse.Namespace) -> int:
    """Print one run's step table (or its summary as JSON)."""
    from mhi.cli.commands.run import print_summary
    from mhi.cli.common import services_from_env
    from mhi.engine.summary import run_summary
    from mhi.runtime.controller import Controller
    from mhi.runtime.inspect import find_run

    services = services_from_env()
    ref = find_run(services.run_store, args.run)
    controller = Controller(services.run_store, _NoBus(), services.clock.now)
    summary = run_summary(controller.state(ref), with_children=True)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)
    return 0


def cancel_run(args: argparse.Namespace) -> int:
    """Request cancellation, and apply it here (another process running the run applies it too)."""
    from mhi.cli.common import services_from_env
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.runtime.inspect import find_run

    services = services_from_env()
    ref = find_run(services.run_store, args.run)
    with EmbeddedRuntime(services) as runtime:
        runtime.cancel(ref, args.reason)
        runtime.wait_idle(30.0)
        status = runtime.controller.state(ref).done
    print(f"run {ref.run_id} of {ref.flow_id}: {(status or {}).get('status', 'cancel requested')}")
    return 0


class _NoBus:
    """A bus for read-only views: publishing through it is a bug."""

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        raise RuntimeError("read-only view: nothing may be published")
