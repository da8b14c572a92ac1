"""Run statistics from the run index and each run's latest `done` (no run is folded).

Per flow: runs, finished, succeeded, success rate, p50/p95 duration, and for runs with an SLA
how many met it, missed it or are pending (`mhi.ops.sla_stats`; it reads the run's `flow.json`).
Per step type: executions, failures, p50/p95 duration. The slowest steps (by p95) and the most
failing ones. The steps come from the digest the controller writes into `done` (runs finished
before it have none: they count as runs only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mhi.model import keys
from mhi.model.keys import IndexEntry
from mhi.model.run import parse_time
from mhi.ops.errors import OpsError
from mhi.ops.index import control_state, index_entries, read_json
from mhi.ops.sla_stats import SlaOutcome, SlaTally, run_sla
from mhi.ports import RunStore

MAX_RUNS = 5000
TOP = 5


def percentile(values: list[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


@dataclass
class _Tally:
    count: int = 0
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    durations: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        rate = None if not self.finished else round(self.succeeded / self.finished, 4)
        return {
            "count": self.count,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "success_rate": rate,
            "p50_seconds": percentile(self.durations, 50),
            "p95_seconds": percentile(self.durations, 95),
        }


def _done(
    store: RunStore, entry: IndexEntry, now: datetime | None
) -> tuple[dict[str, Any] | None, SlaOutcome | None]:
    """The run's latest `done` and its SLA outcome."""
    generation, _pauses, _resumes = control_state(store, entry.ref)
    done = read_json(store, entry.ref.key(keys.done_key(generation)))
    return done, run_sla(store, entry.ref, generation, done, now)


def compute(
    store: RunStore,
    *,
    flow_id: str | None = None,
    since: datetime | None = None,
    max_runs: int = 1000,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Statistics of the runs started since `since` (newest first, at most `max_runs`); `now`
    tells whether a run still going has missed its SLA (None: it is pending).

    Raises:
        OpsError: `max_runs` is out of range.
    """
    if not 1 <= max_runs <= MAX_RUNS:
        raise OpsError(f"max_runs must be between 1 and {MAX_RUNS}, not {max_runs}", "max_runs")
    prefix = keys.index_prefix("flow", flow_id=flow_id) if flow_id else keys.index_prefix("all")
    since_ms = None if since is None else int(since.timestamp() * 1000)
    entries: list[IndexEntry] = []
    for _key, entry in index_entries(store, prefix, None):
        if (since_ms is not None and entry.started_ms < since_ms) or len(entries) >= max_runs:
            break
        entries.append(entry)
    with ThreadPoolExecutor(8) as pool:
        dones = list(pool.map(lambda e: _done(store, e, now), entries))
    return _aggregate(zip(entries, dones, strict=True), since, flow_id, len(entries) >= max_runs)


def _aggregate(
    runs: Iterable[tuple[IndexEntry, tuple[dict[str, Any] | None, SlaOutcome | None]]],
    since: datetime | None,
    flow_id: str | None,
    truncated: bool,
) -> dict[str, Any]:
    flows: dict[str, _Tally] = defaultdict(_Tally)
    types: dict[str, _Tally] = defaultdict(_Tally)
    steps: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    total = _Tally()
    slas: dict[str, SlaTally] = defaultdict(SlaTally)
    sla_total = SlaTally()
    for entry, (done, sla) in runs:
        for tally in (flows[entry.ref.flow_id], total):
            _count_run(tally, entry, done)
        if sla is not None:
            for sla_tally in (slas[entry.ref.flow_id], sla_total):
                sla_tally.add(sla)
        for line in (done or {}).get("steps") or []:
            for tally in (types[str(line.get("type"))], steps[(entry.ref.flow_id, line["id"])]):
                _count_step(tally, line)
    step_rows = [{"flow_id": f, "step_id": s, **t.to_json()} for (f, s), t in sorted(steps.items())]
    slowest = sorted(
        (r for r in step_rows if r["p95_seconds"] is not None), key=lambda r: -r["p95_seconds"]
    )
    failing = sorted((r for r in step_rows if r["failed"]), key=lambda r: -r["failed"])
    return {
        "since": since.isoformat() if since else None,
        "flow_id": flow_id,
        "truncated": truncated,
        "runs": {**total.to_json(), "sla": sla_total.to_json()},
        "flows": {f: {**t.to_json(), "sla": slas[f].to_json()} for f, t in sorted(flows.items())},
        "step_types": {k: t.to_json() for k, t in sorted(types.items())},
        "slowest_steps": slowest[:TOP],
        "most_failing_steps": failing[:TOP],
    }


def _count_run(tally: _Tally, entry: IndexEntry, done: dict[str, Any] | None) -> None:
    tally.count += 1
    if done is None:
        return
    tally.finished += 1
    status = done.get("status")
    tally.succeeded += status == "succeeded"
    tally.failed += status != "succeeded"
    if done.get("at"):
        started = entry.started_ms / 1000
        tally.durations.append(round(parse_time(done["at"]).timestamp() - started, 3))


def _count_step(tally: _Tally, line: dict[str, Any]) -> None:
    status = line.get("status")
    if status == "skipped":
        return
    tally.count += 1
    tally.finished += 1
    tally.succeeded += status == "succeeded"
    tally.failed += status == "failed"
    if isinstance(line.get("duration_seconds"), int | float):
        tally.durations.append(float(line["duration_seconds"]))
