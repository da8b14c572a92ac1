"""The static shape of a run, before it runs: fan-out bounds, critical path, store operations.

Pure: `mhi plan` gives it the step durations (from past runs or the step types' defaults) and
prints the result. The operation counts are those of the path where every step runs and
succeeds on its first attempt and no error handler runs (their steps are skipped); retries,
polls, conditions that turn out false, waits for a concurrency slot and reruns add to them (a
deployment's `MHI_STEP_CONCURRENCY`, which the flow file does not show, too).
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass

from mhi.constants import MAX_FOR_EACH_ITEMS
from mhi.model.flow import FlowDefinition, StepSpec

# Creates of every run whatever its steps: flow.json, done.json, the active-run entry, four
# index entries at the start (all, account, flow, run id) and two at the finish (by status, by
# flow and status).
RUN_CREATES = 9
# Reads and listings of every run: the start and the controller's first look read flow.json;
# that look lists the run's objects once.
RUN_READS = 2
RUN_LISTS = 1
# Before a decision starts new attempts the controller reads the next pause and rerun records.
CHECK_READS = 2
# One step transition (dispatch to result): dispatched, started and result objects, the read
# that looks for the dispatch claim before creating it, and two Pub/Sub messages (the step's
# message and its callback).
TRANSITION_CREATES = 3
TRANSITION_READS = 1
# An attempt of a step with a `concurrency` key holds a slot: the hold and its end are created,
# and the key's slots and waiters are listed (once to take a slot, twice to give it back).
SLOT_CREATES = 2
SLOT_LISTS = 3
TRANSITION_MESSAGES = 2


@dataclass(frozen=True)
class Ops:
    """Store operations and Pub/Sub messages of one run."""

    creates: int
    reads: int  # the most: how many depends on the order in which parallel steps end
    lists: int
    reads_fewest: int
    messages: int
    transitions: int


def fan_out(step: StepSpec) -> tuple[int, int] | None:
    """The (fewest, most) items of a for_each step; None for a plain step."""
    if step.for_each is None:
        return None
    if isinstance(step.for_each, list):
        return len(step.for_each), len(step.for_each)
    return 0, MAX_FOR_EACH_ITEMS


def items_assumed(flow: FlowDefinition, given: Mapping[str, int]) -> dict[str, int]:
    """Items per for_each step: `given` for templated ones (default 1), the list's length else."""
    out = {}
    for step in flow.steps:
        bounds = fan_out(step)
        if bounds is not None:
            out[step.id] = bounds[0] if bounds[0] == bounds[1] else given.get(step.id, 1)
    return out


def success_path(flow: FlowDefinition) -> list[str]:
    """The steps that run when nothing fails (every step but the error handlers), in order."""
    handlers = flow.handled()
    return [s.id for s in flow.steps if s.id not in handlers]


def critical_path(
    flow: FlowDefinition, seconds: Mapping[str, float], items: Mapping[str, int]
) -> tuple[list[str], float]:
    """The longest chain of the success path by duration, and its length in seconds.

    A for_each step takes one child's time per wave of `max_parallel` children.
    """
    runs = set(success_path(flow))
    ups = flow.upstreams()
    best: dict[str, tuple[float, list[str]]] = {}
    for sid in graphlib.TopologicalSorter(ups).static_order():
        before = max((best[u] for u in ups[sid] if u in runs), default=(0.0, []))
        own = _step_seconds(flow, sid, seconds, items) if sid in runs else 0.0
        best[sid] = (before[0] + own, [*before[1], sid] if sid in runs else before[1])
    total, path = max(best.values(), default=(0.0, []), key=lambda b: b[0])
    return path, total


def _step_seconds(
    flow: FlowDefinition, sid: str, seconds: Mapping[str, float], items: Mapping[str, int]
) -> float:
    one = seconds.get(sid, 0.0)
    if sid not in items:
        return one
    width = flow.max_parallel or items[sid] or 1
    return one * -(-items[sid] // width)


def operations(flow: FlowDefinition, items: Mapping[str, int]) -> Ops:
    """Store operations and messages of a run where every step succeeds at its first attempt.

    Creates and listings are exact. Reads are a range: after a step ends the controller reads
    what it does not yet know of the other members of its groups (a join's dependencies, the
    run's sinks, a fan-out's children) and of pending pause and rerun records, and how much
    it already knows depends on the order in which parallel steps happen to end.
    """
    runs = set(success_path(flow))
    ups = flow.upstreams()
    creates, transitions, limited = RUN_CREATES, 0, 0
    for step in flow.steps:
        if step.id not in runs:
            creates += 1  # skipped.json
            continue
        n = items.get(step.id)
        count = 1 if n is None else n
        transitions += count
        creates += TRANSITION_CREATES * count
        limited += count if step.concurrency is not None else 0
        if n is not None:
            creates += 1  # the parent's result
    notify = flow.notifications is not None and flow.notifications.success is not None
    transitions += notify
    sinks = len(ups) - len({u for deps in ups.values() for u in deps})
    groups = [len(u) for u in ups.values() if len(u) > 1] + [n for n in items.values() if n > 1]
    groups += [sinks] if sinks > 1 else []
    # Each member's end looks at its group: at most two reads find nothing (its skip and its
    # result), and each other member's record is read at most once.
    looks = sum(3 * k for k in groups)
    fewest_checks = _levels(flow, runs) + notify
    most_checks = len(runs) + notify
    return Ops(
        creates=creates + TRANSITION_CREATES * notify + SLOT_CREATES * limited,
        reads=RUN_READS + TRANSITION_READS * transitions + CHECK_READS * most_checks + looks,
        reads_fewest=RUN_READS + TRANSITION_READS * transitions + CHECK_READS * fewest_checks,
        lists=RUN_LISTS + SLOT_LISTS * limited,
        messages=1 + TRANSITION_MESSAGES * transitions,
        transitions=transitions,
    )


def _levels(flow: FlowDefinition, runs: set[str]) -> int:
    """Waves of dispatches along the longest chain of the success path (a for_each step's
    children go out in its wave)."""
    ups = flow.upstreams()
    depth: dict[str, int] = {}
    for sid in graphlib.TopologicalSorter(ups).static_order():
        depth[sid] = max((depth[u] for u in ups[sid]), default=0) + (sid in runs)
    return max(depth.values(), default=0)
