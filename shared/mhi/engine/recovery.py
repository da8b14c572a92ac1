"""Recovery timers: a claim not followed by its effect, a lease not renewed, and the end of a run.

A claim (`dispatched.json`, `poll-<turn>.json`) is a promise to publish; its claimer may die
between the claim and the publish. A turn not seen starting within the grace period is
published again with the same message (the step SDK makes a duplicate harmless). A started turn
holds a lease that its step function renews while it works; a lease that lapses means the
process died, and the turn is run again as the next turn of the same attempt (the attempt's own
records, such as a Qlik reload id it claimed, are kept, so side effects are not repeated).

Both need facts only the step's own records carry, which an instance may not have listed yet:
the first time a timer is due the engine asks the shell to re-list the step (`CheckStep`), and
acts only on a lapse still seen after that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mhi.engine.actions import Action, CheckStep, DispatchStep
from mhi.engine.dispatch import render_dispatch
from mhi.model.run import Attempt, RunState, StepState


def timer_valid(attempt: Attempt, kind: str, when: datetime, turn: int) -> bool:
    """Whether a grace or lease timer still means something (else it is dropped)."""
    if not attempt.running(turn):
        return False
    if kind == "grace":
        return turn not in attempt.leases and attempt.grace_due.get(turn) == when
    return attempt.leases.get(turn) == when


def recover(
    state: RunState,
    step: StepState,
    attempt: Attempt,
    turn: int,
    kind: str,
    when: datetime,
    now: datetime,
) -> Action:
    """The action for a due grace or lease timer."""
    checked = attempt.checked.get(turn)
    if checked is None or checked < when:
        return CheckStep(step.id, attempt.number, turn)
    continuation = attempt.continuations.get(turn)
    if kind == "grace":
        return _message(
            state, step, attempt.number, turn, continuation, attempt.deadline or now, republish=True
        )
    deadline = now + timedelta(seconds=step.spec.timeout_seconds)
    return _message(
        state,
        step,
        attempt.number,
        turn + 1,
        continuation,
        deadline,
        reason=f"the lease of turn {turn} lapsed: its process died",
    )


def _message(
    state: RunState,
    step: StepState,
    number: int,
    turn: int,
    continuation: dict[str, Any] | None,
    deadline: datetime,
    *,
    republish: bool = False,
    reason: str | None = None,
) -> Action:
    action = render_dispatch(state, step, number, turn, deadline, continuation)
    if not isinstance(action, DispatchStep):
        return action
    return DispatchStep(
        action.step_id,
        action.attempt,
        action.turn,
        action.type,
        action.config,
        action.upstream,
        action.item,
        action.continuation,
        action.deadline,
        republish=republish,
        reason=reason,
        templates=action.templates,
    )
