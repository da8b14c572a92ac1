"""Validating a flow document: one function, run by `mhi validate` and by the controller.

`validate_flow` reports every problem of a document in one pass, each with its JSON path: the
schema (per step, so one bad step hides nothing else), then ids, dependencies, cycles, step
types, references, the schedule, each step's config against its step type's config model and
the flow-level notification blocks against the notifications step's. `parse_flow` is the same
check, raising `FlowDefinitionError` with every problem.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from mhi import catalog
from mhi.errors import FlowDefinitionError
from mhi.model import expr
from mhi.model.checks import check_flow
from mhi.model.flow import FlowConfig, FlowDefinition, StepSpec
from mhi.model.limits import limit_problems
from mhi.model.problems import Problem, format_validation_error, json_path

# Keys a start message may carry beside the flow itself (they are not part of the definition).
START_KEYS = ("run_id", "run_params")
NOTIFY_TYPE = "ms-notifications"


def parse_flow(raw: Any, known_types: frozenset[str] | None = None) -> FlowDefinition:
    """Parse and fully validate a flow; raise FlowDefinitionError listing every problem.

    Args:
        raw: the decoded JSON (a start message's own keys `run_id`/`run_params` are ignored).
        known_types: step types that may be used; defaults to the step catalog.
    """
    flow, problems = validate_flow(raw, known_types)
    if problems or flow is None:
        name = raw.get("flow_id") if isinstance(raw, dict) else None
        raise FlowDefinitionError(problems, flow=name if isinstance(name, str) else None)
    return flow


def validate_flow(
    raw: Any, known_types: frozenset[str] | None = None
) -> tuple[FlowDefinition | None, list[Problem]]:
    """Return (the flow if it parsed, every problem of the document) in one pass."""
    if not isinstance(raw, dict):
        return None, [("$", "a flow must be a JSON object")]
    known = catalog.step_types() if known_types is None else known_types
    raw = {k: v for k, v in raw.items() if k not in START_KEYS}
    try:
        flow = FlowDefinition.model_validate(raw)
    except ValidationError as e:
        return None, _schema_problems(raw, e, known)
    problems = check_flow(flow, known)
    problems += config_problems(flow, known)
    problems += notification_problems(flow)
    problems += limit_problems(flow)
    return (flow, problems)


def _schema_problems(
    raw: dict[str, Any], error: ValidationError, known: frozenset[str]
) -> list[Problem]:
    """Schema errors, plus the semantic problems of the steps that did parse.

    A flow whose schema is broken anywhere cannot be built, but the steps that are well formed
    still get every other check, so a file with many mistakes is fixed in one round.
    """
    problems = format_validation_error(error)
    steps = _well_formed_steps(raw)
    if not steps:
        return problems
    partial = FlowDefinition.model_construct(
        flow_id=str(raw.get("flow_id", "flow")),
        account=str(raw.get("account", "account")),
        flow_config=FlowConfig.model_construct(steps=[s for _, s in steps]),
        params=_params(raw),
        schedule=None,
        notifications=None,
    )
    index = {id(s): i for i, s in steps}
    extra = check_flow(partial, known) + config_problems(partial, known)
    seen = set(problems)
    return problems + [_reindex(p, steps, index) for p in extra if p not in seen]


def _well_formed_steps(raw: dict[str, Any]) -> list[tuple[int, StepSpec]]:
    config = raw.get("flow_config")
    items = config.get("steps") if isinstance(config, dict) else None
    out = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            out.append((i, StepSpec.model_validate(item)))
        except ValidationError:
            continue
    return out


def _params(raw: dict[str, Any]) -> dict[str, Any]:
    from mhi.model.flow import ParamSpec

    params = raw.get("params")
    out = {}
    for name, spec in (params if isinstance(params, dict) else {}).items():
        try:
            out[name] = ParamSpec.model_validate(spec)
        except ValidationError:
            out[name] = ParamSpec()
    return out


def _reindex(problem: Problem, steps: list[tuple[int, StepSpec]], index: dict[int, int]) -> Problem:
    """Map `steps[k]` of the partial flow back to the step's index in the document."""
    path, msg = problem
    prefix = "$.flow_config.steps["
    if not path.startswith(prefix):
        return problem
    k, _, rest = path[len(prefix) :].partition("]")
    if not k.isdigit() or int(k) >= len(steps):
        return problem
    original = index[id(steps[int(k)][1])]
    return (f"{prefix}{original}]{rest}", msg.replace(f"steps[{k}]", f"steps[{original}]"))


def config_problems(flow: FlowDefinition, known: frozenset[str] | None = None) -> list[Problem]:
    """Check each step's config against its step type's config model.

    A value that is a `{{ ... }}` template is checked only when its value is known before the
    run: a template of flow params that all have defaults is rendered with them; any other
    template (upstream outputs, items, run ids) is checked when the step is dispatched.
    """
    known = catalog.step_types() if known is None else known
    problems: list[Problem] = []
    defaults = {name: spec.default for name, spec in flow.params.items() if not spec.required}
    for i, step in enumerate(flow.steps):
        if step.type not in known or step.type not in catalog.BY_TYPE:
            continue  # reported by the type check
        base = f"$.flow_config.steps[{i}].config"
        config = _render_known(step.config, defaults)
        problems += _model_problems(catalog.config_model(step.type), config, base)
    return problems


def _render_known(value: Any, params: dict[str, Any]) -> Any:
    """Render the templates whose value is known before the run (params with defaults)."""
    if isinstance(value, dict):
        return {k: _render_known(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_known(v, params) for v in value]
    if not (isinstance(value, str) and "{{" in value):
        return value
    try:
        exprs = [expr.parse(e) for e in expr.template_expressions(value)]
        roots = {ref.parts[0] for node in exprs for ref in expr.references(node)}
        if roots <= {"params"}:
            return expr.render_string(value, {"params": params})
    except expr.ExpressionError:
        pass  # reported by the reference check
    return value


def _model_problems(model: type[BaseModel], config: Any, base: str) -> list[Problem]:
    try:
        model.model_validate(config)
    except ValidationError as e:
        return [
            (json_path(base, err["loc"]), _message(err))
            for err in e.errors()
            if not _templated(config, tuple(err["loc"]))
        ]
    return []


def _message(err: Any) -> str:
    return "unknown field" if err["type"] == "extra_forbidden" else str(err["msg"])


def _templated(value: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the value at `loc` (or one of its containers) is still a template."""
    for part in loc:
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
        if not (in_dict or in_list):
            break
        value = value[part]
        if isinstance(value, str) and "{{" in value:
            return True
    return False


def notification_problems(flow: FlowDefinition) -> list[Problem]:
    """Check the flow-level notification blocks against the notifications step's config."""
    if NOTIFY_TYPE not in catalog.BY_TYPE:
        return []
    problems: list[Problem] = []
    for event in ("success", "fail"):
        spec = getattr(flow.notifications, event, None) if flow.notifications else None
        if spec is not None:
            model = catalog.config_model(NOTIFY_TYPE)
            problems += _model_problems(model, spec.step_config(event), f"$.notifications.{event}")
    if flow.sla is not None:
        model = catalog.config_model(NOTIFY_TYPE)
        problems += _model_problems(model, flow.sla.notify.step_config("sla"), "$.sla.notify")
    return problems
