"""Backfill: one run per schedule slot of a date range, each for its slot (`run.logical_date`).

A slot's run id is the one the scheduler gives it (`scheduled-<UTC fire time>`), so a repeated
backfill, a catch-up and the scheduler never start a slot twice. Slots that already have a run
are reported, not started; `max_runs` bounds how many runs one backfill starts (a repeat goes on
where it stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.slots import SlotError, logical_time, slot_run_id, slots
from mhi.ops.errors import OpsError
from mhi.ops.executor import Executor
from mhi.ports import RunStore

MAX_BACKFILL_RUNS = 1000
MAX_SLOTS = 100_000


def parse_bound(value: str, field_name: str, *, end: bool) -> datetime:
    """A range bound: a date (`2025-01-31`: the whole day) or an ISO date-time (UTC if naive).

    Raises:
        OpsError: the value is neither.
    """
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time.max if end else time.min)
            return moment.replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OpsError(
            f"{field_name} {value!r}: expected a date (2025-01-31) or an ISO date-time",
            field_name,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass
class BackfillResult:
    """What a backfill did: runs it started, slots that already had one, slots left for later."""

    flow_id: str
    slots: int = 0
    started: list[dict[str, Any]] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    left: int = 0

    def to_json(self) -> dict[str, Any]:
        """The result as JSON."""
        return {
            "flow_id": self.flow_id,
            "slots": self.slots,
            "started": self.started,
            "existing": self.existing,
            "left": self.left,
        }


def backfill(
    store: RunStore,
    executor: Executor,
    flow: FlowDefinition,
    start: datetime,
    end: datetime,
    *,
    params: Mapping[str, Any],
    by: Mapping[str, Any],
    max_runs: int = 100,
    into: BackfillResult | None = None,
    qualified: bool = False,
) -> BackfillResult:
    """Start one run per slot in [start, end] that has none yet (at most `max_runs`).

    `into` adds to the result of an earlier call (the same flow for another account, sharing
    its `max_runs`); `qualified` names existing runs `ACCOUNT/FLOW/RUN` (the run id alone is
    ambiguous when several accounts are backfilled).

    Raises:
        OpsError: a bad range, too many slots, or `max_runs` out of range.
    """
    from mhi.runtime.start import StartRequest

    if not 1 <= max_runs <= MAX_BACKFILL_RUNS:
        raise OpsError(
            f"max_runs must be between 1 and {MAX_BACKFILL_RUNS}, not {max_runs}", "max_runs"
        )
    try:
        fire_times = list(slots(flow, start, end, limit=MAX_SLOTS + 1))
    except SlotError as e:
        raise OpsError(str(e), "end" if "before" in str(e) else "schedule") from None
    if len(fire_times) > MAX_SLOTS:
        raise OpsError(f"the range holds more than {MAX_SLOTS} slots: narrow it", "end")
    result = into if into is not None else BackfillResult(flow.flow_id)
    result.slots += len(fire_times)
    actor = {**by, "via": f"{by.get('via', 'cli')}:backfill"}
    for fired in fire_times:
        run_id = slot_run_id(fired)
        if store.read(RunRef(flow.account, flow.flow_id, run_id).key(keys.FLOW)) is not None:
            name = f"{flow.account}/{flow.flow_id}/{run_id}" if qualified else run_id
            result.existing.append(name)
            continue
        if len(result.started) >= max_runs:
            result.left += 1
            continue
        when = logical_time(flow, fired)
        executor.start(StartRequest(flow, dict(params), run_id, actor, when))
        result.started.append({"run_id": run_id, "logical_time": when, "account": flow.account})
    return result
