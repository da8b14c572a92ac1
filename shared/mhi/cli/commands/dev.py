"""`mhi dev up|down|env|status`: the emulator stack on this machine, wired as in production."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mhi.cli.common import parse_assignments
from mhi.constants import CONTROLLER_TOPIC

if TYPE_CHECKING:  # the stack (psutil, emulators) loads only inside `mhi dev`
    from mhi.dev import stack as devstack

DEFAULT_HOME = ".mhi/dev"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi dev ...`."""
    p = sub.add_parser(
        "dev", help="local stack: Pub/Sub and Cloud Storage emulators plus every function"
    )
    dev = p.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    up = dev.add_parser("up", help="start the emulators and one functions-framework per function")
    up.add_argument(
        "--only",
        metavar="NAME,...",
        help="start only these functions (folder names under functions/; default: all)",
    )
    up.add_argument("--env-acronym", help="_M_ENV_ACRONYM for topic names (default: none)")
    up.add_argument("--threads", type=int, default=8, help="threads per function (default 8)")
    up.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for the functions; repeatable",
    )
    for name, func, text in (
        ("down", down, "stop every process `up` started"),
        ("env", env, "print `export` lines to use the stack from this shell"),
        ("status", status, "show the stack's processes"),
    ):
        sp = dev.add_parser(name, help=text)
        sp.set_defaults(func=func)
    up.set_defaults(func=up_cmd)
    p.add_argument("--home", default=DEFAULT_HOME, help=f"stack folder (default {DEFAULT_HOME})")


def up_cmd(args: argparse.Namespace) -> int:
    """Start the stack in the background and print how to use it."""
    from mhi.adapters.gcp.pubsub_bus import topic_id
    from mhi.dev import stack as devstack

    only = [f.strip() for f in args.only.split(",") if f.strip()] if args.only else None
    extra = {k: str(v) for k, v in parse_assignments(args.env, "--env").items()}
    try:
        stack = devstack.DevStack(
            args.home,
            functions=only,
            env_acronym=args.env_acronym,
            extra_env=extra,
            threads=args.threads,
        )
        state = stack.up()
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for proc in state.procs.values():
        print(f"{proc.name:<28} pid {proc.pid:<8} 127.0.0.1:{proc.port}  log {proc.log}")
    print()
    _print_env(state)
    print()
    topic = topic_id(CONTROLLER_TOPIC, state.env_acronym)
    print(f'# with the exports above: eval "$(mhi dev --home {args.home} env)"')
    print(f"# publish a flow:  gcloud pubsub topics publish {topic} \\")
    print('#   --message="$(cat flows/first-flow.json)"')
    print("# watch runs:      mhi runs list")
    print(f"# run state:       gcloud storage ls -r gs://{devstack.BUCKETS['RUNS_BUCKET']}/runs/")
    print(f"# stop:            mhi dev --home {args.home} down")
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop the stack recorded in the home folder."""
    from mhi.dev import stack as devstack

    stopped = devstack.down(args.home)
    print(f"stopped: {', '.join(stopped)}" if stopped else "no stack running")
    return 0


def env(args: argparse.Namespace) -> int:
    """Print the environment of the running stack."""
    from mhi.dev import stack as devstack

    state = devstack.StackState.load(args.home)
    if state is None:
        print(
            f"error: no stack recorded in {Path(args.home) / devstack.STATE_FILE}", file=sys.stderr
        )
        return 2
    _print_env(state)
    return 0


def status(args: argparse.Namespace) -> int:
    """Print each recorded process and whether it still runs."""
    from mhi.dev import stack as devstack

    state = devstack.StackState.load(args.home)
    if state is None:
        print("no stack running")
        return 1
    dead = 0
    for proc in state.procs.values():
        alive = devstack.is_running(proc)
        dead += not alive
        print(f"{proc.name:<28} pid {proc.pid:<8} {'running' if alive else 'STOPPED'}")
    return 1 if dead else 0


def _print_env(state: devstack.StackState) -> None:
    for name, value in state.shell_env().items():
        print(f"export {name}={shlex.quote(value)}")
