"""`decide(state, now)`: the whole orchestration policy as one pure function.

Cost is proportional to what is due or ready, not to the size of the flow: the state keeps a
heap of ready steps and a heap of timers (timeouts, retries, polls) as objects are folded in.
`decide` drops stale index entries it meets and leaves everything else as it found it.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

from mhi.constants import MAX_FOR_EACH_ITEMS, SLA_STEP
from mhi.engine.actions import (
    AcquireSlot,
    Action,
    CloseRun,
    Decision,
    DispatchStep,
    ExpandStep,
    FinishRun,
    RecordResult,
    SkipStep,
)
from mhi.engine.dispatch import context, dispatch, notification_message
from mhi.engine.joins import skip_reason
from mhi.engine.limits import slot_releases
from mhi.engine.recovery import recover, timer_valid
from mhi.engine.sla import missed_run, sla_due
from mhi.model import expr
from mhi.model.run import RunState, RunStatus, StepState, StepStatus


def decide(state: RunState, now: datetime) -> Decision:
    """Return the actions that move the run forward at time `now`."""
    if state.done is not None:
        return _after_done(state, now)
    if state.missed is not None and not state.reruns.generation:
        return Decision(missed_run(state, now))  # a slot nobody started: recorded, never run
    early = _early_finish(state, now)
    if early is not None:
        return Decision(early)
    free = _free_slots(state)
    actions: list[Action] = slot_releases(state)  # first: a freed slot may start other runs
    wake_at, free = _due_timers(state, now, free, actions)
    free = _ready_steps(state, now, free, actions)
    actions += _aggregates(state)
    if not actions and state.terminal_count == len(state.flow.steps):
        actions.append(_finish(state))
    deadlines = [wake_at, sla_due(state, now, actions), state.limits.next_recheck()]
    if state.flow.timeout_seconds is not None:
        deadlines.append(state.started_at + timedelta(seconds=state.flow.timeout_seconds))
    return Decision(actions, min((d for d in deadlines if d is not None), default=None))


def _early_finish(state: RunState, now: datetime) -> list[Action] | None:
    if state.cancel is not None:
        status, why = (
            RunStatus.CANCELLED,
            f"cancelled: {state.cancel.get('reason') or 'by request'}",
        )
    elif state.flow.timeout_seconds is not None and now >= state.started_at + timedelta(
        seconds=state.flow.timeout_seconds
    ):
        status, why = RunStatus.TIMED_OUT, f"flow timed out after {state.flow.timeout_seconds}s"
    else:
        return None
    skips: list[Action] = [
        SkipStep(s.id, why)
        for s in state.steps.values()
        if state.status(s) == StepStatus.PENDING and s.parent is None
    ]
    return [*skips, FinishRun(status, error=why)]


# How long the flow-level notification may take before it counts as timed out (and is retried).
NOTIFY_TIMEOUT = timedelta(seconds=600)


def _free_slots(state: RunState) -> float:
    if state.reruns.paused:
        return 0  # paused: nothing new is dispatched; turns of running attempts go on
    limit = state.flow.max_parallel
    busy = len(state.in_flight) - (SLA_STEP in state.in_flight)  # the SLA notice takes no slot
    return float("inf") if limit is None else max(0, limit - busy)


def _after_done(state: RunState, now: datetime) -> Decision:
    """A finished run still owes its flow-level notification, retried per its policy; then it
    leaves the active index (so a crash anywhere before that is repaired by the sweep)."""
    if state.closed:
        return Decision([])
    releases = slot_releases(state, run_done=True)
    if releases:
        return Decision(releases)
    notify = state.notify
    if notify is None or not notify.attempts:
        first = notification_message(state, 1, now + NOTIFY_TIMEOUT)
        if first is not None:
            return Decision([first])
    # the notification, and an SLA notification sent while the run was late, end first
    owed = frozenset(
        s.id
        for s in (state.notify, state.sla)
        if s is not None and s.attempts and not state.is_terminal(s)
    )
    if not owed:
        return Decision([CloseRun()])
    actions: list[Action] = []
    wake_at, _ = _due_timers(state, now, float("inf"), actions, only=owed)
    return Decision(actions, wake_at)


def _timer_valid(
    state: RunState, entry: tuple[datetime, str, str, int, int], only: frozenset[str] | None
) -> bool:
    when, kind, sid, number, turn = entry
    step = state.step(sid)
    attempt = step.attempts.get(number) if step else None
    if step is None or attempt is None or (only is not None and sid not in only):
        return False
    if kind in ("grace", "lease"):
        return timer_valid(attempt, kind, when, turn)
    if kind == "retry":
        return step.last is attempt and state.status(step) == StepStatus.RETRYING
    if attempt.result is not None or attempt.turn != turn:
        return False
    return (attempt.wait is None) if kind == "timeout" else (turn in attempt.waits)


def _due_timers(
    state: RunState,
    now: datetime,
    free: float,
    actions: list[Action],
    only: frozenset[str] | None = None,
) -> tuple[datetime | None, float]:
    taken = []
    wake_at = None
    while state.timers:
        entry = state.timers[0]
        when, kind, sid, number, turn = entry
        if not _timer_valid(state, entry, only):
            heapq.heappop(state.timers)
            continue
        if when > now:
            wake_at = when
            break
        taken.append(heapq.heappop(state.timers))
        if kind == "retry" and free <= 0:
            continue  # due, but every slot is taken: looked at again when one frees up
        step = state.step(sid)
        assert step is not None  # checked by _timer_valid
        if kind in ("grace", "lease"):
            actions.append(recover(state, step, step.attempts[number], turn, kind, when, now))
        elif kind == "timeout":
            actions.append(_timeout(step, number, turn))
        elif kind == "retry":
            retry = dispatch(state, step, number + 1, 0, now, None)
            if retry is not None:  # None: waits for a concurrency slot, holding no free one
                free -= 1
                actions.append(retry)
        else:
            attempt = step.attempts[number]
            poll = dispatch(
                state, step, number, turn + 1, now, attempt.waits[turn].get("continuation")
            )
            actions += [poll] if poll is not None else []
    for entry in taken:
        heapq.heappush(state.timers, entry)
    return wake_at, free


def _timeout(step: StepState, number: int, turn: int) -> RecordResult:
    error = {
        "kind": "timeout",
        "message": f"no result within timeout_seconds={step.spec.timeout_seconds} (turn {turn})",
        "retryable": True,
    }
    return RecordResult(step.id, number, "failed", error=error)


def _ready_steps(state: RunState, now: datetime, free: float, actions: list[Action]) -> float:
    taken = []
    while state.ready:
        sid = state.ready[0][1]
        step = state.steps[sid]
        if (
            state.status(step) != StepStatus.PENDING
            or step.unfinished_deps
            or step.children is not None
        ):
            heapq.heappop(state.ready)
            continue
        action = _start(state, step, now)
        if action is None:  # waits for a concurrency slot: looked at again when one frees up
            taken.append(heapq.heappop(state.ready))
            continue
        if isinstance(action, DispatchStep | AcquireSlot):
            if free <= 0:
                break
            free -= 1
        taken.append(heapq.heappop(state.ready))
        actions.append(action)
    for entry in taken:
        heapq.heappush(state.ready, entry)
    return free


def _failed(step: StepState, kind: str, message: str) -> RecordResult:
    return RecordResult(
        step.id, 1, "failed", error={"kind": kind, "message": message, "retryable": False}
    )


def _start(state: RunState, step: StepState, now: datetime) -> Action | None:
    """Decide what happens to a step whose dependencies are all terminal (None: it waits for
    a concurrency slot)."""
    skip = skip_reason(state, step)
    if skip is not None:
        return SkipStep(step.id, skip)
    when = step.spec.when
    if when is not None and _evaluated_here(step, when):
        try:
            if not expr.evaluate(expr.parse(when), context(state, step.item)):
                return SkipStep(step.id, f"condition is false: {when}")
        except expr.ExpressionError as e:
            return _failed(step, "bad_condition", f"when {when!r}: {e}")
    if step.is_parent:
        return _expand(state, step)
    return dispatch(state, step, 1, 0, now, None)


def _evaluated_here(step: StepState, when: str) -> bool:
    # A for_each step's condition is checked once on the parent, unless it uses `item`: then it
    # is checked per child.
    if step.spec.for_each is None:
        return True
    return _uses_item(when) == (step.parent is not None)


def _uses_item(text: str) -> bool:
    try:
        return any(p.parts[0] == "item" for p in expr.references(expr.parse(text)))
    except expr.ExpressionError:
        return False


def _expand(state: RunState, step: StepState) -> Action:
    source = step.spec.for_each
    try:
        items = (
            source if isinstance(source, list) else expr.render(source, context(state), "for_each")
        )
    except expr.ExpressionError as e:
        return _failed(step, "bad_reference", str(e))
    if not isinstance(items, list):
        return _failed(
            step, "bad_for_each", f"for_each must give a list, got {type(items).__name__}"
        )
    if len(items) > MAX_FOR_EACH_ITEMS:
        return _failed(
            step,
            "bad_for_each",
            f"for_each gives {len(items)} items, the limit is {MAX_FOR_EACH_ITEMS}",
        )
    if not items:
        return RecordResult(step.id, 1, "succeeded", output={"items": []})
    return ExpandStep(step.id, items)


def _aggregates(state: RunState) -> list[Action]:
    out: list[Action] = []
    for sid in sorted(state.expanded_parents()):
        parent = state.steps[sid]
        children = parent.children or []
        if parent.terminal_children < len(children):
            continue
        kids = [state.steps[c] for c in children]
        failed = [k.id for k in kids if state.counts_as_failed(k)]
        outputs = [state.output(k.id) for k in kids]
        if failed:
            msg = f"{len(failed)} of {len(kids)} items failed: {', '.join(failed[:10])}"
            out.append(
                RecordResult(
                    sid,
                    1,
                    "failed",
                    output={"items": outputs},
                    error={"kind": "for_each_failed", "message": msg, "retryable": False},
                )
            )
        else:
            out.append(RecordResult(sid, 1, "succeeded", output={"items": outputs}))
    return out


def _finish(state: RunState) -> FinishRun:
    for step in state.top_level():
        if state.counts_as_failed(step):
            last = step.attempts.get(1) if step.is_parent else step.last
            error = ((last.result or {}).get("error") or {}) if last else {}
            return FinishRun(
                RunStatus.FAILED,
                error=f"step {step.id!r} failed: {error.get('message', 'failed')}",
                failed_step=step.id,
            )
    return FinishRun(RunStatus.SUCCEEDED)
