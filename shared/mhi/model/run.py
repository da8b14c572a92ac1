"""Run state: a fold over the write-once objects of one run.

`RunState.apply(key, body)` folds one object in; objects may arrive in any order and more than
once. Besides the plain facts, the state keeps small indexes (ready steps, timers, counters) up to
date as it folds, so that deciding what to do next costs time proportional to what changed, not
to the size of the flow.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mhi.constants import (
    CHILD_SEPARATOR,
    DISPATCH_GRACE_SECONDS,
    NOTIFY_STEP,
    PSEUDO_STEPS,
    SLA_STEP,
)
from mhi.model import keys
from mhi.model.flow import FlowDefinition, StepSpec
from mhi.model.generations import Reruns
from mhi.model.limits import SlotBook
from mhi.model.states import (  # re-exported: the run state's vocabulary
    TERMINAL_STEP,
    Attempt,
    RunStatus,
    StepStatus,
    jitter_fraction,
    parse_time,
    retry_allowed,
)

__all__ = [
    "TERMINAL_STEP",
    "Attempt",
    "RunState",
    "RunStatus",
    "StepState",
    "StepStatus",
    "jitter_fraction",
    "parse_time",
    "retry_allowed",
]


@dataclass
class StepState:
    """One step (or one for_each child `<step>.<i>`) of a run."""

    id: str
    spec: StepSpec
    order: tuple[int, int]
    parent: str | None = None
    item: Any = None
    attempts: dict[int, Attempt] = field(default_factory=dict)
    skipped: dict[str, Any] | None = None
    children: list[str] | None = None
    unfinished_deps: int = 0
    terminal_children: int = 0
    history: dict[int, Attempt] = field(default_factory=dict)  # earlier generations' attempts

    @property
    def last(self) -> Attempt | None:
        """The latest attempt."""
        return self.attempts[max(self.attempts)] if self.attempts else None

    @property
    def is_parent(self) -> bool:
        """A for_each step (its children do the work)."""
        return self.spec.for_each is not None and self.parent is None


class RunState:
    """Everything known about one run, folded from its objects."""

    def __init__(
        self, flow: FlowDefinition, run_id: str, params: dict[str, Any], started_at: datetime
    ) -> None:
        self.flow = flow
        self.run_id = run_id
        self.params = params
        self.started_at = started_at
        self.done: dict[str, Any] | None = None
        self.cancel: dict[str, Any] | None = None
        self.notify: StepState | None = None
        self.sla: StepState | None = None  # the SLA notification, once a late run sent it
        self.reruns = Reruns()  # reruns and pauses (mhi.model.generations)
        self.limits = SlotBook()  # concurrency slots held and waited for (mhi.model.limits)
        self.logical_time: str | None = None  # the schedule slot a run is for (ISO 8601)
        # a slot the scheduler never started, recorded by the SLA watch: {"reason", "deadline"}
        self.missed: dict[str, Any] | None = None
        self.parent_run: dict[str, Any] | None = None  # a sub-flow's parent (`ParentLink`)
        self.steps: dict[str, StepState] = {}
        self.dependents: dict[str, list[str]] = {s.id: [] for s in flow.steps}
        self.terminal_count = 0
        self.in_flight: set[str] = set()
        self.ready: list[tuple[tuple[int, int], str]] = []
        self.timers: list[tuple[datetime, str, str, int, int]] = []
        self.grace = timedelta(seconds=DISPATCH_GRACE_SECONDS)
        self.closed = False  # set by the shell once the run left the active index
        # steps seen ending since the shell last looked at their groups (see runtime.progress)
        self.ended: list[str] = []
        self._expanded: set[str] = set()
        self.upstreams = flow.upstreams()  # depends_on plus the steps a handler handles
        self.handled = flow.handled()  # error-handler step -> the steps whose failure runs it
        for i, spec in enumerate(flow.steps):
            deps = self.upstreams[spec.id]
            self.steps[spec.id] = StepState(spec.id, spec, (i, -1), unfinished_deps=len(deps))
            for dep in deps:
                self.dependents[dep].append(spec.id)
        for sid, step in self.steps.items():
            if step.unfinished_deps == 0:
                heapq.heappush(self.ready, (step.order, sid))

    # ---- folding objects in -------------------------------------------------------------

    def apply(self, key: str, body: Mapping[str, Any]) -> None:
        """Fold one object (run-relative key, decoded JSON body) into the state. Idempotent."""
        parsed = keys.parse(key)
        if parsed is None or parsed.kind in keys.STEP_SIDE:
            return
        if not self.reruns.admits(self, parsed, body):
            return
        if parsed.kind == "done":
            self.done = self.done or dict(body)
        elif parsed.kind == "cancel":
            self.cancel = self.cancel or dict(body)
        elif parsed.kind == "slot_wait" and parsed.step is not None:
            self.limits.show_wait(parsed.step, parsed.attempt or 0, str(body.get("key", "")))
        elif parsed.kind == "skipped" and parsed.step is not None:
            self._apply_skipped(parsed.step, body)
        elif parsed.step is not None and parsed.attempt is not None:
            self._apply_attempt_object(parsed, body)

    def step(self, sid: str) -> StepState | None:
        """A step, for_each child or the flow notification by id (None if there is none)."""
        if sid == SLA_STEP:
            return self.sla
        return self.notify if sid == NOTIFY_STEP else self.steps.get(sid)

    def _step(self, sid: str) -> StepState | None:
        if sid in self.steps:
            return self.steps[sid]
        if sid == NOTIFY_STEP:
            if self.notify is None:
                self.notify = StepState(
                    sid, StepSpec(id="notify", type="ms-notifications"), (-1, -1)
                )
            return self.notify
        if sid == SLA_STEP:
            if self.sla is None:
                self.sla = StepState(sid, StepSpec(id="sla", type="ms-notifications"), (-1, -2))
            return self.sla
        head, sep, tail = sid.partition(CHILD_SEPARATOR)
        parent = self.steps.get(head)
        if not sep or parent is None or not tail.isdigit() or parent.spec.for_each is None:
            return None
        return self._add_child(parent, int(tail), None)

    def _add_child(self, parent: StepState, index: int, item: Any) -> StepState:
        sid = f"{parent.id}{CHILD_SEPARATOR}{index}"
        child = self.steps.get(sid)
        if child is None:
            child = StepState(
                sid, parent.spec, (parent.order[0], index), parent=parent.id, item=item
            )
            self.steps[sid] = child
        return child

    def _apply_skipped(self, sid: str, body: Mapping[str, Any]) -> None:
        step = self._step(sid)
        if step is None or step.skipped is not None or self.is_terminal(step):
            return
        step.skipped = dict(body)
        self._became_terminal(step)

    def _apply_attempt_object(self, key: keys.ObjectKey, body: Mapping[str, Any]) -> None:
        sid, number, turn = key.step or "", key.attempt or 0, key.turn or 0
        step = self._step(sid)
        if step is None or number < 1:
            return
        number = self.reruns.localize(step, key, body)
        if number < 1:
            return  # an attempt of an earlier generation: history
        was_terminal = self.is_terminal(step)
        attempt = step.attempts.setdefault(number, Attempt(number))
        if key.kind == "dispatched":
            self._dispatched(step, attempt, turn, body)
        elif key.kind in ("wait", "nudge"):
            self._waited(sid, attempt, key.kind, turn, body)
        elif key.kind in ("started", "heartbeat"):
            self._leased(step, attempt, turn, parse_time(body["lease_until"]))
            if isinstance(body.get("holder"), str):
                attempt.holders[turn] = body["holder"]
        elif key.kind == "result" and attempt.result is None:
            attempt.result = dict(body)
            self._finished_attempt(step, attempt)
        if not was_terminal and self.is_terminal(step):
            self._became_terminal(step)

    def _waited(
        self, sid: str, attempt: Attempt, kind: str, turn: int, body: Mapping[str, Any]
    ) -> None:
        """Fold a turn's wait (poll at `poll_at`) or the attempt's nudge (poll now)."""
        if kind == "nudge":
            attempt.nudged_at = attempt.nudged_at or parse_time(body["at"])
        elif turn not in attempt.waits:
            attempt.waits[turn] = dict(body)
            if attempt.result is None and turn == attempt.turn:
                due = parse_time(body["poll_at"])
                heapq.heappush(self.timers, (due, "poll", sid, attempt.number, turn))
        early = attempt.early_poll()
        if early is not None:
            heapq.heappush(self.timers, (early, "poll", sid, attempt.number, attempt.turn))

    def _dispatched(
        self, step: StepState, attempt: Attempt, turn: int, body: Mapping[str, Any]
    ) -> None:
        if turn <= attempt.turn:
            return
        if attempt.dispatched_at is None:
            attempt.dispatched_at = parse_time(body["at"])
        attempt.turn = turn
        attempt.deadline = parse_time(body["deadline"])
        attempt.continuations[turn] = body.get("continuation")
        if isinstance(body.get("slot"), dict):
            self.limits.hold((step.id, attempt.number), body["slot"])
        if attempt.result is None:
            self.in_flight.add(step.id)
            heapq.heappush(
                self.timers, (attempt.deadline, "timeout", step.id, attempt.number, turn)
            )
            if turn not in attempt.leases:
                self.note_published(step.id, attempt.number, turn, parse_time(body["at"]))

    def _leased(self, step: StepState, attempt: Attempt, turn: int, until: datetime) -> None:
        if until <= attempt.leases.get(turn, until - timedelta(seconds=1)):
            return
        attempt.leases[turn] = until
        if attempt.result is None:
            heapq.heappush(self.timers, (until, "lease", step.id, attempt.number, turn))

    # ---- what the shell tells the state (no store object behind these) ---------------------

    def note_published(self, sid: str, number: int, turn: int, at: datetime) -> None:
        """A turn's message was published at `at`: check it started one grace period later."""
        step = self.step(sid)
        if step is None or number not in step.attempts:
            return
        due = at + self.grace
        step.attempts[number].grace_due[turn] = due
        heapq.heappush(self.timers, (due, "grace", sid, number, turn))

    def note_lost(self, sid: str, number: int, turn: int, at: datetime) -> None:
        """The shell knows the process running this turn is gone (a local process that died):
        its lease ends `at`, and the next `decide` runs the turn again without waiting."""
        step = self.step(sid)
        if step is None or number not in step.attempts:
            return
        attempt = step.attempts[number]
        if turn in attempt.leases:
            attempt.leases[turn] = at
            heapq.heappush(self.timers, (at, "lease", sid, number, turn))
        else:
            attempt.grace_due[turn] = at
            heapq.heappush(self.timers, (at, "grace", sid, number, turn))
        attempt.checked[turn] = at

    def note_checked(self, sid: str, number: int, turn: int, at: datetime) -> None:
        """The shell re-listed this step's objects at `at` (a lapse seen after it is real)."""
        step = self.step(sid)
        if step is not None and number in step.attempts:
            step.attempts[number].checked[turn] = at

    def _finished_attempt(self, step: StepState, attempt: Attempt) -> None:
        self.limits.end((step.id, attempt.number))
        last = step.last
        if last is attempt:
            self.in_flight.discard(step.id)
        result = attempt.result or {}
        if result.get("status") == "failed" and retry_allowed(
            step.spec.retry, attempt.number, result.get("error")
        ):
            heapq.heappush(
                self.timers, (self.retry_due(step, attempt), "retry", step.id, attempt.number, 0)
            )

    def _became_terminal(self, step: StepState) -> None:
        if step.id not in PSEUDO_STEPS:
            self.ended.append(step.id)
        self.in_flight.discard(step.id)
        self._expanded.discard(step.id)
        if step.parent is not None:
            self.steps[step.parent].terminal_children += 1
            return
        if step.id in PSEUDO_STEPS:
            return
        self.terminal_count += 1
        for dep_id in self.dependents[step.id]:
            dependent = self.steps[dep_id]
            dependent.unfinished_deps -= 1
            if dependent.unfinished_deps == 0:
                heapq.heappush(self.ready, (dependent.order, dep_id))

    def expand(self, sid: str, items: list[Any]) -> None:
        """Fan a for_each step out into children `<sid>.<i>` (idempotent)."""
        step = self.steps[sid]
        if step.children is not None:
            return
        step.children = []
        for i, item in enumerate(items):
            child = self._add_child(step, i, item)
            child.item = item
            step.children.append(child.id)
            if self.status(child) == StepStatus.PENDING:
                heapq.heappush(self.ready, (child.order, child.id))
        if not self.is_terminal(step):
            self._expanded.add(sid)

    def expanded_parents(self) -> list[str]:
        """for_each steps fanned out and not yet finished."""
        return [s for s in self._expanded if not self.is_terminal(self.steps[s])]

    # ---- queries ------------------------------------------------------------------------

    def retry_due(self, step: StepState, attempt: Attempt) -> datetime:
        """When the retry after a failed attempt is due: backoff with deterministic jitter."""
        base = step.spec.retry.backoff(attempt.number)
        factor = 1.0 + step.spec.retry.jitter * jitter_fraction(
            self.run_id, step.id, attempt.number
        )
        finished = parse_time((attempt.result or {})["at"])
        return finished + timedelta(seconds=base.total_seconds() * factor)

    def status(self, step: StepState) -> StepStatus:
        """The step's status."""
        if step.skipped is not None:
            return StepStatus.SKIPPED
        if step.is_parent:
            return self._parent_status(step)
        last = step.last
        if last is None:
            return StepStatus.PENDING
        if last.result is None:
            if last.dispatched_at is None:
                return StepStatus.PENDING
            return StepStatus.WAITING if last.wait is not None else StepStatus.RUNNING
        if last.result.get("status") == "succeeded":
            return StepStatus.SUCCEEDED
        if retry_allowed(step.spec.retry, last.number, last.result.get("error")):
            return StepStatus.RETRYING
        return StepStatus.FAILED

    def _parent_status(self, step: StepState) -> StepStatus:
        result = step.attempts.get(1, Attempt(1)).result
        if result is not None:
            return (
                StepStatus.SUCCEEDED if result.get("status") == "succeeded" else StepStatus.FAILED
            )
        return StepStatus.RUNNING if step.children is not None else StepStatus.PENDING

    def is_terminal(self, step: StepState) -> bool:
        """Whether the step will never change again."""
        return self.status(step) in TERMINAL_STEP

    def counts_as_failed(self, step: StepState) -> bool:
        """A failure that fails the run and skips dependents (optional steps never do)."""
        return self.status(step) == StepStatus.FAILED and not step.spec.optional

    def output(self, sid: str) -> dict[str, Any]:
        """The output of a succeeded step (empty otherwise)."""
        step = self.step(sid)
        if step is None:
            return {}
        last = step.attempts.get(1) if step.is_parent else step.last
        if last is None or last.result is None or last.result.get("status") != "succeeded":
            return {}
        return dict(last.result.get("output") or {})

    def top_level(self) -> Iterator[StepState]:
        """The flow's own steps, in definition order (no for_each children)."""
        return (self.steps[s.id] for s in self.flow.steps)
