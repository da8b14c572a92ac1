"""The SLA watch: a schedule slot nobody started by its SLA deadline is recorded as a missed run.

Cloud Scheduler may never start a slot (its job paused, a deploy gap, a start refused). The
minute sweep (`Router.sweep`) then looks, for every stored flow with a `schedule` and an `sla`
and every account it runs for (`schedule.accounts`), at the latest slots whose deadline passed:
at most `MAX_WATCHED_SLOTS`, with deadlines in the last `LOOK_BACK`, and at least `START_GRACE`
ago, so that a start merely delayed on the bus still runs. A slot with no run is recorded as a run
of the slot's own id, started through the normal start path with `missed` in its `flow.json`; the
engine ends it at once (`mhi.engine.sla.missed_run`): the `sla` notification once, every step
skipped with the reason, the run failed. It lists, counts as an SLA miss and reruns like any run.

The slot's run id makes this idempotent: a second sweep, a racing router, a backfill or a late
scheduler start of the slot finds the run and starts nothing. `mhi runs rerun` fills the gap, and
a `"catchup": true` schedule reruns it when it next fires (`mhi.runtime.catchup`).

Only a slot whose previous slot has a run is recorded: a flow that never ran under its schedule
(just deployed, or its cron changed) has no gap to report. A recorded slot counts as a run, and
slots are looked at oldest first, so a gap of several slots is recorded whole.

Cost per sweep: one listing of the stored flows, one read per stored flow, and per account of a
watched flow one read per watched slot (two for a slot without a run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mhi.engine.sla import deadline_after, latest_base_due
from mhi.errors import OrchestratorError
from mhi.model import keys
from mhi.model.accounts import per_account
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.slots import SlotError, logical_time, previous_slots, slot_run_id
from mhi.ports import FlowSource, RunStore
from mhi.runtime.start import StartRequest, resolve

logger = logging.getLogger(__name__)

LOOK_BACK = timedelta(hours=24)  # slots whose deadline passed longer ago are left alone
MAX_WATCHED_SLOTS = 3  # per flow and account and sweep
START_GRACE = timedelta(minutes=5)  # after the deadline, before a slot without a run is missed
MISSED_REASON = (
    "no run was started for its schedule slot (scheduler job paused or missing, or its start was "
    "refused)"
)
WATCHER = {"actor": "controller", "via": "sla-watch"}


def due_slots(flow: FlowDefinition, now: datetime) -> list[datetime]:
    """The slots of `flow`'s schedule the watch looks at `now`, oldest first: the latest
    (at most `MAX_WATCHED_SLOTS`) whose SLA deadline passed between `LOOK_BACK` and
    `START_GRACE` ago. Empty for a flow without a schedule or an SLA.

    Raises:
        SlotError: the schedule's cron or time zone is invalid.
    """
    latest = latest_base_due(flow, now - START_GRACE)
    if latest is None or flow.schedule is None:
        return []
    found = previous_slots(flow, latest + timedelta(seconds=1), MAX_WATCHED_SLOTS)
    return sorted(s for s in found if _watched(deadline_after(flow, s), now))


def _watched(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and now - LOOK_BACK <= deadline <= now - START_GRACE


def watched_requests(flow: FlowDefinition) -> list[StartRequest]:
    """One start request per account the schedule runs `flow` for, as the scheduler's start
    would give it (the schedule's params; one per `schedule.accounts` entry).

    Raises:
        FlowDefinitionError: the schedule's params do not resolve (a missing or bad account).
    """
    if flow.schedule is None or flow.sla is None:
        return []
    return [resolve(StartRequest(flow, v)) for v in per_account(flow, dict(flow.schedule.params))]


def record_missed(
    store: RunStore,
    flows: FlowSource | None,
    known_types: frozenset[str],
    now: datetime,
    start: Callable[[StartRequest], RunRef],
    served: frozenset[str] | None = None,
) -> list[RunRef]:
    """Record every watched slot without a run as a missed run (started with `start`); return
    the runs recorded. A stored flow that cannot be read is logged and left out, never fatal to
    the sweep; accounts outside `served` (None: all) are left to their own deployment."""
    lister = getattr(flows, "list_ids", None)
    if flows is None or lister is None:
        return []
    try:
        flow_ids: list[str] = lister()
    except OrchestratorError as e:  # the sweep's own work is done: the next one looks again
        logger.warning("SLA watch: stored flows not listed: %s", e)
        return []
    recorded: list[RunRef] = []
    for flow_id in flow_ids:
        try:
            requests = _requests(flows, flow_id, known_types)
            for request in requests:
                if served is None or request.flow.account in served:
                    recorded += _record(store, request, now, start)
        except (OrchestratorError, SlotError, ValueError) as e:
            logger.warning("SLA watch: stored flow %s left out: %s", flow_id, e)
    return recorded


def _requests(flows: FlowSource, flow_id: str, known_types: frozenset[str]) -> list[StartRequest]:
    from mhi.model.validate import parse_flow

    raw = flows.get(flow_id)
    body: Any = json.loads(raw) if raw is not None else None
    if not isinstance(body, dict) or not body.get("schedule") or not body.get("sla"):
        return []  # the common case, decided without validating the whole flow
    return watched_requests(parse_flow(body, known_types))


def _record(
    store: RunStore, request: StartRequest, now: datetime, start: Callable[[StartRequest], RunRef]
) -> list[RunRef]:
    flow = request.flow
    recorded = []
    for slot in due_slots(flow, now):
        if _has_run(store, flow, slot):
            continue
        [before] = previous_slots(flow, slot, 1)
        if not _has_run(store, flow, before):
            continue  # the slot before it never ran either: no schedule to have missed
        deadline = deadline_after(flow, slot)
        assert deadline is not None  # due_slots keeps only slots with a deadline
        missed = {"reason": MISSED_REASON, "deadline": deadline.isoformat(), "at": now.isoformat()}
        ref = start(
            replace(
                request,
                run_id=slot_run_id(slot),
                requested_by=dict(WATCHER),
                logical_time=logical_time(flow, slot),
                missed=missed,
            )
        )
        logger.warning(
            "flow %s (%s): slot %s not started by its SLA deadline %s: recorded as missed run %s",
            flow.flow_id,
            flow.account,
            slot.isoformat(),
            deadline.isoformat(),
            ref.run_id,
        )
        recorded.append(ref)
    return recorded


def _has_run(store: RunStore, flow: FlowDefinition, slot: datetime) -> bool:
    ref = RunRef(flow.account, flow.flow_id, slot_run_id(slot))
    return store.read(ref.key(keys.FLOW)) is not None
