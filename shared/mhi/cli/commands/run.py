"""`mhi run FLOW.json`: run a flow end to end on the embedded runtime, with live progress."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from mhi.cli.common import load_json_file, parse_assignments, seconds, services_from_env

if TYPE_CHECKING:
    from mhi.model.keys import RunRef
    from mhi.model.run import RunState
    from mhi.runtime.embedded import EmbeddedRuntime

_MARK = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "running": "▶",
    "waiting": "…",
    "retrying": "↻",
    "pending": " ",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi run`."""
    p = sub.add_parser("run", help="run a flow end to end on this machine (embedded runtime)")
    p.add_argument("flow", metavar="FLOW.json", help="flow file")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="flow param (JSON value or string); repeatable",
    )
    p.add_argument("--run-id", help="idempotency key: a run with this id runs only once")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after SECONDS")
    p.add_argument(
        "--workers",
        type=int,
        default=4,
        help="threads carrying controller messages (default 4); steps run at once, "
        "up to the flow's max_parallel",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)


def _progress(state: RunState, seen: dict[str, str], t0: float) -> None:
    for step in list(state.steps.values()):  # copied: workers may add children
        status = state.status(step).value
        if seen.get(step.id) == status:
            continue
        seen[step.id] = status
        last = step.last
        extra = ""
        if status in ("running", "retrying") and last is not None:
            extra = f"attempt {last.number}"
        elif status == "failed" and last is not None and last.result:
            extra = (last.result.get("error") or {}).get("message", "")[:120]
        elif status == "skipped":
            extra = (step.skipped or {}).get("reason", "")
        elif status == "succeeded" and step.parent is None:
            out = state.output(step.id)
            extra = ", ".join(
                f"{k}={v}" for k, v in out.items() if isinstance(v, int | float | str)
            )[:120]
        if status != "pending":
            print(
                f"[{time.monotonic() - t0:7.2f}s] {_MARK.get(status, ' ')} {step.id:<28} "
                f"{status:<9} {extra}".rstrip(),
                flush=True,
            )


def print_summary(summary: dict[str, Any]) -> None:
    """Print the step table and the final status."""
    from mhi.cli.run_view import print_notification, print_steps

    print()
    print_steps(summary)
    print()
    line = f"run {summary['run_id']} of {summary['flow_id']}: {summary['status'].upper()}"
    print(f"{line} in {seconds(summary['duration_seconds'])}")
    if summary["error"]:
        print(f"  {summary['error']}")
    print_notification(summary)


def _follow(runtime: EmbeddedRuntime, ref: RunRef, t0: float, args: argparse.Namespace) -> bool:
    """Print progress until the run is done (True) or `--timeout` passes (False)."""
    seen: dict[str, str] = {}
    deadline = t0 + args.timeout
    while time.monotonic() < deadline:
        state = runtime.state(ref)
        if not args.quiet:
            _progress(state, seen, t0)
        if state.done is not None:
            return True
        time.sleep(0.05)
    return False


def _interrupted(runtime: EmbeddedRuntime, ref: RunRef, flow_file: str) -> int:
    """Ctrl-C: ask whether to cancel the run or leave it to be resumed (without a terminal: leave
    it), and say how to resume it."""
    answer = "l"
    if sys.stdin.isatty():
        try:
            answer = input("\ncancel the run, or leave it to resume later? [c/L] ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            answer = "l"
    if answer.startswith("c"):
        runtime.cancel(ref, "cancelled by user (Ctrl-C)")
        runtime.wait_idle(10.0)
        print(f"run {ref.run_id}: cancelled", file=sys.stderr)
    else:
        print(
            f"\nrun {ref.run_id} left as it is; resume it with:\n"
            f"  mhi run {flow_file} --run-id {ref.run_id}",
            file=sys.stderr,
        )
    return 130


def run(args: argparse.Namespace) -> int:
    """Run the flow; exit 0 when it succeeds, 1 otherwise."""
    from mhi.engine.summary import run_summary
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.runtime.start import parse_start

    raw = load_json_file(args.flow)
    if not isinstance(raw, dict):
        print(f"error: {args.flow}: a flow must be a JSON object", file=sys.stderr)
        return 2
    raw = {**raw, "run_params": parse_assignments(args.param, "--param")}
    if args.run_id:
        raw["run_id"] = args.run_id
    services = services_from_env()
    with EmbeddedRuntime(services, workers=args.workers) as runtime:
        request = parse_start(raw, runtime.flows, runtime.known_types())
        t0 = time.monotonic()
        ref = runtime.start(request)
        try:  # from the moment the run exists: Ctrl-C right after "started" is asked about too
            if not args.quiet:
                print(f"run {ref.run_id} of {ref.flow_id} ({ref.account}) started", flush=True)
            finished = _follow(runtime, ref, t0, args)
        except KeyboardInterrupt:
            return _interrupted(runtime, ref, args.flow)
        if not finished:
            print(
                f"error: run {ref.run_id} not finished after {args.timeout}s "
                f"(it goes on only while a runtime runs; see `mhi runs show {ref.run_id}`)",
                file=sys.stderr,
            )
            return 1
        runtime.wait_idle(30.0)
        summary = run_summary(runtime.state(ref))
    print_summary(summary)
    return 0 if summary["status"] == "succeeded" else 1
