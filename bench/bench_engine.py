"""Orchestration overhead of the embedded runtime, per step, with no-op steps.

Prints wall time per step and run-store operations per step (a step transition: one step run
from dispatch to result) for a 100- and a 1,000-step chain, a 1,000-wide fan-out (one root,
1,000 parallel steps, one join) and a random 1,000-step DAG, and what those operations would
cost on Cloud Storage per 1,000 transitions at the list prices printed.
Run from the repository root:  .venv/bin/python bench/bench_engine.py [--repeat N] [--dir DIR]

The embedded runtime has one controller, whose cache sees every step end. In the cloud several
controller instances share a run, each learning of the others' work only from the store; the
last table runs the same shapes on the deterministic deployment simulator of the property tests
(the real controller and step SDK, three instances with their own caches, messages in random
order, none or 10 % of them delivered twice) and counts the same operations. A duplicated step
message costs one create more: the step function's lease claim, which fails.

The run store is a folder under DIR (default: the system temp folder). Most of a step's cost is
the file system's: on a disk-backed ext4 its create and mkdir calls slow down as the run's tree
grows, so run it once more with `--dir /dev/shm` (tmpfs) to see the orchestrator's own cost.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the simulator is in tests/

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.model.validate import parse_flow
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from tests.unit.engine.sim import Sim


def chain(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"s{i}", "type": "ms-echo", "depends_on": [f"s{i - 1}"] if i else []}
        for i in range(n)
    ]


def fan_out(width: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"id": "root", "type": "ms-echo"}]
    steps += [{"id": f"w{i}", "type": "ms-echo", "depends_on": ["root"]} for i in range(width)]
    steps.append({"id": "join", "type": "ms-echo", "depends_on": [f"w{i}" for i in range(width)]})
    return steps


def random_dag(n: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    steps = []
    for i in range(n):
        k = min(i, rng.choice([0, 1, 1, 2, 3]))
        deps = sorted(rng.sample(range(max(0, i - 50), i), min(k, i - max(0, i - 50)))) if i else []
        steps.append({"id": f"s{i}", "type": "ms-echo", "depends_on": [f"s{d}" for d in deps]})
    return steps


def measure(
    name: str, steps: list[dict[str, Any]], workers: int, where: str | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=where) as home:
        store = FsRunStore(Path(home) / "state")
        services = Services(Settings(home=Path(home)), run_store=store)
        flow = {"flow_id": "bench", "account": "bench", "flow_config": {"steps": steps}}
        with EmbeddedRuntime(services, workers=workers) as runtime:
            t0, c0 = time.perf_counter(), time.process_time()
            ref = runtime.start_json(flow)
            state = runtime.wait(ref, timeout=600)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert state.done and state.done["status"] == "succeeded", state.done
        n = len(steps)
        s = store.stats
        return {
            "name": name,
            "steps": n,
            "ms_per_step": 1000 * wall / n,
            "wall_s": wall,
            "cpu_ms_per_step": 1000 * cpu / n,
            "creates": s.creates / n,
            "reads": s.reads / n,
            "lists": s.lists / n,
            "listed": s.listed / n,
        }


def measure_instances(
    steps: list[dict[str, Any]], instances: int, duplicates: float
) -> dict[str, float]:
    """Store operations per transition with `instances` controllers sharing the run and a
    share `duplicates` of the messages delivered twice."""
    raw = {"flow_id": "bench", "account": "bench", "flow_config": {"steps": steps}}
    flow = parse_flow(raw, frozenset({"ms-echo"}))
    sim = Sim(flow, {}, 1, 0.0, hold_back=0.0, duplicates=duplicates, instances=instances)
    sim.run(max_messages=20 * len(steps) + 1000)
    s, n = sim.store.stats, len(steps)
    return {"creates": s.creates / n, "reads": s.reads / n, "lists": s.lists / n}


# Cloud Storage list prices (Standard storage, per 1,000 operations): Class A covers object
# creates and listings, Class B object reads. Pub/Sub and function time are not included.
CLASS_A_PER_1000 = 0.005
CLASS_B_PER_1000 = 0.0004


def cost_per_1000(r: dict[str, float]) -> float:
    """Dollars of store operations per 1,000 step transitions."""
    return (r["creates"] + r["lists"]) * CLASS_A_PER_1000 + r["reads"] * CLASS_B_PER_1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per shape; the median is printed"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dir", default=None, help="folder for the run store (default: temp)")
    args = parser.parse_args()
    print(f"run store under {args.dir or tempfile.gettempdir()}")
    shapes = [
        ("chain-100", chain(100)),
        ("chain-1000", chain(1000)),
        ("fan-out-1000", fan_out(1000)),
        ("random-dag-1000", random_dag(1000)),
    ]
    header = [
        "shape",
        "steps",
        "ms/step",
        "cpu ms",
        "wall s",
        "creates",
        "reads",
        "lists",
        "listed",
        "$/1000",
    ]
    print(
        "".join(f"{h:>9}" if i else f"{h:<16}" for i, h in enumerate(header)),
        f"  (per step; median of {args.repeat})",
    )
    results = {}
    for name, steps in shapes:
        runs = [measure(name, steps, args.workers, args.dir) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "name"}
        results[name] = med
        print(
            f"{name:<16}{int(med['steps']):>6}{med['ms_per_step']:>9.3f}{med['cpu_ms_per_step']:>8.3f}"
            f"{med['wall_s']:>8.2f}"
            f"{med['creates']:>9.2f}{med['reads']:>7.2f}{med['lists']:>7.2f}{med['listed']:>8.2f}"
            f"{cost_per_1000(med):>9.4f}"
        )
    for duplicates in (0.0, 0.1):
        title = f"3 instances, {duplicates:.0%} of messages delivered twice"
        print(f"\n{title:<45}{'creates':>9}{'reads':>7}{'lists':>7}{'$/1000':>9}")
        for name, steps in shapes:
            r = measure_instances(steps, 3, duplicates)
            print(
                f"{name:<45}{r['creates']:>9.2f}{r['reads']:>7.2f}{r['lists']:>7.2f}"
                f"{cost_per_1000(r):>9.4f}"
            )
    c100, c1000 = results["chain-100"], results["chain-1000"]

    def ops(r: dict[str, float]) -> float:
        return r["creates"] + r["reads"] + r["lists"]

    print(
        f"\ncost: Class A (creates, lists) ${CLASS_A_PER_1000}/1000, Class B (reads) "
        f"${CLASS_B_PER_1000}/1000 (Cloud Storage Standard list prices); store operations only"
    )
    ratio = c1000["ms_per_step"] / c100["ms_per_step"]
    print(
        f"\nchain-1000 / chain-100, per step: time x{ratio:.2f}, "
        f"cpu per step x{c1000['cpu_ms_per_step'] / c100['cpu_ms_per_step']:.2f}, "
        f"store operations per step x{ops(c1000) / ops(c100):.2f}, "
        f"objects listed per step x{c1000['listed'] / max(c100['listed'], 1e-9):.2f} "
        "(target: within 1.5x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
