"""The console and the API on 1,000-step runs: time of every page and API call.

Makes two finished runs with the embedded runtime and no-op ms-echo steps: a random DAG of
1,000 top-level steps, and a flow whose `for_each` step fans out to 1,000 children. Then asks the
app (Flask's test client, in this process: routing, authentication, store reads and rendering)
for each console page and API call of those runs, and prints the median and the slowest of
`--repeat` answers and the page's size. Every answer must come within a second.
Run from the repository root:  .venv/bin/python bench/bench_console.py [--repeat N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZE = 1000
BUDGET_S = 1.0


def random_dag(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """`n` top-level steps, each on up to 3 of the 50 before it."""
    rng = random.Random(seed)
    steps = []
    for i in range(n):
        pool = list(range(max(0, i - 50), i))
        deps = sorted(rng.sample(pool, min(len(pool), rng.choice([0, 1, 1, 2, 3]))))
        steps.append({"id": f"s{i}", "type": "ms-echo", "depends_on": [f"s{d}" for d in deps]})
    return steps


def fan_out(n: int) -> list[dict[str, Any]]:
    """One root, one `for_each` step of `n` children, one join."""
    return [
        {"id": "root", "type": "ms-echo"},
        {
            "id": "each",
            "type": "ms-echo",
            "depends_on": ["root"],
            "for_each": list(range(n)),
            "config": {"n": "{{ item }}"},
        },
        {"id": "join", "type": "ms-echo", "depends_on": ["each"]},
    ]


def timed(client: Any, path: str, repeat: int) -> tuple[float, float, int]:
    """Median and slowest seconds of `repeat` GETs of `path`, and the answer's size."""
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - t0)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code}: {answer.get_data()[:300]!r}")
        size = len(answer.get_data())
    return statistics.median(times), max(times), size


def main() -> int:
    """Make the runs, time every page and call, print the table; 1 when one is over a second."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="answers per page (default 5)")
    parser.add_argument("--dir", default=None, help="folder for the run store (default: temp)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    with tempfile.TemporaryDirectory(dir=args.dir) as home:
        return _bench(Path(home), args.repeat)


def _bench(home: Path, repeat: int) -> int:
    flows = home / "flows"
    flows.mkdir()
    shapes = {"dag-1000": random_dag(SIZE), "for-each-1000": fan_out(SIZE)}
    for flow_id, steps in shapes.items():
        flow = {
            "flow_id": flow_id,
            "account": "bench",
            "flow_config": {"steps": steps},
            "schedule": {"cron": "0 6 * * *"},
        }
        (flows / f"{flow_id}.json").write_text(json.dumps(flow))
    os.environ.update(MHI_FLOWS_DIR=str(flows), MHI_HOME=str(home / "home"), MHI_BACKEND="local")

    from mhi.api.app import create_app
    from mhi.api.auth import LocalAuth
    from mhi.config import Settings
    from mhi.ops.wiring import build
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.services import Services

    with EmbeddedRuntime(Services(Settings.from_env()), workers=4) as runtime:
        ops = build(runtime.services, runtime=runtime)
        paths: list[str] = ["/ui/runs", "/api/v1/runs?limit=50", "/ui/flows"]
        for flow_id in shapes:
            t0 = time.perf_counter()
            ref = ops.start(flow_id, {}, {"actor": "bench", "via": "bench"}, f"run-{flow_id}")
            state = runtime.wait(ref, timeout=900)
            status = (state.done or {}).get("status")
            print(f"made {flow_id}: {status} in {time.perf_counter() - t0:.1f} s")
            run = f"/runs/bench/{flow_id}/{ref.run_id}"
            paths += [
                f"/ui{run}",
                f"/ui{run}?step={shapes[flow_id][len(shapes[flow_id]) // 2]['id']}",
                f"/api/v1{run}",
                f"/ui/flows/{flow_id}",
                f"/api/v1/flows/{flow_id}",
                f"/api/v1/stats?flow={flow_id}",
            ]
        paths.append("/ui/runs/bench/for-each-1000/run-for-each-1000?expand=each&step=each.500")
        client = create_app(ops, LocalAuth(None, "bench")).test_client()
        print(f"\n{'page or call':<72}{'median ms':>10}{'max ms':>9}{'KiB':>8}")
        slow = 0
        for path in paths:
            median, worst, size = timed(client, path, repeat)
            slow += worst > BUDGET_S
            mark = "  OVER 1 s" if worst > BUDGET_S else ""
            print(f"{path:<72}{median * 1000:>10.0f}{worst * 1000:>9.0f}{size / 1024:>8.0f}{mark}")
    print(f"\n{len(paths) - slow} of {len(paths)} answered within {BUDGET_S:.0f} s ({repeat} each)")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
