"""Concurrency limits in the engine: when an attempt needs a slot, waits for one, or owes one back.

Pure, like the rest of the engine: the slots themselves live in the run store outside any run
and are claimed by the controller (`mhi.runtime.limits`); what it found is noted in the run's
`SlotBook` (`mhi.model.limits`), which this module reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mhi.constants import PSEUDO_STEPS
from mhi.engine.actions import AcquireSlot, Action, RecordResult, ReleaseSlot
from mhi.model import expr
from mhi.model.limits import effective_limit, key_problem, step_concurrency
from mhi.model.run import RunState, StepState, StepStatus


def slot_gate(
    state: RunState, step: StepState, attempt: int, now: datetime, context: dict[str, Any]
) -> Action | dict[str, Any] | None:
    """What a new attempt of a step with `concurrency` needs before it is dispatched.

    Returns the slot it holds (dispatch it), an `AcquireSlot` (claim one first), None (every
    slot was taken when last looked at: wait until a release wakes the run or the wait lapses),
    or the failure that stops it (a key that does not render, or has no limit anywhere).
    """
    held = state.limits.slot_of((step.id, attempt))
    if held is not None:
        return held
    waiting = state.limits.waiting.get((step.id, attempt))
    if waiting is not None and now < waiting[1]:
        return None
    spec = step_concurrency(state.flow, step.spec, state.limits.by_type)
    if spec is None or spec.key is None:  # validation refuses this; a frozen flow is re-checked
        named = step.spec.concurrency.name if step.spec.concurrency else None
        return _failed(step, attempt, "bad_concurrency", f"no limit named {named!r} with a key")
    try:
        key = expr.render(spec.key, context, "concurrency.key")
    except expr.ExpressionError as e:
        return _failed(step, attempt, "bad_reference", str(e))
    problem = key_problem(key)
    if problem is not None:
        return _failed(step, attempt, "bad_concurrency_key", f"{spec.key!r} gave {problem}")
    limit = effective_limit(spec.limit, key, state.limits.deployment)
    if limit is None:
        message = (
            f"concurrency key {key!r} has no limit: give `limit` in the flow or set one for it "
            "in the deployment's MHI_CONCURRENCY_LIMITS"
        )
        return _failed(step, attempt, "no_concurrency_limit", message)
    return AcquireSlot(step.id, attempt, key, limit)


def needs_slot(state: RunState, step: StepState) -> bool:
    """Whether a new attempt of the step must hold a concurrency slot first (flow steps only:
    the flow's own notifications never wait for one)."""
    if step.id in PSEUDO_STEPS:
        return False
    return step.spec.concurrency is not None or step.spec.type in state.limits.by_type


def slot_releases(state: RunState, *, run_done: bool = False) -> list[Action]:
    """The slots owed back: of attempts that ended, or (once the run is done) of every attempt
    still holding one (a cancelled or timed-out run leaves running attempts without a result)."""
    owed = state.limits.still_held() if run_done else sorted(state.limits.owed)
    out: list[Action] = []
    for sid, number in owed:
        slot = state.limits.slot_of((sid, number))
        if slot is not None:
            out.append(ReleaseSlot(sid, number, slot))
    return out


def _failed(step: StepState, attempt: int, kind: str, message: str) -> RecordResult:
    error = {"kind": kind, "message": f"concurrency: {message}", "retryable": False}
    return RecordResult(step.id, attempt, "failed", error=error)


def waiting_for_slot(state: RunState, step: StepState) -> str | None:
    """The key whose slot a step's next attempt waits for (None: it does not wait), from the
    `slot-wait` record the controller writes the first time an attempt finds every slot taken."""
    shown = state.limits.shown.get(step.id)
    if shown is None or state.status(step) not in (StepStatus.PENDING, StepStatus.RETRYING):
        return None
    last = step.last
    upcoming = state.reruns.absolute(step.id, (last.number if last else 0) + 1)
    if last is not None and last.dispatched_at is None and last.result is None:
        upcoming = state.reruns.absolute(step.id, last.number)
    return shown[1] if shown[0] == upcoming else None
