"""Semantic checks of a parsed flow: ids, dependencies, cycles, step types, references, cron.

Each check returns every problem it finds as (JSON path, message); `mhi.model.validate` runs
them all, with the schema and step-config checks, in one pass.
"""

from __future__ import annotations

import difflib
import graphlib
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mhi.model import expr
from mhi.model.accounts import account_problems
from mhi.model.flow import FlowDefinition, StepSpec
from mhi.model.problems import Problem

# `run.*` in templates (mhi.engine.rerun.run_fields builds them).
RUN_FIELDS = ("id", "flow_id", "account", "logical_date", "logical_time")


def _step_path(index: int) -> str:
    return f"$.flow_config.steps[{index}]"


def check_flow(flow: FlowDefinition, known_types: frozenset[str]) -> list[Problem]:
    """Return every semantic problem of a flow as (JSON path, message)."""
    problems = _check_ids(flow) + _check_types(flow, known_types) + _check_deps(flow)
    problems += _check_cycle(flow)
    if not any(msg.startswith("dependency cycle") for _, msg in problems):
        problems += _check_references(flow)
    return problems + _check_schedule(flow) + _check_sla(flow) + account_problems(flow)


def _check_ids(flow: FlowDefinition) -> list[Problem]:
    seen: dict[str, int] = {}
    out = []
    for i, step in enumerate(flow.steps):
        if step.id in seen:
            out.append(
                (
                    f"{_step_path(i)}.id",
                    f"duplicate step id {step.id!r} (first at steps[{seen[step.id]}])",
                )
            )
        else:
            seen[step.id] = i
    return out


def _check_types(flow: FlowDefinition, known: frozenset[str]) -> list[Problem]:
    out = []
    for i, step in enumerate(flow.steps):
        if step.type not in known:
            close = difflib.get_close_matches(step.type, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(
                (
                    f"{_step_path(i)}.type",
                    f"unknown step type {step.type!r}{hint} (see `mhi steps`)",
                )
            )
    return out


def _check_deps(flow: FlowDefinition) -> list[Problem]:
    ids = {s.id for s in flow.steps}
    out = []
    for i, step in enumerate(flow.steps):
        for j, dep in enumerate(step.depends_on):
            if dep not in ids:
                out.append((f"{_step_path(i)}.depends_on[{j}]", f"unknown step {dep!r}"))
            elif dep == step.id:
                out.append((f"{_step_path(i)}.depends_on[{j}]", "a step cannot depend on itself"))
        if len(set(step.depends_on)) != len(step.depends_on):
            out.append((f"{_step_path(i)}.depends_on", "lists a step more than once"))
        out += _check_handlers(f"{_step_path(i)}.on_failure", step.on_failure, ids, step.id)
    return out + _check_handlers("$.on_failure", flow.on_failure, ids, None)


def _check_handlers(
    path: str, handlers: list[str], ids: set[str], owner: str | None
) -> list[Problem]:
    out = []
    for j, handler in enumerate(handlers):
        if handler not in ids:
            out.append((f"{path}[{j}]", f"unknown step {handler!r} (on_failure names steps)"))
        elif handler == owner:
            out.append((f"{path}[{j}]", "a step cannot handle its own failure"))
    if len(set(handlers)) != len(handlers):
        out.append((path, "lists a step more than once"))
    return out


def _check_cycle(flow: FlowDefinition) -> list[Problem]:
    sorter = graphlib.TopologicalSorter(_graph(flow))
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        cycle = list(reversed(e.args[1]))
        handled = flow.handled()
        through = any(set(handled.get(sid, ())) & set(cycle) for sid in cycle)
        how = " (through on_failure)" if through else ""
        return [("$.flow_config.steps", f"dependency cycle{how}: " + " → ".join(cycle))]
    return []


def ancestors(flow: FlowDefinition) -> dict[str, set[str]]:
    """Return, per step id, every step it depends on directly or transitively."""
    graph = _graph(flow)
    result: dict[str, set[str]] = {}
    for sid in graphlib.TopologicalSorter(graph).static_order():
        result[sid] = set().union(*({dep} | result[dep] for dep in graph[sid]))
    return result


def _graph(flow: FlowDefinition) -> dict[str, list[str]]:
    """Step id -> what it waits for: its known dependencies and, for an error handler, the
    steps it handles (unknown ids are reported by `_check_deps`)."""
    ids = {s.id for s in flow.steps}
    ups = flow.upstreams()
    return {s.id: [d for d in ups[s.id] if d in ids and d != s.id] for s in flow.steps}


def _check_references(flow: FlowDefinition) -> list[Problem]:
    ups = ancestors(flow)
    out: list[Problem] = []
    for i, step in enumerate(flow.steps):
        base = _step_path(i)
        sources = list(expr.iter_templates(step.config, f"{base}.config"))
        if step.when is not None:
            sources.append((f"{base}.when", step.when))
        if isinstance(step.for_each, str):
            found = expr.template_expressions(step.for_each)
            if len(found) != 1 or expr._TEMPLATE_RE.fullmatch(step.for_each.strip()) is None:
                out.append((f"{base}.for_each", "must be a list or a single '{{ ... }}' reference"))
            sources += [(f"{base}.for_each", e) for e in found]
        elif isinstance(step.for_each, list) and not step.for_each:
            out.append((f"{base}.for_each", "is an empty list"))
        sources += _concurrency_sources(flow, step, base)
        for path, text in sources:
            out += [(path, msg) for msg in _check_expression(text, step, ups[step.id], flow, path)]
    return out


def _concurrency_sources(flow: FlowDefinition, step: StepSpec, base: str) -> list[tuple[str, str]]:
    """The templates of a step's concurrency key (a named limit's are checked per step using it,
    since `item` and upstream outputs depend on the step)."""
    spec = step.concurrency
    if spec is not None and spec.name is not None:
        spec = flow.limits.get(spec.name)
    if spec is None or spec.key is None:
        return []
    named = step.concurrency is not None and step.concurrency.name is not None
    path = f"{base}.concurrency" if named else f"{base}.concurrency.key"
    return [(path, e) for e in expr.template_expressions(spec.key)]


def _check_expression(
    text: str, step: StepSpec, upstream: set[str], flow: FlowDefinition, path: str
) -> list[str]:
    try:
        tree = expr.parse(text)
    except expr.ExpressionError as e:
        return [f"bad expression {text.strip()!r}: {e}"]
    problems = []
    for ref in expr.references(tree):
        msg = _check_reference(ref, step, upstream, flow, path.endswith(".for_each"))
        if msg:
            problems.append(f"bad reference {ref}: {msg}")
    return problems


def _check_reference(
    ref: expr.Path, step: StepSpec, upstream: set[str], flow: FlowDefinition, in_for_each: bool
) -> str | None:
    root, rest = ref.parts[0], ref.parts[1:]
    if root == "params":
        if not rest or rest[0] not in flow.params:
            declared = ", ".join(sorted(flow.params)) or "none"
            return f"no such flow param (declared: {declared})"
    elif root == "steps":
        if not rest or rest[0] not in {s.id for s in flow.steps}:
            return "no such step"
        if rest[0] not in upstream:
            return f"step {rest[0]!r} is not upstream of {step.id!r} (add it to depends_on)"
        if len(rest) < 2 or rest[1] not in ("output", "status"):
            return "use steps.<id>.output.<path> or steps.<id>.status"
    elif root == "item":
        if step.for_each is None or in_for_each:
            return "'item' is only defined inside a for_each step's config and when"
    elif root == "run" and (len(rest) != 1 or rest[0] not in RUN_FIELDS):
        return "use run.id, run.flow_id, run.account, run.logical_date or run.logical_time"
    return None


def _check_schedule(flow: FlowDefinition) -> list[Problem]:
    if flow.schedule is None:
        return []
    out = []
    cron = flow.schedule.cron
    if len(cron.split()) != 5 or not _valid_cron(cron):
        out.append(
            (
                "$.schedule.cron",
                f"bad cron expression {cron!r}: Cloud Scheduler takes the 5-field unix-cron "
                "form 'minute hour day-of-month month day-of-week', e.g. '0 6 * * *'",
            )
        )
    try:
        ZoneInfo(flow.schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(("$.schedule.time_zone", f"unknown time zone {flow.schedule.time_zone!r}"))
    for name in flow.schedule.params:
        if name not in flow.params:
            out.append((f"$.schedule.params.{name}", "no such flow param"))
    return out


def _check_sla(flow: FlowDefinition) -> list[Problem]:
    zone = flow.sla.time_zone if flow.sla is not None else None
    if zone is None:
        return []
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return [("$.sla.time_zone", f"unknown time zone {zone!r} (an IANA name: Europe/Madrid)")]
    return []


def _valid_cron(cron: str) -> bool:
    from croniter import croniter

    return bool(croniter.is_valid(cron))
