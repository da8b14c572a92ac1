"""Finding and describing runs in a run store: the read side of `mhi runs ...`.

Functions here return data and never print, so an operations service can serve them as well as
the CLI. Runs are found by listing the store once (under `runs/<account>/<flow_id>/` when both
are given). Each matching run's `flow.json` is read for its start time, which orders the list;
whether a run is running, cancelling or done comes from which of its `cancel.json` and
`done.json` exist, and a `done.json` is read only for the runs returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mhi.errors import InvalidMessageError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.run import RunStatus
from mhi.ports import RunStore

#: Every status `list_runs` can report: `cancelling` is a run asked to stop that has not yet.
RUN_STATUSES: tuple[str, ...] = (
    RunStatus.RUNNING.value,
    "cancelling",
    *(s.value for s in RunStatus if s is not RunStatus.RUNNING),
)

_ACTIVE = (RunStatus.RUNNING.value, "cancelling")


@dataclass(frozen=True)
class RunOverview:
    """One line of `mhi runs list`."""

    ref: RunRef
    started_at: datetime | None
    status: str
    finished_at: str | None
    error: str | None


@dataclass(frozen=True)
class _Found:
    ref: RunRef
    objects: frozenset[str]  # the run-level objects present: flow.json, done.json, ...


def _prefix(account: str | None, flow_id: str | None) -> str:
    if account is None:
        return keys.RUNS_PREFIX + "/"
    if flow_id is None:
        return f"{keys.RUNS_PREFIX}/{account}/"
    return f"{keys.RUNS_PREFIX}/{account}/{flow_id}/"


def _scan(store: RunStore, account: str | None = None, flow_id: str | None = None) -> list[_Found]:
    """Every started run (it has a `flow.json`) under the narrowest prefix the filters allow."""
    objects: dict[RunRef, set[str]] = {}
    for key in store.list(_prefix(account, flow_id)):
        split = keys.split_run_key(key)
        if split is None or "/" in split[1]:
            continue  # only run-level objects: flow.json, done.json, cancel.json
        ref, rel = split
        if (account is None or ref.account == account) and (
            flow_id is None or ref.flow_id == flow_id
        ):
            objects.setdefault(ref, set()).add(rel)
    return [_Found(ref, frozenset(names)) for ref, names in objects.items() if keys.FLOW in names]


def find_runs(
    store: RunStore,
    run_id: str | None = None,
    *,
    account: str | None = None,
    flow_id: str | None = None,
) -> list[RunRef]:
    """Every started run matching the filters, ordered by account, flow id and run id."""
    refs = [f.ref for f in _scan(store, account, flow_id) if run_id in (None, f.ref.run_id)]
    return sorted(refs, key=lambda r: (r.account, r.flow_id, r.run_id))


def _names(refs: Iterable[RunRef]) -> list[str]:
    refs = list(refs)
    flows = [(r.flow_id, r.run_id) for r in refs]
    return [
        f"{r.flow_id}/{r.run_id}"
        if flows.count((r.flow_id, r.run_id)) == 1
        else f"{r.account}/{r.flow_id}/{r.run_id}"
        for r in refs
    ]


def find_run(store: RunStore, name: str) -> RunRef:
    """The one run named `RUN_ID`, `FLOW_ID/RUN_ID` or `ACCOUNT/FLOW_ID/RUN_ID`.

    Raises:
        InvalidMessageError: no run has that name, or several do (the message lists the
            longer names that tell them apart).
    """
    parts = name.split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidMessageError(
            f"run {name!r}: expected RUN_ID, FLOW_ID/RUN_ID or ACCOUNT/FLOW_ID/RUN_ID"
        )
    run_id = parts[-1]
    flow_id = parts[-2] if len(parts) >= 2 else None
    account = parts[0] if len(parts) == 3 else None
    refs = [r for r in find_runs(store, run_id, account=account) if flow_id in (None, r.flow_id)]
    if not refs:
        what = f"with id {name!r}" if len(parts) == 1 else repr(name)
        raise InvalidMessageError(f"no run {what} (see `mhi runs list`)")
    if len(refs) > 1:
        raise InvalidMessageError(
            f"run {name!r} is ambiguous: {len(refs)} runs have this id; name one of them as "
            + ", ".join(_names(refs))
        )
    return refs[0]


def _read_json(store: RunStore, key: str) -> dict[str, Any]:
    raw = store.read(key)
    if raw is None:
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _started_at(store: RunStore, ref: RunRef) -> datetime | None:
    value = _read_json(store, ref.key(keys.FLOW)).get("started_at")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _overview(store: RunStore, found: _Found, started_at: datetime | None) -> RunOverview:
    if keys.DONE not in found.objects:
        status = "cancelling" if keys.CANCEL in found.objects else RunStatus.RUNNING.value
        return RunOverview(found.ref, started_at, status, None, None)
    done = _read_json(store, found.ref.key(keys.DONE))
    return RunOverview(
        found.ref, started_at, str(done.get("status", "unknown")), done.get("at"), done.get("error")
    )


def list_runs(
    store: RunStore,
    *,
    account: str | None = None,
    flow_id: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[RunOverview]:
    """Runs matching the filters, the most recently started first (ties: the larger run id).

    Raises:
        InvalidMessageError: `status` is not one of `RUN_STATUSES`, or `limit` is below 1.
    """
    if status is not None and status not in RUN_STATUSES:
        raise InvalidMessageError(
            f"unknown run status {status!r}: expected one of {', '.join(RUN_STATUSES)}"
        )
    if limit is not None and limit < 1:
        raise InvalidMessageError(f"limit must be at least 1, not {limit}")
    found = _scan(store, account, flow_id)
    started = {f.ref: _started_at(store, f.ref) for f in found}
    found.sort(key=lambda f: (started[f.ref] is not None, _sort_time(started[f.ref]), f.ref.run_id))
    out: list[RunOverview] = []
    for f in reversed(found):
        if status in _ACTIVE and keys.DONE in f.objects:
            continue  # finished: no need to read done.json to know it is not active
        row = _overview(store, f, started[f.ref])
        if status is None or row.status == status:
            out.append(row)
        if limit is not None and len(out) >= limit:
            break
    return out


def _sort_time(value: datetime | None) -> float:
    # Timestamps we write are timezone-aware; a naive one is read as UTC rather than failing
    # the comparison.
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
