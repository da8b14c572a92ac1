"""What the controller writes for the operations plane: run index entries, dead letters, digests.

All of it is write-once and idempotent: a repeated start or finish creates nothing new, so the
records can be written again by whoever recovers a crash (a redelivered start, the sweep).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mhi.constants import CONTROLLER_TOPIC, NOTIFY_STEP
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.messages import WakeMessage, encode
from mhi.model.run import RunState, StepState, StepStatus, parse_time
from mhi.ports import MessageBus, RunStore

logger = logging.getLogger(__name__)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (the run index orders runs by their start)."""
    return int(moment.timestamp() * 1000)


def record_start(store: RunStore, ref: RunRef, started_at: datetime, entry: dict[str, Any]) -> None:
    """Create the run's index entries (every run, its account, its flow); `entry` is their body."""
    data = json.dumps(entry, default=str, separators=(",", ":")).encode()
    for key in keys.index_keys_at_start(ref, epoch_ms(started_at)):
        store.create(key, data)


def record_finish(
    store: RunStore, ref: RunRef, started_at: datetime, status: str, generation: int
) -> None:
    """Create the index entries of a run's generation finishing with `status` (by status, and
    by flow and status). Written before `done`, so a crash in between only repeats them; a
    listing checks each run's current status, so an entry a later rerun outdated is skipped."""
    data = json.dumps({"generation": generation}, separators=(",", ":")).encode()
    for key in keys.index_keys_at_finish(ref, epoch_ms(started_at), status):
        store.create(key, data)


def step_digest(state: RunState) -> list[dict[str, Any]]:
    """One line per top-level step for `done.json`: stats read it without folding the run."""
    out = []
    for step in state.top_level():
        first, last = _first_dispatch(step), step.last
        finished = (last.result or {}).get("at") if last is not None else None
        duration = None
        if first is not None and finished:
            duration = round((parse_time(finished) - first).total_seconds(), 3)
        out.append(
            {
                "id": step.id,
                "type": step.spec.type,
                "status": state.status(step).value,
                "attempts": len([a for a in step.attempts.values() if a.dispatched_at]),
                "duration_seconds": duration,
            }
        )
    return out


def _first_dispatch(step: StepState) -> datetime | None:
    times = [a.dispatched_at for a in step.attempts.values() if a.dispatched_at is not None]
    return min(times, default=None)


def record_dead_letter(store: RunStore, ref: RunRef, state: RunState, step: StepState) -> None:
    """Keep what a step that failed for good was given, and its error, for an edited replay."""
    if step.id == NOTIFY_STEP or step.is_parent or state.status(step) != StepStatus.FAILED:
        return
    last = step.last
    if last is None or last.result is None:
        return
    from mhi.engine.rerun import rendered_message

    number = state.reruns.absolute(step.id, last.number)
    body = {
        "step_id": step.id,
        "attempt": number,
        "generation": state.reruns.generation,
        "error": last.result.get("error"),
        "at": last.result.get("at"),
        "message": rendered_message(state, step),
    }
    data = json.dumps(body, default=str, separators=(",", ":")).encode()
    if store.create(ref.key(keys.dead_letter_key(step.id, number)), data):
        logger.info("step %s attempt %d dead-lettered", step.id, number)


def message_actor(attributes: dict[str, str], message_id: str | None) -> dict[str, Any]:
    """Who asked for a start that came as a message: the publisher's declared requester (the
    `api` function and `mhi` set `mhi_requested_by`), else Cloud Scheduler or Pub/Sub."""
    declared = attributes.get("mhi_requested_by")
    if declared:
        try:
            body = json.loads(declared)
        except json.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("actor"), str):
            return {"actor": body["actor"], "via": str(body.get("via", "pubsub"))}
    if attributes.get("mhi_trigger") == "schedule":
        return {"actor": "scheduler", "via": "scheduler"}
    return {"actor": "pubsub", "via": "pubsub", "message_id": message_id}


def starts_attempts(actions: Iterable[object]) -> bool:
    """Whether a decision dispatches a new attempt (not a later turn of a running one), or
    claims a concurrency slot for one."""
    from mhi.engine.actions import AcquireSlot, DispatchStep

    return any(
        (isinstance(a, DispatchStep) and a.turn == 0) or isinstance(a, AcquireSlot) for a in actions
    )


def publish_wake(bus: MessageBus, ref: RunRef) -> None:
    """Ask the controller (any instance) to look at a run again now, as its timer would."""
    wake = WakeMessage(account=ref.account, flow_id=ref.flow_id, run_id=ref.run_id)
    bus.publish(CONTROLLER_TOPIC, encode(wake), {"kind": "wake", "run_id": ref.run_id})
