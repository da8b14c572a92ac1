"""Planning a rerun of a finished run, and a failed step's dead-letter record (pure).

A rerun re-runs the steps that did not succeed (`from failure`), or one step and everything
downstream of it (`from_step`); steps it does not re-run keep their outputs, which feed the
re-run steps. The plan names, for every step it re-runs (for_each children and the flow
notification included), the first attempt number that step gets: one past every attempt it
ever had, so the new generation writes only new objects. Edits to params and step configs are
checked here, before anything is written, and recorded with the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mhi.constants import NOTIFY_STEP
from mhi.engine.steps_view import StepsView
from mhi.errors import InvalidMessageError
from mhi.model import expr
from mhi.model.generations import EditError, set_path
from mhi.model.run import RunState, StepState, StepStatus


class RerunError(InvalidMessageError):
    """A rerun that cannot be made as asked; `field` names the input that is wrong."""

    kind = "invalid_rerun"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RerunPlan:
    """What generation `generation` of a run re-runs."""

    generation: int
    mode: str  # "failed" or "from"
    from_step: str | None
    steps: dict[str, int]  # step id -> its first attempt number in the new generation
    kept: list[str]  # for_each children of re-run steps that keep their results
    edits: dict[str, Any] = field(default_factory=dict)

    @property
    def top_level(self) -> list[str]:
        """The flow's own steps that run again (no children, no notification)."""
        return [s for s in self.steps if "." not in s and s != NOTIFY_STEP]


def plan_rerun(
    state: RunState,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> RerunPlan:
    """Plan the next generation of a finished run.

    Raises:
        RerunError: the run is not finished, a step or param is unknown, an edit cannot be
            applied or would change nothing, or there is nothing to re-run.
    """
    if state.done is None:
        raise RerunError(
            "run", f"run {state.run_id!r} has not finished: cancel it or wait, then rerun"
        )
    chosen = _from(state, from_step) if from_step is not None else _failed(state)
    edits = _edits(state, chosen, params or {}, config or {})
    steps: dict[str, int] = {}
    kept: list[str] = []
    for sid in chosen:
        step = state.steps[sid]
        steps[sid] = next_attempt(state, step)
        for child in _children(state, sid):
            if from_step is None and state.status(child) == StepStatus.SUCCEEDED:
                kept.append(child.id)
            else:
                steps[child.id] = next_attempt(state, child)
    notify = state.notify
    steps[NOTIFY_STEP] = 1 if notify is None else next_attempt(state, notify)
    return RerunPlan(
        state.reruns.generation + 1,
        "failed" if from_step is None else "from",
        from_step,
        steps,
        sorted(kept),
        edits,
    )


def next_attempt(state: RunState, step: StepState) -> int:
    """One past the highest attempt number a step ever had (in any generation)."""
    numbers = [*step.history, *(state.reruns.absolute(step.id, n) for n in step.attempts)]
    return max(numbers, default=0) + 1


def _failed(state: RunState) -> list[str]:
    chosen = [s.id for s in state.top_level() if state.status(s) != StepStatus.SUCCEEDED]
    if not chosen:
        raise RerunError(
            "from_step",
            f"run {state.run_id!r}: every step succeeded, nothing to rerun from failure "
            "(name a step to rerun from)",
        )
    return _with_reactions(state, chosen)


def _with_reactions(state: RunState, chosen: list[str]) -> list[str]:
    """Add the succeeded steps that ran because of a re-run step's outcome, and their downstream.

    An error handler of a re-run step, a step whose `trigger_rule` let it run after a failed
    or skipped upstream, or one that ran after an optional upstream failed (an optional failure
    does not stop `all_succeeded`), ran on an outcome the rerun replaces: it runs again (it is
    skipped if the new outcome says so), and so does everything downstream of it, as with
    `from_step`.
    """
    picked = set(chosen)
    queue = [(sid, False) for sid in chosen]
    while queue:
        sid, whole = queue.pop()
        for dep_id in state.dependents[sid]:
            dependent = state.steps[dep_id]
            reacts = (
                sid in state.handled.get(dep_id, ())
                or dependent.spec.trigger_rule != "all_succeeded"
                or state.status(state.steps[sid]) != StepStatus.SUCCEEDED
            )
            if dep_id not in picked and (whole or reacts):
                picked.add(dep_id)
                queue.append((dep_id, True))
    return [s.id for s in state.flow.steps if s.id in picked]


def _from(state: RunState, from_step: str) -> list[str]:
    top = {s.id for s in state.flow.steps}
    if from_step not in top:
        raise RerunError(
            "from_step",
            f"flow {state.flow.flow_id!r} has no step {from_step!r} "
            f"(steps: {', '.join(s.id for s in state.flow.steps)})",
        )
    for dep in state.steps[from_step].spec.depends_on:
        if state.status(state.steps[dep]) != StepStatus.SUCCEEDED:
            raise RerunError(
                "from_step",
                f"step {from_step!r} depends on {dep!r}, which did not succeed: rerun from "
                f"{dep!r}, or from the failure",
            )
    chosen = {from_step}
    queue = [from_step]
    while queue:
        for dependent in state.dependents[queue.pop()]:
            if dependent not in chosen:
                chosen.add(dependent)
                queue.append(dependent)
    # A step still running in a cancelled or timed-out run would never finish: it runs again.
    chosen |= {s.id for s in state.top_level() if not state.is_terminal(s)}
    return [s.id for s in state.flow.steps if s.id in chosen]


def _children(state: RunState, sid: str) -> list[StepState]:
    if state.steps[sid].spec.for_each is None:
        return []
    prefix = sid + "."
    return [s for s in state.steps.values() if s.parent == sid and s.id.startswith(prefix)]


def _edits(
    state: RunState,
    chosen: list[str],
    params: Mapping[str, Any],
    config: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    declared = state.flow.params
    for name in params:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise RerunError(f"params.{name}", f"unknown param {name!r} (declared: {known})")
    for sid, changes in config.items():
        if sid not in state.steps or state.steps[sid].parent is not None:
            raise RerunError(f"set.{sid}", f"flow {state.flow.flow_id!r} has no step {sid!r}")
        if sid not in chosen:
            raise RerunError(
                f"set.{sid}",
                f"step {sid!r} is not re-run by this rerun (it succeeded): rerun from {sid!r} "
                "to replay it with the edited config",
            )
        current = dict(state.steps[sid].spec.config)
        for path, value in changes.items():
            try:
                current = set_path(current, path, value)
            except EditError as e:
                raise RerunError(f"set.{sid}.config.{path}", str(e)) from None
    out: dict[str, Any] = {}
    if params:
        out["params"] = dict(params)
    if config:
        out["config"] = {sid: dict(changes) for sid, changes in config.items()}
    return out


# ---- what a failed step received --------------------------------------------------------


def run_fields(state: RunState) -> dict[str, Any]:
    """`run.*` in templates: id, flow_id, account, and the schedule slot the run is for."""
    logical = state.logical_time or state.started_at.isoformat()
    return run_values(state.run_id, state.flow.flow_id, state.flow.account, logical)


def run_values(run_id: str, flow_id: str, account: str, logical_time: str) -> dict[str, Any]:
    """`run.*` in templates from its parts (a run's logical time is its slot, else its start)."""
    return {
        "id": run_id,
        "flow_id": flow_id,
        "account": account,
        "logical_date": logical_time[:10],
        "logical_time": logical_time,
    }


def rendered_message(state: RunState, step: StepState) -> dict[str, Any]:
    """What a step's attempts were given: its rendered config, upstream outputs, params, item."""
    context = {
        "params": state.params,
        "steps": StepsView(state),
        "run": run_fields(state),
        "item": step.item,
    }
    try:
        config: Any = expr.render(step.spec.config, context)
    except expr.ExpressionError as e:
        config = {"_render_error": str(e)}
    parent = state.steps[step.parent] if step.parent else step
    return {
        "type": step.spec.type,
        "config": config,
        "upstream": {d: state.output(d) for d in parent.spec.depends_on},
        "params": dict(state.params),
        "item": step.item,
    }
