"""Completion: how racing controller instances agree that a group of steps has finished.

A group is the run itself (its sinks: the steps nothing depends on), a for_each parent (its
children) or a join (the dependencies of a step with several). Whenever an instance learns that
a step ended, by whatever write or read (its own result or skip, a callback, a re-listing, or a
look at another group), it looks at the step's groups (`RunState.ended` queues them): for each
other member its cache does not know as terminal, in turn, it reads the record that would end
it (the result of its latest known attempt, or its skip), until one is found unfinished.
Nothing is written, and nothing is listed unless a member moved on to an attempt this instance
has not seen. A whole listing of the run (a cold load, the sweep) needs no look.

Why that is enough: every terminal record is written before the look that follows it (a step
function stores its outcome before it publishes the callback). Take the member whose terminal
record was written last: the look after it reads every other member after that member's
record was written, so it finds the group complete, whichever instance makes it and however
stale its cache was. Earlier finishers find an unfinished member and stop there, usually after
one read (a Class B operation, a twelfth of a create's price). The minute sweep, which re-lists
whole runs, remains the safety net for a look cut short by a crash.
"""

from __future__ import annotations

from collections.abc import Iterable

from mhi.model import keys
from mhi.model.run import StepState
from mhi.runtime.records import record_dead_letter
from mhi.runtime.run_cache import CachedRun, RunCache


class Completion:
    """Finds, after a step ends, whether the groups it belongs to have just completed."""

    def __init__(self, cache: RunCache) -> None:
        self.cache = cache

    def look_at_ended(self, cached: CachedRun) -> None:
        """For every step this instance saw end since it last looked, by whatever write or
        read: look at its groups (who else ended) and dead-letter a final failure. A look may
        learn of more ends; they are looked at in turn."""
        ended = cached.state.ended
        while ended:
            state = cached.state
            step = state.step(ended.pop(0))
            if step is None:
                continue
            self.step_ended(cached, step)
            record_dead_letter(self.cache.store, cached.ref, state, step)
            ended = cached.state.ended  # (a re-listing may have re-folded the run)

    def step_ended(self, cached: CachedRun, step: StepState) -> None:
        """Look at every group `step` belongs to, folding in members other instances ended.

        The groups: its for_each parent's children; the run's sinks (once every sink is
        terminal every step is, since a step starts or is skipped only after its dependencies
        end); each join it feeds.
        """
        state = cached.state
        if step.parent is not None:
            children = state.steps[step.parent].children
            if children is None:
                # Another instance fanned the parent out: one listing of the run teaches this
                # one its upstreams' outputs (so it can fan out too) and every child's end.
                self.cache.refresh(cached)
            else:
                self._look(cached, children)
            return
        dependents = state.dependents[step.id]
        if not dependents:
            sinks = [sid for sid, deps in state.dependents.items() if not deps]
            if self._look(cached, sinks):
                # Every step has ended; fold in those this instance saw only start.
                state = cached.state
                stale = [s.id for s in state.top_level() if not state.is_terminal(s)]
                if len(stale) == 1:
                    self.cache.refresh_step(cached, stale[0])
                elif stale:
                    self.cache.refresh(cached)
        for dependent in dependents:
            upstreams = cached.state.upstreams[dependent]
            if len(upstreams) > 1:
                self._look(cached, upstreams)

    def _look(self, cached: CachedRun, members: Iterable[str]) -> bool:
        """Read the ends of the members not known as terminal, until one is still running;
        True when every member is terminal."""
        for sid in reversed(list(members)):  # the later members are the likelier unfinished
            state = cached.state  # (a read may have re-folded the run)
            member = state.steps.get(sid)
            if (
                member is not None
                and not state.is_terminal(member)
                and not self._ended(cached, sid)
            ):
                return False
        return True

    def _ended(self, cached: CachedRun, sid: str) -> bool:
        """Whether a member its cache shows unfinished has in fact ended, by reading the one
        record that would end it; a listing only when it moved past the attempt known here."""
        state, reruns = cached.state, cached.state.reruns
        step = state.steps[sid]
        if not step.attempts and self.cache.fold_key(
            cached, keys.skipped_key(sid, reruns.scope_of(sid))
        ):
            return True
        last = step.last
        if last is None or last.result is None:
            number = reruns.absolute(sid, last.number if last is not None else 1)
            if not self.cache.fold_key(cached, keys.result_key(sid, number)):
                return False  # its latest attempt has no result: still running
            state = cached.state  # (a fold may have reloaded the run)
            if state.is_terminal(state.steps[sid]):
                return True
        self.cache.refresh_step(cached, sid)  # retried since: list its attempts
        return cached.state.is_terminal(cached.state.steps[sid])
