"""Finding runs through the run index, with bounded reads however many runs the store holds.

Every run has index entries named `<newest-first>~<account>~<flow_id>~<run_id>.json` under the
partitions `all`, `account/<a>`, `flow/<f>` and `run/<id>` (written at start) and `status/<s>`,
`flow-status/<f>/<s>` (written as each generation finishes). Listing reads one page of the
narrowest partition the filters allow, then a few small objects per run shown (its control
records, its current `done`): the cost follows the page, not the store. A status entry a later
rerun outdated is skipped, since each row's status is read from the run itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mhi.model import keys
from mhi.model.keys import IndexEntry, RunRef
from mhi.model.run import RunStatus
from mhi.ops.errors import NotFound, OpsError
from mhi.ports import RunStore

#: Every status a run can be listed with.
RUN_STATUSES: tuple[str, ...] = (
    RunStatus.RUNNING.value,
    "paused",
    "cancelling",
    *(s.value for s in RunStatus if s is not RunStatus.RUNNING),
)
ACTIVE_STATUSES = frozenset({RunStatus.RUNNING.value, "paused", "cancelling"})
MAX_LIMIT = 500
_PAGE = 100
_READERS = 8


class PagedStore(Protocol):
    """A run store that lists one page of a prefix (the local and GCS stores do)."""

    def list_page(self, prefix: str, *, start_after: str | None, limit: int) -> list[str]:
        """At most `limit` keys starting with `prefix` after `start_after`, sorted."""
        ...


def list_page(store: RunStore, prefix: str, start_after: str | None, limit: int) -> list[str]:
    """One page of keys under `prefix` (a store without paging lists the prefix whole)."""
    paged = getattr(store, "list_page", None)
    if paged is not None:
        found: list[str] = paged(prefix, start_after=start_after, limit=limit)
        return found
    return [k for k in store.list(prefix) if start_after is None or k > start_after][:limit]


@dataclass(frozen=True)
class RunRow:
    """One run as `mhi runs list` and the API's run list show it."""

    ref: RunRef
    started_at: datetime
    status: str
    generation: int
    finished_at: str | None
    error: str | None
    requested_by: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """The row as JSON."""
        return {
            "account": self.ref.account,
            "flow_id": self.ref.flow_id,
            "run_id": self.ref.run_id,
            "started_at": self.started_at.isoformat(),
            "status": self.status,
            "generation": self.generation,
            "finished_at": self.finished_at,
            "error": self.error,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True)
class Page:
    """Runs newest first, and the cursor that continues after the last one (None: no more)."""

    rows: list[RunRow]
    cursor: str | None


def read_json(store: RunStore, key: str) -> dict[str, Any] | None:
    """One object as a JSON object (None when absent or not a JSON object)."""
    raw = store.read(key)
    if raw is None:
        return None
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def control_state(store: RunStore, ref: RunRef) -> tuple[int, int, int]:
    """(generation, pauses, resumes) from one listing of the run's control records."""
    generation = pauses = resumes = 0
    for key in store.list(ref.key(keys.CONTROL_PREFIX)):
        parsed = keys.parse(key[len(ref.prefix) :])
        if parsed is None:
            continue
        if parsed.kind == "generation":
            generation = max(generation, parsed.generation)
        elif parsed.kind == "pause":
            pauses = max(pauses, parsed.count or 0)
        elif parsed.kind == "resume":
            resumes = max(resumes, parsed.count or 0)
    return generation, pauses, resumes


def run_row(store: RunStore, entry: IndexEntry) -> RunRow:
    """Resolve an index entry into a row: its current status comes from the run itself."""
    ref = entry.ref
    generation, pauses, resumes = control_state(store, ref)
    done = read_json(store, ref.key(keys.done_key(generation)))
    started = datetime.fromtimestamp(entry.started_ms / 1000, UTC)
    name = keys.index_name(ref, entry.started_ms)
    start_entry = read_json(store, keys.index_prefix("all") + name)
    by = (start_entry or {}).get("requested_by")
    if done is not None:
        status, finished, error = str(done.get("status")), done.get("at"), done.get("error")
    else:
        finished = error = None
        if store.read(ref.key(keys.cancel_key(generation))) is not None:
            status = "cancelling"
        else:
            status = "paused" if pauses > resumes else RunStatus.RUNNING.value
    return RunRow(ref, started, status, generation, finished, error, by)


@dataclass(frozen=True)
class RunFilter:
    """What `list_runs` looks for."""

    account: str | None = None
    flow_id: str | None = None
    status: str | None = None
    since: datetime | None = None

    def check(self) -> None:
        """Refuse an unknown status.

        Raises:
            OpsError: the status is not one of RUN_STATUSES.
        """
        if self.status is not None and self.status not in RUN_STATUSES:
            raise OpsError(
                f"unknown run status {self.status!r}: expected one of {', '.join(RUN_STATUSES)}",
                "status",
            )

    def prefix(self) -> str:
        """The narrowest index partition holding every run the filter can match."""
        finished = self.status is not None and self.status not in ACTIVE_STATUSES
        if finished and self.flow_id:
            return keys.index_prefix("flow-status", flow_id=self.flow_id, status=self.status or "")
        if finished:
            return keys.index_prefix("status", status=self.status or "")
        if self.flow_id:
            return keys.index_prefix("flow", flow_id=self.flow_id)
        if self.account:
            return keys.index_prefix("account", account=self.account)
        return keys.index_prefix("all")

    def admits(self, entry: IndexEntry) -> bool:
        """Whether the entry's own name matches (account, flow)."""
        ref = entry.ref
        return (self.account in (None, ref.account)) and (self.flow_id in (None, ref.flow_id))


def index_entries(
    store: RunStore, prefix: str, cursor: str | None, page_size: int = _PAGE
) -> Iterator[tuple[str, IndexEntry]]:
    """(key, entry) of an index partition, newest first, after `cursor`, read page by page."""
    after = cursor
    size = page_size
    while True:
        page = list_page(store, prefix, after, size)
        for key in page:
            entry = keys.parse_index_key(key)
            if entry is not None:
                yield key, entry
        if len(page) < size:
            return
        after = page[-1]
        size = _PAGE  # later pages: the filters are dropping entries, read more at once


def list_runs(
    store: RunStore, where: RunFilter, *, limit: int = 20, cursor: str | None = None
) -> Page:
    """Runs matching `where`, the most recently started first, one page of at most `limit`.

    Raises:
        OpsError: an unknown status, a limit out of range or a cursor of another listing.
    """
    where.check()
    if not 1 <= limit <= MAX_LIMIT:
        raise OpsError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}", "limit")
    if where.status in ACTIVE_STATUSES:
        return _active_runs(store, where, limit, cursor)
    prefix = where.prefix()
    if cursor is not None and not cursor.startswith(prefix):
        raise OpsError("the cursor belongs to another listing (other filters)", "cursor")
    since_ms = None if where.since is None else int(where.since.timestamp() * 1000)
    rows: list[RunRow] = []
    last: str | None = None
    batch: list[tuple[str, IndexEntry]] = []
    with ThreadPoolExecutor(_READERS) as pool:
        for key, entry in index_entries(store, prefix, cursor, limit + 1):
            if since_ms is not None and entry.started_ms < since_ms:
                return Page(rows, None)
            if where.admits(entry):
                batch.append((key, entry))
            if len(batch) >= limit - len(rows):
                last = _resolve(store, pool, batch, where, rows, limit)
                batch = []
                if len(rows) >= limit:
                    return Page(rows, last)
        _resolve(store, pool, batch, where, rows, limit)
    return Page(rows, None)


def _resolve(
    store: RunStore,
    pool: ThreadPoolExecutor,
    batch: list[tuple[str, IndexEntry]],
    where: RunFilter,
    rows: list[RunRow],
    limit: int,
) -> str | None:
    """Read the batch's rows (in parallel) into `rows`; the key of the last row taken."""
    last = None
    resolved = pool.map(lambda item: run_row(store, item[1]), batch)
    for (key, _entry), row in zip(batch, resolved, strict=True):
        if len(rows) >= limit:
            break
        last = key
        if where.status is None or row.status == where.status:
            rows.append(row)
    return last


def _active_runs(store: RunStore, where: RunFilter, limit: int, cursor: str | None) -> Page:
    """Running, paused or cancelling runs: from the index of active runs (bounded by how many
    runs are active, not by how many ever ran)."""
    prefix = keys.ACTIVE_PREFIX + "/"
    if where.account:
        prefix += where.account + "/" + (where.flow_id + "/" if where.flow_id else "")
    entries: list[tuple[str, IndexEntry]] = []
    for key in store.list(prefix):
        ref = keys.split_active_key(key)
        if ref is None or not where.admits(IndexEntry(ref, 0)):
            continue
        for found in store.list(keys.index_prefix("run", run_id=ref.run_id)):
            entry = keys.parse_index_key(found)
            if entry is not None and entry.ref == ref:
                name = "active:" + keys.index_name(ref, entry.started_ms)
                entries.append((name, entry))
    entries = sorted(e for e in entries if cursor is None or e[0] > cursor)
    since_ms = None if where.since is None else int(where.since.timestamp() * 1000)
    entries = [e for e in entries if since_ms is None or e[1].started_ms >= since_ms]
    rows: list[RunRow] = []
    last = None
    with ThreadPoolExecutor(_READERS) as pool:
        for start in range(0, len(entries), limit):
            last = _resolve(store, pool, entries[start : start + limit], where, rows, limit)
            if len(rows) >= limit:
                break
    more = bool(entries) and last is not None and last != entries[-1][0]
    return Page(rows, last if more else None)


def find_run(store: RunStore, name: str) -> RunRef:
    """The one run named `RUN_ID`, `FLOW_ID/RUN_ID` or `ACCOUNT/FLOW_ID/RUN_ID`.

    Raises:
        NotFound: no run has that name.
        OpsError: the name is malformed, or several runs have it (the message names them).
    """
    parts = name.split("/")
    if len(parts) > 3 or not all(parts):
        raise OpsError(
            f"run {name!r}: expected RUN_ID, FLOW_ID/RUN_ID or ACCOUNT/FLOW_ID/RUN_ID", "run"
        )
    if len(parts) == 3:
        ref = RunRef(*parts)
        if store.read(ref.key(keys.FLOW)) is None:
            raise NotFound(f"no run {name!r} (see `mhi runs list`)", "run")
        return ref
    run_id, flow_id = parts[-1], parts[0] if len(parts) == 2 else None
    found = [
        entry.ref
        for key in store.list(keys.index_prefix("run", run_id=run_id))
        if (entry := keys.parse_index_key(key)) is not None and flow_id in (None, entry.ref.flow_id)
    ]
    if not found:
        what = f"with id {name!r}" if len(parts) == 1 else repr(name)
        raise NotFound(f"no run {what} (see `mhi runs list`)", "run")
    if len(found) > 1:
        names = ", ".join(f"{r.account}/{r.flow_id}/{r.run_id}" for r in sorted(found, key=str))
        raise OpsError(f"run {name!r} is ambiguous: name one of {names}", "run")
    return found[0]
