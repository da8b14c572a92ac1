"""`mhi runs list --limit 20` against run stores of 1,000 and 10,000 runs: objects read and time.

Each store is a local run-store folder filled through the real write paths (`flow.json`, the
run index entries `record_start` and `record_finish` write, `done.json` for nine runs in ten),
across 5 flows and 2 accounts. For each size it prints the store operations one listing costs
(lists, keys listed, objects read), which must not grow with the number of runs, and the time of
the listing in this process and of the whole `mhi runs list --limit 20` command (a fresh
interpreter, import included). Run from the repository root:

    .venv/bin/python bench/bench_ops.py [--runs 1000 10000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mhi.adapters.local.fs_run_store import FsRunStore, StoreStats
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.ops.index import RunFilter, list_runs
from mhi.runtime.records import record_finish, record_start

T0 = datetime(2025, 1, 1, tzinfo=UTC)
FLOW = {"flow_id": "f", "account": "a", "flow_config": {"steps": [{"id": "s", "type": "ms-echo"}]}}


def fill(store: FsRunStore, runs: int) -> None:
    """Write `runs` runs the way a start and a finish write them."""
    for i in range(runs):
        flow_id, account = f"flow-{i % 5}", f"hotel-{i % 2}"
        ref = RunRef(account, flow_id, f"run-{i:06d}")
        started = T0 + timedelta(minutes=i)
        body = {"run_id": ref.run_id, "started_at": started.isoformat(), "params": {}}
        body["flow"] = {**FLOW, "flow_id": flow_id, "account": account}
        store.create(ref.key(keys.FLOW), json.dumps(body).encode())
        record_start(store, ref, started, {"started_at": started.isoformat()})
        if i < runs - 15:  # the 15 most recent runs are still running
            status = "failed" if i % 7 == 0 else "succeeded"
            done = {"status": status, "at": (started + timedelta(seconds=30)).isoformat()}
            record_finish(store, ref, started, status, 0)
            store.create(ref.key(keys.DONE), json.dumps(done).encode())
        else:
            store.create(ref.active_key, b"{}")


def measure(root: Path, runs: int) -> None:
    store = FsRunStore(root / "state")
    t0 = time.perf_counter()
    fill(store, runs)
    filled = time.perf_counter() - t0
    for label, where in (
        ("all runs", RunFilter()),
        ("--flow flow-3", RunFilter(flow_id="flow-3")),
        ("--status failed", RunFilter(status="failed")),
        ("--status running", RunFilter(status="running")),
    ):
        store.stats = StoreStats()
        t0 = time.perf_counter()
        page = list_runs(store, where, limit=20)
        took = (time.perf_counter() - t0) * 1000
        s = store.stats
        read = s.listed + s.reads
        print(
            f"{runs:>6} runs  {label:<17} {len(page.rows):>2} rows  lists {s.lists:>3}  "
            f"keys listed {s.listed:>4}  objects read {s.reads:>3}  "
            f"(listed + read: {read:>4})  {took:7.1f} ms"
        )
    env = {**os.environ, "MHI_HOME": str(root)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mhi.cli.main", "runs", "list", "--limit", "20"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    took = (time.perf_counter() - t0) * 1000
    shown = len(proc.stdout.splitlines()) - 2
    print(
        f"{runs:>6} runs  `mhi runs list --limit 20`: {shown} rows in {took:.0f} ms "
        f"(fresh interpreter; filling the store took {filled:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dir", default=None, help="where the stores go (default: temp)")
    args = parser.parse_args()
    for runs in args.runs:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            measure(Path(tmp), runs)


if __name__ == "__main__":
    main()
