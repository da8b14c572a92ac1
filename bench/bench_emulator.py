"""Step-transition latency and throughput on the emulator stack (Pub/Sub push, GCS, functions).

Starts the stack (Pub/Sub emulator, gcp-storage-emulator, the controller and echo functions),
publishes N concurrent runs of a K-step ms-echo chain to `ms-flows-controller`, and taps the
callback and step topics with pull subscriptions. A transition is timed from the publish time of
step k's callback to the publish time of step k+1's message (both stamped by the emulator), so
it covers push delivery, the controller's work on the run store and the next publish.
Also prints the controller function's cold import time. Run from the repository root:

    python bench/bench_emulator.py [--runs 50] [--steps 10] [--threads 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mhi.adapters.gcp.gcs_run_store import GcsRunStore  # noqa: E402
from mhi.adapters.gcp.pubsub_bus import topic_path  # noqa: E402
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC  # noqa: E402
from mhi.dev.stack import DevStack  # noqa: E402

_IMPORT_PROBE = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(time.perf_counter() - t)
"""


def cold_import_seconds(repeat: int = 5) -> float:
    """Median time to import functions/controller/main.py in a fresh interpreter."""
    main = str(ROOT / "functions" / "controller" / "main.py")
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE, main],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        for _ in range(repeat)
    ]
    return statistics.median(times)


def chain_flow(flow_id: str, run_id: str, steps: int) -> dict[str, Any]:
    """A K-step chain of ms-echo steps."""
    specs = [
        {"id": f"s{i}", "type": "ms-echo", "depends_on": [f"s{i - 1}"] if i else [], "config": {}}
        for i in range(steps)
    ]
    return {
        "flow_id": flow_id,
        "account": "bench",
        "run_id": run_id,
        "flow_config": {"steps": specs},
    }


def tap(subscriber: Any, project: str, topic: str) -> str:
    """A pull subscription receiving every later message of `topic`."""
    name = f"projects/{project}/subscriptions/bench-{uuid.uuid4().hex[:10]}"
    subscriber.create_subscription(request={"name": name, "topic": topic_path(project, topic)})
    return name


def drain(subscriber: Any, subs: list[str], expected: int, timeout: float) -> list[Any]:
    """Pull (and ack) from the taps until `expected` messages arrived or `timeout` passed."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        for sub in subs:
            resp = subscriber.pull(request={"subscription": sub, "max_messages": 500}, timeout=10)
            if resp.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": sub,
                        "ack_ids": [m.ack_id for m in resp.received_messages],
                    }
                )
                got += [m.message for m in resp.received_messages]
    return got


def transitions(messages: list[Any]) -> list[float]:
    """Seconds from step k's callback to step k+1's message, per run and k."""
    callbacks: dict[tuple[str, int], float] = {}
    dispatches: dict[tuple[str, int], float] = {}
    for m in messages:
        run, step = m.attributes["run_id"], int(m.attributes["step_id"][1:])
        when = m.publish_time.timestamp()
        if m.attributes.get("kind") == "callback":
            callbacks[(run, step)] = when
        else:
            dispatches[(run, step)] = when
    return [
        dispatches[(run, k + 1)] - t
        for (run, k), t in callbacks.items()
        if (run, k + 1) in dispatches
    ]


def run(runs: int, steps: int, threads: int) -> None:
    """Start the stack, run the load, print the figures, stop the stack."""
    with tempfile.TemporaryDirectory(prefix="mhi-bench-") as home:
        stack = DevStack(home, functions=["controller", "echo"], threads=threads)
        t0 = time.monotonic()
        state = stack.up()
        print(f"stack up in {time.monotonic() - t0:.1f}s (functions with {threads} threads)")
        try:
            measure(stack, state.project, runs, steps)
        finally:
            stack.down()


def measure(stack: DevStack, project: str, runs: int, steps: int) -> None:
    """Warm up, then time `runs` concurrent runs of a `steps`-step chain."""
    publisher, subscriber = stack.pubsub_clients()
    store = GcsRunStore(stack.storage_client(), "mhi-runs", emulated_preconditions=True)
    controller_topic = topic_path(project, CONTROLLER_TOPIC)
    flow_id = f"bench-{uuid.uuid4().hex[:8]}"

    def wait_done(run_ids: list[str], timeout: float = 600) -> list[dict[str, Any]]:
        deadline, out = time.monotonic() + timeout, []
        for run_id in run_ids:
            key = f"runs/bench/{flow_id}/{run_id}/done.json"
            while (raw := store.read(key)) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if raw is None:
                raise SystemExit(f"run {run_id} did not finish; see logs in {stack.home}/logs")
            out.append(json.loads(raw))
        return out

    # Warm-up: cold starts of both functions and their clients are not what we measure.
    warm = [f"warm-{i}" for i in range(4)]
    for run_id in warm:
        publisher.publish(controller_topic, json.dumps(chain_flow(flow_id, run_id, 3)).encode())
    wait_done(warm)

    subs = [tap(subscriber, project, CALLBACK_TOPIC), tap(subscriber, project, "ms-echo")]
    run_ids = [f"run-{i:03d}" for i in range(runs)]
    started = time.time()
    futures = [
        publisher.publish(controller_topic, json.dumps(chain_flow(flow_id, r, steps)).encode())
        for r in run_ids
    ]
    for f in futures:
        f.result(30)
    messages = drain(subscriber, subs, expected=2 * runs * steps, timeout=600)
    dones = wait_done(run_ids)
    finished = max(datetime_ts(d["at"]) for d in dones)
    failed = [d for d in dones if d["status"] != "succeeded"]
    lat = sorted(transitions(messages))
    elapsed = finished - started
    print(f"{runs} concurrent runs x {steps}-step ms-echo chain on the emulator stack")
    print(f"  runs failed:                      {len(failed)}")
    print(f"  transitions measured:             {len(lat)}")
    print(f"  step transition median:           {statistics.median(lat) * 1000:.0f} ms")
    print(f"  step transition p95:              {lat[int(0.95 * (len(lat) - 1))] * 1000:.0f} ms")
    print(f"  all runs done in:                 {elapsed:.1f} s")
    print(f"  flows completed per minute:       {runs / elapsed * 60:.0f}")


def datetime_ts(text: str) -> float:
    """Epoch seconds of an ISO timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    print(f"controller cold import: {cold_import_seconds() * 1000:.0f} ms (median of 5)")
    run(args.runs, args.steps, args.threads)


if __name__ == "__main__":
    main()
