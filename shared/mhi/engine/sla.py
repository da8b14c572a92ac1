"""SLAs: a run not finished by its deadline (`sla.within_seconds` after its schedule slot or its
start, or the first `sla.by` time of day after it) sends the `sla` notification once, with what is
late, as the pseudo-step `_sla`.

A rerun sends none: the SLA is the first run's. What is late is what had not ended at the
deadline, an answer that does not change afterwards: a message rendered again (a new turn, a
retry) says the same as the first.

A slot the scheduler never started is recorded by the sweep's SLA watch (`mhi.runtime.sla_watch`)
as a run of that slot marked `missed`: its first generation ends at once (`missed_run`), so the
gap is a failed run that lists, reruns and counts as an SLA miss like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mhi.constants import SLA_STEP
from mhi.engine.actions import Action, DispatchStep, FinishRun, SkipStep
from mhi.engine.summary import run_summary
from mhi.model.flow import FlowDefinition
from mhi.model.run import RunState, RunStatus, StepState, StepStatus, parse_time

# How long the SLA notification may take before it counts as timed out (and is retried).
SLA_NOTIFY_TIMEOUT = timedelta(seconds=600)


def sla_deadline(state: RunState) -> datetime | None:
    """When the run must be finished by, or None when its flow has no SLA."""
    base = parse_time(state.logical_time) if state.logical_time else state.started_at
    return deadline_after(state.flow, base)


def deadline_after(flow: FlowDefinition, base: datetime) -> datetime | None:
    """The SLA deadline of a run of `flow` whose slot (or start) is `base`; None without SLA.

    `within_seconds` counts from `base`; `by` is the first such wall-clock time in the SLA's time
    zone at or after `base`, so "07:00 Europe/Madrid" stays 07:00 local across DST changes.
    """
    sla = flow.sla
    if sla is None:
        return None
    if sla.by is None:
        return base + timedelta(seconds=sla.within_seconds or 0)
    return next_time_of_day(base, time.fromisoformat(sla.by), ZoneInfo(sla_time_zone(flow)))


def latest_base_due(flow: FlowDefinition, moment: datetime) -> datetime | None:
    """The latest slot (or start) whose SLA deadline is at or before `moment`; None without SLA.

    A deadline never moves back when its base moves forward, so the slots due by `moment` are
    exactly those at or before this one: the SLA watch looks back from it.
    """
    sla = flow.sla
    if sla is None:
        return None
    if sla.by is None:
        return moment - timedelta(seconds=sla.within_seconds or 0)
    return previous_time_of_day(moment, time.fromisoformat(sla.by), ZoneInfo(sla_time_zone(flow)))


def sla_time_zone(flow: FlowDefinition) -> str:
    """The zone an SLA's `by` is read in: its own `time_zone`, else the schedule's, else UTC."""
    if flow.sla is not None and flow.sla.time_zone is not None:
        return flow.sla.time_zone
    return flow.schedule.time_zone if flow.schedule is not None else "UTC"


def next_time_of_day(base: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first moment at or after `base` whose wall-clock time in `zone` is `at` (UTC).

    A wall time that occurs twice (the autumn change) is its first occurrence; one the spring
    change skips is the moment the clocks jump to (02:30 on that night is 03:30 summer time).
    """
    day = base.astimezone(zone).date()
    for offset in range(3):  # today's, else tomorrow's (a skipped wall time may need a third)
        moment = datetime.combine(day + timedelta(days=offset), at, tzinfo=zone).astimezone(UTC)
        if moment >= base:
            return moment
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


def previous_time_of_day(moment: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The last moment at or before `moment` whose wall-clock time in `zone` is `at` (UTC), read
    as `next_time_of_day` reads it (so each day's `at` is the same moment for both)."""
    day = moment.astimezone(zone).date()
    for offset in range(3):  # today's, else yesterday's (a skipped wall time may need a third)
        found = datetime.combine(day - timedelta(days=offset), at, tzinfo=zone).astimezone(UTC)
        if found <= moment:
            return found
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


def missed_error(state: RunState) -> str:
    """Why a run recorded as `missed` failed: when it was due (in the SLA's time zone) and what
    kept it from starting."""
    deadline = sla_deadline(state)
    reason = (state.missed or {}).get("reason") or "nobody started it"
    local = deadline.astimezone(ZoneInfo(sla_time_zone(state.flow))) if deadline else None
    due = f"its SLA deadline {local.isoformat()}" if local else "its schedule slot"
    return f"not started by {due}: {reason}"


def missed_run(state: RunState, now: datetime) -> list[Action]:
    """End a run recorded for a slot nobody started (`state.missed`) without dispatching a step.

    The SLA notification goes out once (every step is late, none ever started), every step is
    skipped with the reason, and the run fails with it. The notification comes first: once
    `done` exists a run owes only the notifications it already claimed.
    """
    why = missed_error(state)
    actions: list[Action] = []
    if state.flow.sla is not None and (state.sla is None or not state.sla.attempts):
        actions.append(sla_message(state, 1, now + SLA_NOTIFY_TIMEOUT))
    actions += [
        SkipStep(s.id, why) for s in state.top_level() if state.status(s) == StepStatus.PENDING
    ]
    actions.append(FinishRun(RunStatus.FAILED, error=why))
    return actions


def sla_due(state: RunState, now: datetime, actions: list[Action]) -> datetime | None:
    """Add the SLA notification to `actions` when the run is late; return when it will be."""
    deadline = sla_deadline(state)
    if (
        deadline is None
        or state.reruns.generation
        or (state.sla is not None and state.sla.attempts)
    ):
        # no SLA; a rerun (late by nature: the run's SLA was decided by its first generation);
        # or the notification already went out (its retries run on its timers)
        return None
    if any(isinstance(a, FinishRun) for a in actions):
        return None  # finishing now: the deadline is decided by the finish time
    if now < deadline:
        return deadline
    actions.append(sla_message(state, 1, now + SLA_NOTIFY_TIMEOUT, deadline))
    return None


def sla_message(
    state: RunState,
    attempt: int,
    timeout_at: datetime,
    deadline: datetime | None = None,
    turn: int = 0,
    continuation: dict[str, Any] | None = None,
) -> DispatchStep:
    """The SLA notification's step message: the flow's `sla.notify` block, event `sla`."""
    sla = state.flow.sla
    assert sla is not None  # an SLA step exists only when the flow has an SLA
    deadline = deadline or sla_deadline(state)
    assert deadline is not None
    late = [s.id for s in state.top_level() if not _ended_by(state, s, deadline)]
    running = [s for s in late if _started_by(state.steps[s], deadline)]
    summary = {
        **run_summary(state),
        "sla": {
            "deadline": deadline.isoformat(),
            **sla.model_dump(include={"within_seconds", "by"}, exclude_none=True),
            "unfinished_steps": late,
            "running_steps": running,
            "waiting_steps": [s for s in late if s not in running],
        },
    }
    if state.missed is not None and not state.reruns.generation:
        summary["sla"]["not_started"] = missed_error(state)
    return DispatchStep(
        SLA_STEP,
        attempt,
        turn,
        "ms-notifications",
        sla.notify.step_config("sla"),
        {"_run": summary},
        None,
        continuation,
        timeout_at,
    )


def _ended_by(state: RunState, step: StepState, deadline: datetime) -> bool:
    """Whether the step had ended at the deadline (the same answer whenever it is asked)."""
    if not state.is_terminal(step):
        return False
    if step.skipped is not None:
        at = step.skipped.get("at")
    else:
        last = step.attempts.get(1) if step.is_parent else step.last
        at = (last.result or {}).get("at") if last is not None else None
    return isinstance(at, str) and parse_time(at) <= deadline


def _started_by(step: StepState, deadline: datetime) -> bool:
    """Whether an attempt of the step had been dispatched by the deadline."""
    return any(
        a.dispatched_at is not None and a.dispatched_at <= deadline for a in step.attempts.values()
    )
