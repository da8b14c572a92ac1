"""Pure views of a run: the per-step summary (CLI, notifications) and the flow notification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mhi.engine.limits import waiting_for_slot
from mhi.model import expr
from mhi.model.flow import NotificationSpec
from mhi.model.run import Attempt, RunState, RunStatus, StepState, parse_time


def _first_dispatch(state: RunState, step: StepState) -> datetime | None:
    if step.children:
        times = [_first_dispatch(state, state.steps[c]) for c in step.children]
        return min((t for t in times if t is not None), default=None)
    first = step.attempts.get(min(step.attempts)) if step.attempts else None
    return first.dispatched_at if first else None


def _duration(state: RunState, step: StepState) -> float | None:
    start, last = _first_dispatch(state, step), step.last
    if start is None or last is None or not last.result:
        return None
    return round((parse_time(last.result["at"]) - start).total_seconds(), 3)


def _error(attempt: Attempt | None) -> dict[str, Any] | None:
    if attempt is None or attempt.result is None or attempt.result.get("status") != "failed":
        return None
    err = attempt.result.get("error") or {}
    return {"kind": err.get("kind", "error"), "message": err.get("message", "")}


def stuck(step: StepState, now: datetime | None) -> bool:
    """Whether the step's running turn lost its lease by `now`: its process seems to have died,
    and the controller runs the turn again (visible before the step's timeout)."""
    last = step.last
    if now is None or last is None or not last.running(last.turn):
        return False
    lease = last.leases.get(last.turn)
    return lease is not None and lease < now


def step_summary(state: RunState, step: StepState, now: datetime | None = None) -> dict[str, Any]:
    """One step's line: status, attempts, duration, error, output (and `stuck` at `now`)."""
    status = state.status(step).value
    return {
        "id": step.id,
        "type": step.spec.type,
        "status": status,
        "attempts": 0
        if step.is_parent
        else len([a for a in step.attempts.values() if a.dispatched_at]),
        "duration_seconds": _duration(state, step),
        "items": len(step.children) if step.children is not None else None,
        "error": _error(step.last),
        "skip_reason": (step.skipped or {}).get("reason"),
        "output": state.output(step.id),
        "stuck": stuck(step, now),
        "waiting_for_slot": waiting_for_slot(state, step),
    }


def notification_summary(state: RunState) -> dict[str, Any] | None:
    """How the flow-level notification went: status, attempts, error (None when none is due)."""
    notify = state.notify
    if notify is None or not notify.attempts:
        return None
    line = step_summary(state, notify)
    config = (
        (
            state.flow.notifications.success
            if (state.done or {}).get("status") == "succeeded"
            else state.flow.notifications.fail
        )
        if state.flow.notifications
        else None
    )
    recipients = ", ".join(config.recipients) if config is not None else ""
    return {k: line[k] for k in ("status", "attempts", "error")} | {"recipients": recipients}


def run_summary(
    state: RunState, with_children: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """The run summary every notification template and `mhi runs show` gets; with `now`, a
    step whose process seems to have died shows as `stuck`."""
    done = state.done or {}
    status = done.get("status", RunStatus.RUNNING.value)
    finished = done.get("at")
    duration = None
    if finished:
        duration = round((parse_time(finished) - state.started_at).total_seconds(), 3)
    steps = [
        step_summary(state, s, now)
        for s in list(state.steps.values())
        if with_children or s.parent is None
    ]
    steps.sort(key=lambda s: state.steps[s["id"]].order)
    return {
        "run_id": state.run_id,
        "flow_id": state.flow.flow_id,
        "flow_name": state.flow.name or state.flow.flow_id,
        "account": state.flow.account,
        "status": status,
        "started_at": state.started_at.isoformat(),
        "finished_at": finished,
        "duration_seconds": duration,
        "failed_step": done.get("failed_step"),
        "error": done.get("error"),
        "steps": steps,
        "notification": notification_summary(state),
    }


def flow_notification(state: RunState) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return (config, upstream) of the flow-level notification for a finished run, if any.

    `notifications.success` on success; `notifications.fail` on any other terminal status.
    A spec's `when` is evaluated like a step condition.
    """
    if state.done is None or state.flow.notifications is None:
        return None
    success = state.done.get("status") == RunStatus.SUCCEEDED.value
    spec: NotificationSpec | None = (
        state.flow.notifications.success if success else state.flow.notifications.fail
    )
    if spec is None:
        return None
    summary = run_summary(state)
    if spec.when:
        context = {
            "params": state.params,
            "steps": {s["id"]: s for s in summary["steps"]},
            "run": {
                "id": state.run_id,
                "flow_id": state.flow.flow_id,
                "account": state.flow.account,
                "status": summary["status"],
            },
            "item": None,
        }
        try:
            if not expr.evaluate(expr.parse(spec.when), context):
                return None
        except expr.ExpressionError:
            pass  # a broken condition must not swallow the notification
    return spec.step_config("success" if success else "fail"), {"_run": summary}
