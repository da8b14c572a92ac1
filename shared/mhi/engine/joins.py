"""Joins and error handlers: whether a step whose upstreams all ended runs or is skipped.

A step's `trigger_rule` says what its `depends_on` must have done (see `mhi.model.flow`); a step
named in an `on_failure` list (an error handler) runs only when a step it handles finally failed,
and then follows its own `trigger_rule` over its `depends_on` like any step.
"""

from __future__ import annotations

from mhi.model.run import RunState, StepState, StepStatus


def skip_reason(state: RunState, step: StepState) -> str | None:
    """Why the step is skipped given its ended upstreams, or None when it runs."""
    if step.parent is not None:
        return None  # a for_each child: its parent already passed the join
    handled = state.handled.get(step.id)
    if handled is not None and not any(
        state.status(state.steps[h]) == StepStatus.FAILED for h in handled
    ):
        return f"error handler: none of {', '.join(map(repr, handled))} failed"
    return _join(state, step)


def _join(state: RunState, step: StepState) -> str | None:
    rule = step.spec.trigger_rule
    deps = [state.steps[d] for d in step.spec.depends_on]
    if rule == "all_done" or not deps:
        return None
    if rule == "any_succeeded":
        if any(state.status(d) == StepStatus.SUCCEEDED for d in deps):
            return None
        return "trigger_rule any_succeeded: no upstream step succeeded"
    for dep in deps:
        if state.counts_as_failed(dep):
            return f"upstream step {dep.id!r} failed"
        if rule == "all_succeeded" and state.status(dep) == StepStatus.SKIPPED:
            return f"upstream step {dep.id!r} was skipped"
    return None
