"""Completion counting: how racing controller instances agree that a group has finished.

A group is the run itself (every top-level step), a for_each parent (its children) or a join
(the dependencies of a step with several). Each finished member claims the next free slot
`progress/<group>/<count>.json`; whoever claims the last slot re-lists the group's members, so
the next decision sees every member even when other instances finished them. One claim per edge:
the cost of a step does not grow with the size of the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mhi.constants import RUN_GROUP
from mhi.model import keys
from mhi.model.run import JOIN_PREFIX, StepState, join_group
from mhi.runtime.run_cache import CachedRun, RunCache


class Progress:
    """Claims completion slots for finished steps through a RunCache."""

    def __init__(self, cache: RunCache, now: Callable[[], datetime]) -> None:
        self.cache = cache
        self.now = now

    def count_finished(self, cached: CachedRun, step: StepState) -> None:
        """Claim one completion in every group `step` belongs to.

        The groups: its for_each parent's children; the run's sinks (steps nothing depends on:
        once every sink is terminal every step is, since a step starts or is skipped only after
        its dependencies end); each join it feeds (a dependent with several dependencies).
        """
        state = cached.state
        if step.parent is not None:
            self._claim(cached, step.parent, step.id)
            return
        dependents = state.dependents[step.id]
        if not dependents:
            self._claim(cached, RUN_GROUP, step.id)
        for dependent in dependents:
            if len(state.upstreams[dependent]) > 1:
                self._claim(cached, join_group(dependent), step.id)

    def _claim(self, cached: CachedRun, group: str, member: str) -> None:
        """Count `member` once in `group`; whoever claims the last slot re-lists the group.

        Any instance that sees a member end may count it (two may process the same report): a
        slot names its member, and a walker that meets its member's slot stops, so no member is
        counted twice. A group of one needs no claim: its one member's end completes it.
        """
        state = cached.state
        size = state.group_size(group)
        if size is None or member in state.counted.get(group, ()):
            return
        if size == 1:
            self._refresh_group(cached, group)
            return
        count = state.progress.get(group, 0) + 1
        while count <= size:
            rel = keys.progress_key(group, count, state.reruns.generation)
            body = {"at": self.now().isoformat(), "member": member}
            if self.cache.create(cached, rel, body):
                if count == size:
                    self._refresh_group(cached, group)
                return
            taken = self.cache.read_json(cached.ref.key(rel))
            if taken is not None:
                state.apply(rel, taken)
            cached.known.add(cached.ref.key(rel))
            if member in state.counted.get(group, ()):
                return  # counted by another instance
            state.progress[group] = max(state.progress.get(group, 0), count)
            count += 1

    def _refresh_group(self, cached: CachedRun, group: str) -> None:
        state = cached.state
        if group == RUN_GROUP:
            self.cache.refresh(cached)
        elif group.startswith(JOIN_PREFIX):
            for dep in state.upstreams[group[len(JOIN_PREFIX) :]]:
                if not state.is_terminal(state.steps[dep]):
                    self.cache.refresh_step(cached, dep)
        else:
            # a for_each parent's children are the steps `<group>.<index>`
            self.cache.refresh(cached, keys.step_prefix(group)[:-1] + ".")
