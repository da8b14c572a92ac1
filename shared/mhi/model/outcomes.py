"""The record of one turn's outcome, as the step function stores it and the controller folds it.

A step function stores its own outcome — `result.json` of the attempt, or `wait-<turn>.json`
when it asks to be polled — before it publishes its callback, and says so in the callback
(`recorded`). The controller then folds the callback as that record without writing anything:
one store create per outcome instead of two, and a callback lost on the way is recovered from
the record. Both sides build the record with `outcome_record`, so they agree to the byte.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mhi.model import keys
from mhi.model.messages import CallbackMessage, CallbackStatus, ErrorInfo, StepMessage


def outcome_record(cb: CallbackMessage, at: datetime) -> tuple[str, dict[str, Any]]:
    """(run-relative key, body) of the record a callback stands for, stamped `at`."""
    if cb.status == CallbackStatus.WAITING:
        poll_at = at + timedelta(seconds=cb.poll_after_seconds)
        wait: dict[str, Any] = {"at": at.isoformat(), "continuation": cb.continuation}
        wait["poll_at"] = poll_at.isoformat()
        return keys.wait_key(cb.step_id, cb.attempt, cb.turn), wait
    body: dict[str, Any] = {
        "status": cb.status.value,
        "output": cb.output,
        "error": cb.error.model_dump() if cb.error else None,
        "at": at.isoformat(),
        "started_at": cb.started_at.isoformat() if cb.started_at else None,
        "finished_at": cb.finished_at.isoformat() if cb.finished_at else None,
        "metrics": cb.metrics,
        "turn": cb.turn,
    }
    return keys.result_key(cb.step_id, cb.attempt), body


def callback_of(message: StepMessage, body: dict[str, Any], waiting: bool) -> CallbackMessage:
    """The callback a stored record stands for (to publish it again after a failed publish)."""
    common: dict[str, Any] = {
        "run_id": message.run_id,
        "flow_id": message.flow_id,
        "account": message.account,
        "step_id": message.step_id,
        "attempt": message.attempt,
        "recorded": True,
    }
    if waiting:
        at = datetime.fromisoformat(body["at"])
        delay = (datetime.fromisoformat(body["poll_at"]) - at).total_seconds()
        return CallbackMessage(
            **common,
            turn=message.turn,
            status=CallbackStatus.WAITING,
            continuation=body.get("continuation"),
            poll_after_seconds=max(0.0, delay),
            finished_at=at,
        )
    error = body.get("error")
    return CallbackMessage(
        **common,
        turn=int(body.get("turn", message.turn)),
        status=CallbackStatus(body["status"]),
        output=body.get("output") or {},
        error=ErrorInfo(**error) if error else None,
        metrics=body.get("metrics") or {},
        started_at=_time(body.get("started_at")),
        finished_at=_time(body.get("finished_at")),
    )


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
