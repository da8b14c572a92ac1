"""`mhi runs list|show|cancel|rerun|pause|resume`: find runs and act on them.

On the local back end an action that makes a run move (rerun, resume, cancel) runs it here on an
embedded runtime until it stops; on the gcp back end it is handed to the controller topic.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mhi.cli.common import parse_assignments, seconds, services_from_env, table
from mhi.errors import InvalidMessageError

if TYPE_CHECKING:
    from mhi.ops.service import OpsService
    from mhi.services import Services

_RUN_NAME_HELP = "RUN_ID, or FLOW_ID/RUN_ID (ACCOUNT/FLOW_ID/RUN_ID) when the id is not unique"
_STATUSES = "running, paused, cancelling, succeeded, failed, cancelled, timed_out"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi runs ...`."""
    p = sub.add_parser("runs", help="list, show, cancel, rerun, pause and resume runs")
    runs = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    ls = runs.add_parser("list", help="runs, the most recently started first")
    ls.add_argument("--flow", help="only runs of this flow id")
    ls.add_argument("--account", help="only runs of this account")
    ls.add_argument("--status", help=f"only runs in this status: {_STATUSES}")
    ls.add_argument("--since", help="only runs started since: 30d, 12h, or an ISO date")
    ls.add_argument("--limit", type=int, default=20, help="show at most N runs (default 20)")
    ls.add_argument("--cursor", help="continue a listing after the cursor it printed")
    ls.add_argument("--json", action="store_true", help="print the runs as JSON")
    ls.set_defaults(func=list_runs)
    show = runs.add_parser(
        "show", help="one run: steps, attempts, errors, outputs, artifacts, audit, log links"
    )
    show.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    show.add_argument("--json", action="store_true", help="print everything as JSON")
    show.set_defaults(func=show_run)
    cancel = runs.add_parser("cancel", help="cancel a run: nothing more is dispatched")
    cancel.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    cancel.add_argument("--reason", default="cancelled by user")
    cancel.set_defaults(func=cancel_run)
    rerun = runs.add_parser(
        "rerun", help="re-run a finished run from its failure (succeeded steps keep their output)"
    )
    rerun.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    rerun.add_argument(
        "--from", dest="from_step", metavar="STEP", help="re-run STEP and everything downstream"
    )
    rerun.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="edit a param"
    )
    rerun.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STEP.config.PATH=VALUE",
        help="edit a step's config for the replay (JSON value or string); repeatable",
    )
    rerun.add_argument("--reason", help="why (kept with the rerun)")
    rerun.add_argument("--no-wait", action="store_true", help="do not wait for the run to end")
    rerun.add_argument("--timeout", type=float, default=3600.0, help="wait at most SECONDS")
    rerun.set_defaults(func=rerun_run)
    pause = runs.add_parser("pause", help="hold back new dispatches (running steps go on)")
    pause.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    pause.set_defaults(func=pause_run)
    resume = runs.add_parser("resume", help="let a paused run dispatch again")
    resume.add_argument("run", metavar="RUN", help=_RUN_NAME_HELP)
    resume.add_argument("--no-wait", action="store_true", help="do not wait for the run to end")
    resume.add_argument("--timeout", type=float, default=3600.0, help="wait at most SECONDS")
    resume.set_defaults(func=resume_run)


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`30d`, `12h`, `45m` back from now, or an ISO date / date-time (UTC if naive)."""
    if value is None:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[:-1].isdigit() and value[-1:] in units:
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessageError(
            f"--since {value!r}: expected 30d, 12h, 45m or an ISO date (2025-01-31)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`STEP.config.PATH=VALUE` edits, by step (values are JSON when they parse as JSON)."""
    edits: dict[str, dict[str, Any]] = {}
    for target, value in parse_assignments(items, "--set").items():
        step, sep, path = target.partition(".config.")
        if not sep or not step or not path:
            raise InvalidMessageError(f"--set {target!r}: expected STEP.config.PATH=VALUE")
        edits.setdefault(step, {})[path] = value
    return edits


def _view(services: Services) -> OpsService:
    from mhi.ops.wiring import build

    return build(services, read_only=True)


def list_runs(args: argparse.Namespace) -> int:
    """Print runs, the most recently started first."""
    from mhi.ops.index import RunFilter

    services = services_from_env()
    where = RunFilter(args.account, args.flow, args.status, parse_since(args.since, _now()))
    page = _view(services).runs(where, limit=args.limit, cursor=args.cursor)
    if args.json:
        out = {"runs": [r.to_json() for r in page.rows], "cursor": page.cursor}
        print(json.dumps(out, indent=2))
        return 0
    if not page.rows:
        print("no runs")
        return 0
    rows = [
        (
            r.ref.run_id,
            r.ref.flow_id,
            r.ref.account,
            r.status,
            r.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            (r.requested_by or {}).get("actor", "-"),
            (r.error or "")[:60],
        )
        for r in page.rows
    ]
    headers = ["RUN_ID", "FLOW", "ACCOUNT", "STATUS", "STARTED (UTC)", "BY", "ERROR"]
    print(table(rows, headers))
    if page.cursor:
        print(f"more: add --cursor {page.cursor}", file=sys.stderr)
    return 0


def show_run(args: argparse.Namespace) -> int:
    """Print one run: steps, attempts, dead letters, reruns, audit and log links."""
    from mhi.cli.run_view import print_run

    services = services_from_env()
    ops = _view(services)
    detail = ops.show(ops.find(args.run))
    if args.json:
        print(json.dumps(detail, indent=2, default=str))
    else:
        print_run(detail)
    return 0


def cancel_run(args: argparse.Namespace) -> int:
    """Ask a run to stop, and apply it (on the local store, here and now)."""
    from mhi.ops.identity import cli_actor

    services = services_from_env()
    by = cli_actor(services.settings)
    with _acting(services) as ops:
        ref = ops.find(args.run)
        asked = ops.cancel(ref, by, args.reason)
        state = _wait(ops, ref, 30.0) if _local(services) else None
    done = (state or {}).get("status") if state else None
    what = done or ("cancel requested" if asked else "cancel was already requested")
    print(f"run {ref.run_id} of {ref.flow_id}: {what}")
    return 0


def rerun_run(args: argparse.Namespace) -> int:
    """Re-run a finished run; on the local store, run it to its end and print its steps."""
    from mhi.ops.identity import cli_actor

    services = services_from_env()
    params = parse_assignments(args.param, "--param")
    config = parse_sets(args.set)
    with _acting(services) as ops:
        ref = ops.find(args.run)
        plan = ops.rerun(
            ref,
            cli_actor(services.settings),
            from_step=args.from_step,
            params=params or None,
            config=config or None,
            reason=args.reason,
        )
        print(
            f"run {ref.run_id} of {ref.flow_id}: generation {plan['generation']} re-runs "
            f"{', '.join(plan['steps'])}",
            flush=True,
        )
        if args.no_wait or not _local(services):
            return 0
        done = _wait(ops, ref, args.timeout)
    return _report(ops, ref, done)


def pause_run(args: argparse.Namespace) -> int:
    """Hold back a run's new dispatches."""
    from mhi.ops.identity import cli_actor

    services = services_from_env()
    ops = _view(services)
    ref = ops.find(args.run)
    paused = ops.pause(ref, cli_actor(services.settings))
    print(f"run {ref.run_id} of {ref.flow_id}: {'paused' if paused else 'already paused'}")
    return 0


def resume_run(args: argparse.Namespace) -> int:
    """Let a paused run dispatch again; on the local store, run it to its end here."""
    from mhi.ops.identity import cli_actor

    services = services_from_env()
    with _acting(services) as ops:
        ref = ops.find(args.run)
        resumed = ops.resume(ref, cli_actor(services.settings))
        print(f"run {ref.run_id} of {ref.flow_id}: {'resumed' if resumed else 'not paused'}")
        if not resumed or args.no_wait or not _local(services):
            return 0
        done = _wait(ops, ref, args.timeout)
    return _report(ops, ref, done)


# ---- helpers ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _local(services: Services) -> bool:
    return services.settings.backend != "gcp"


class _acting:
    """The service with an executor: an embedded runtime on the local back end."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.runtime: Any = None

    def __enter__(self) -> OpsService:
        from mhi.ops.wiring import build

        if not _local(self.services):
            return build(self.services)
        from mhi.runtime.embedded import EmbeddedRuntime

        self.runtime = EmbeddedRuntime(self.services).__enter__()
        return build(self.services, runtime=self.runtime)

    def __exit__(self, *exc: object) -> None:
        if self.runtime is not None:
            self.runtime.wait_idle(30.0)
            self.runtime.__exit__(*exc)


def _wait(ops: OpsService, ref: Any, timeout: float) -> dict[str, Any] | None:
    """Wait until the run's latest generation is done (local runs move in this process)."""
    import time

    from mhi.ops.control import load_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = load_state(ops.store, ref)
        if state.done is not None:
            return state.done
        time.sleep(0.1)
    print(f"error: run {ref.run_id} not finished after {timeout}s", file=sys.stderr)
    return None


def _report(ops: OpsService, ref: Any, done: dict[str, Any] | None) -> int:
    from mhi.cli.run_view import print_steps

    if done is None:
        return 1
    detail = ops.show(ref)
    print_steps(detail)
    status = detail["status"]
    print(f"\nrun {ref.run_id} of {ref.flow_id}: {status.upper()} in {seconds(_span(detail))}")
    if detail.get("error"):
        print(f"  {detail['error']}")
    return 0 if status == "succeeded" else 1


def _span(detail: dict[str, Any]) -> float | None:
    value = detail.get("duration_seconds")
    return float(value) if isinstance(value, int | float) else None
