"""Recovery latency: from a crash to the step running again, on the embedded runtime.

Three crashes, each measured from the moment it happens to the moment the step's handler
starts again (its `started-<turn>.json`):
  claim without publish   the step's message is lost after its claim: published again after
                          the grace period (`--grace`)
  step died mid-run       the step function's process dies holding its lease: run again when the
                          lease lapses (`--heartbeat`, `--lease`)
  kill -9, then resume    the whole `mhi run` process is killed; `mhi run --run-id` resumes it
                          and runs the lost turn again at once
Target: within the grace period or two heartbeat intervals, never the step's timeout (1 hour
here). Run from the repository root:  .venv/bin/python bench/bench_recovery.py
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.model.keys import RunRef
from mhi.model.validate import parse_flow
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.start import StartRequest
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind

TIMEOUT = 3600


def _flow(flow_id: str, step_type: str = "ms-echo", config: dict[str, Any] | None = None) -> Any:
    step = {"id": "a", "type": step_type, "timeout_seconds": TIMEOUT, "config": config or {}}
    return parse_flow(
        {"flow_id": flow_id, "account": "bench", "flow_config": {"steps": [step]}},
        frozenset({step_type}),
    )


def _started_at(store: FsRunStore, ref: RunRef, turn: int) -> float | None:
    return _mtime(store, ref, f"steps/a/1/started-{turn}.json")


def _mtime(store: FsRunStore, ref: RunRef, rel: str) -> float | None:
    path = store.root / ref.key(rel)
    return path.stat().st_mtime if path.exists() else None


def _wait_for(probe: Any, limit: float) -> float:
    deadline = time.time() + limit
    while time.time() < deadline:
        value = probe()
        if value is not None:
            return float(value)
        time.sleep(0.02)
    raise TimeoutError("the step did not run again")


def claim_without_publish(home: Path, args: argparse.Namespace) -> float:
    store = FsRunStore(home / "state")
    settings = Settings(home=home, dispatch_grace_seconds=args.grace)
    with EmbeddedRuntime(Services(settings, run_store=store)) as runtime:
        publish, lost = runtime.bus.publish, []

        def drop_first(topic: str, data: bytes, attributes: Any) -> None:
            if topic == "ms-echo" and not lost:
                lost.append(time.time())  # the claimer "dies" between its claim and publish
                return
            publish(topic, data, attributes)

        runtime.bus.publish = drop_first  # type: ignore[method-assign]
        ref = runtime.start(StartRequest(_flow("lost-publish"), {}, "r-1"))
        ran = _wait_for(lambda: _started_at(store, ref, 0), 10 * args.grace + 30)
        runtime.wait(ref, timeout=60)
    return ran - lost[0]


class _Died(BaseException):  # a process death, not an error a handler reports
    pass


class _Any(BaseModel):
    pass


def step_died(home: Path, args: argparse.Namespace) -> float:
    store = FsRunStore(home / "state")
    settings = Settings(
        home=home,
        heartbeat_seconds=args.heartbeat,
        lease_seconds=args.lease,
        dispatch_grace_seconds=args.grace,
    )
    died: list[float] = []

    def handler(ctx: StepContext, config: _Any) -> dict[str, Any]:
        if ctx.message.turn == 0:
            time.sleep(args.heartbeat * 1.5)  # it works a while, renewing its lease, then dies
            died.append(time.time())
            raise _Died
        return {}

    kinds = {"bench-dies": StepKind("bench-dies", _Any, handler)}
    with EmbeddedRuntime(Services(settings, run_store=store), extra_kinds=kinds) as runtime:
        ref = runtime.start(StartRequest(_flow("died", "bench-dies"), {}, "r-1"))
        ran = _wait_for(lambda: _started_at(store, ref, 1), 10 * args.lease + 30)
        runtime.wait(ref, timeout=60)
    return ran - died[0]


def killed_then_resumed(home: Path, args: argparse.Namespace) -> float:
    flow_file = home / "slow.json"
    raw = {
        "flow_id": "killed",
        "account": "bench",
        "flow_config": {
            "steps": [
                {
                    "id": "a",
                    "type": "ms-echo",
                    "timeout_seconds": TIMEOUT,
                    "config": {"sleep_seconds": 2},
                }
            ]
        },
    }
    flow_file.write_text(json.dumps(raw))
    env = {"MHI_HOME": str(home), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "mhi", "run", str(flow_file), "--run-id", "k-1", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    store = FsRunStore(home / "state")
    ref = RunRef("bench", "killed", "k-1")
    try:
        _wait_for(lambda: _started_at(store, ref, 0), 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    killed = time.time()
    settings = Settings(home=home)
    with EmbeddedRuntime(Services(settings, run_store=store)) as runtime:
        runtime.start(StartRequest(parse_flow(raw), {}, "k-1"))
        ran = _wait_for(lambda: _started_at(store, ref, 1), 60)
        runtime.wait(ref, timeout=60)
    return ran - killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grace", type=float, default=2.0, help="dispatch grace, seconds")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="heartbeat, seconds")
    parser.add_argument("--lease", type=float, default=3.0, help="lease, seconds")
    args = parser.parse_args()
    print(
        f"grace {args.grace} s, heartbeat {args.heartbeat} s, lease {args.lease} s, "
        f"step timeout {TIMEOUT} s"
    )
    print(f"{'crash':<28}{'back in (s)':>12}  bound")
    cases = [
        ("claim without publish", claim_without_publish, f"grace {args.grace} s"),
        ("step died mid-run", step_died, "the later of the grace period and the lease"),
        ("kill -9, then resume", killed_then_resumed, "at once"),
    ]
    for name, case, bound in cases:
        with tempfile.TemporaryDirectory() as home:
            latency = case(Path(home), args)
        print(f"{name:<28}{latency:>12.2f}  {bound}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
