"""Finding and describing runs in a run store (CLI: `mhi runs ...`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mhi.constants import DONE_KEY, FLOW_KEY, RUNS_PREFIX
from mhi.errors import InvalidMessageError
from mhi.ports import RunStore
from mhi.runtime.controller import RunRef


@dataclass(frozen=True)
class RunOverview:
    """One line of `mhi runs list`."""

    ref: RunRef
    started_at: str
    status: str
    finished_at: str | None
    error: str | None


def find_runs(store: RunStore, run_id: str | None = None) -> list[RunRef]:
    """Every run in the store (or those with `run_id`), newest first."""
    refs = []
    for key in store.list(RUNS_PREFIX + "/"):
        parts = key.split("/")
        if len(parts) == 5 and parts[4] == FLOW_KEY and (run_id is None or parts[3] == run_id):
            refs.append(RunRef(parts[1], parts[2], parts[3]))
    refs.sort(key=lambda r: r.run_id, reverse=True)
    return refs


def find_run(store: RunStore, run_id: str) -> RunRef:
    """The one run with this id; a clear error if none or several match."""
    refs = find_runs(store, run_id)
    if not refs:
        raise InvalidMessageError(f"no run with id {run_id!r} (see `mhi runs list`)")
    if len(refs) > 1:
        names = ", ".join(f"{r.account}/{r.flow_id}" for r in refs)
        raise InvalidMessageError(f"run id {run_id!r} is ambiguous: {names}")
    return refs[0]


def _json(store: RunStore, key: str) -> dict[str, Any] | None:
    raw = store.read(key)
    return None if raw is None else json.loads(raw)


def overview(store: RunStore, ref: RunRef) -> RunOverview:
    """Status and times of a run from its `flow.json` and `done.json`."""
    flow = _json(store, ref.prefix + FLOW_KEY) or {}
    done = _json(store, ref.prefix + DONE_KEY)
    status = "running" if done is None else done["status"]
    cancelled = store.read(ref.prefix + "cancel.json") is not None
    if done is None and cancelled:
        status = "cancelling"
    return RunOverview(
        ref,
        flow.get("started_at", ""),
        status,
        None if done is None else done.get("at"),
        None if done is None else done.get("error"),
    )
