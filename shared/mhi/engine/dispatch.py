"""Rendering one turn of a step into its message: config templates, upstream outputs, limits.

The same state always renders the same message, so a message can be published again (after a
lost publish, or for a new turn after a lapsed lease) without storing it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mhi.constants import MAX_STEP_MESSAGE_BYTES, NOTIFY_STEP, SLA_STEP
from mhi.engine.actions import Action, DispatchStep, RecordResult
from mhi.engine.limits import needs_slot, slot_gate
from mhi.engine.rerun import run_fields
from mhi.engine.sla import sla_message
from mhi.engine.steps_view import StepsView
from mhi.engine.summary import flow_notification
from mhi.model import expr
from mhi.model.run import RunState, StepState


def context(state: RunState, item: Any = None) -> dict[str, Any]:
    run = run_fields(state)  # id, flow_id, account, logical_date, logical_time
    return {"params": state.params, "steps": StepsView(state), "run": run, "item": item}


def dispatch(
    state: RunState,
    step: StepState,
    attempt: int,
    turn: int,
    now: datetime,
    continuation: dict[str, Any] | None,
) -> Action | None:
    """A new attempt (turn 0) or a later turn of a step; None: the attempt waits for a
    concurrency slot (`mhi.engine.limits`)."""
    slot = None
    if turn == 0 and needs_slot(state, step):
        gate = slot_gate(state, step, attempt, now, context(state, step.item))
        if not isinstance(gate, dict):
            return gate
        slot = gate
    deadline = now + timedelta(seconds=step.spec.timeout_seconds)
    action = render_dispatch(state, step, attempt, turn, deadline, continuation)
    return replace(action, slot=slot) if slot and isinstance(action, DispatchStep) else action


def render_dispatch(
    state: RunState,
    step: StepState,
    attempt: int,
    turn: int,
    deadline: datetime,
    continuation: dict[str, Any] | None,
) -> Action:
    """The message of one turn of a step (or the failure that stops it: a bad reference, a
    message over the size limit). The same state always renders the same message."""
    if step.id == NOTIFY_STEP:
        note = notification_message(state, attempt, deadline, turn, continuation)
        assert note is not None  # a notify step exists only when the flow sends one
        return note
    if step.id == SLA_STEP:
        return sla_message(state, attempt, deadline, None, turn, continuation)
    try:
        config = expr.render(step.spec.config, context(state, step.item))
    except expr.ExpressionError as e:
        return RecordResult(
            step.id,
            attempt,
            "failed",
            error={"kind": "bad_reference", "message": str(e), "retryable": False},
        )
    deps = state.steps[step.parent].spec.depends_on if step.parent else step.spec.depends_on
    upstream = {d: state.output(d) for d in deps}
    size = _message_size(config, upstream, state.params, step.item, continuation)
    if size > MAX_STEP_MESSAGE_BYTES:
        return RecordResult(
            step.id,
            attempt,
            "failed",
            error={
                "kind": "message_too_large",
                "message": f"the rendered step message would be {size} bytes, the limit is "
                f"{MAX_STEP_MESSAGE_BYTES}: pass large data as a table or file name, not inline",
                "retryable": False,
            },
        )
    return DispatchStep(
        step_id=step.id,
        attempt=attempt,
        turn=turn,
        type=step.spec.type,
        config=config,
        upstream=upstream,
        item=step.item,
        continuation=continuation,
        deadline=deadline,
        templates=templated_values(step.spec.config),
    )


def templated_values(config: Any, path: str = "config") -> dict[str, str]:
    """Config path -> template text of every value a template produces (for error messages:
    a value of the wrong type at run time names the template it came from)."""
    if isinstance(config, str):
        return {path: config} if "{{" in config else {}
    if isinstance(config, dict):
        return {
            p: t for k, v in config.items() for p, t in templated_values(v, f"{path}.{k}").items()
        }
    if isinstance(config, list):
        items = enumerate(config)
        return {p: t for i, v in items for p, t in templated_values(v, f"{path}[{i}]").items()}
    return {}


def _message_size(*parts: Any) -> int:
    """Bytes of the JSON a step message carries for these parts (ids and times are small)."""
    return len(json.dumps(parts, default=str, ensure_ascii=False).encode())


def notification_message(
    state: RunState,
    attempt: int,
    deadline: datetime,
    turn: int = 0,
    continuation: dict[str, Any] | None = None,
) -> Action | None:
    """The flow-level notification's step message, or None when the run sends none."""
    note = flow_notification(state)
    if note is None:
        return None
    config, upstream = note
    return DispatchStep(
        NOTIFY_STEP,
        attempt,
        turn,
        "ms-notifications",
        config,
        upstream,
        None,
        continuation,
        deadline,
    )
