"""`mhi step TYPE --config JSON`: run one step handler alone, its config rendered as in a run.

    mhi step ms-echo --config '{"day": "{{ params.day }}", "n": "{{ steps.a.output.rows }}"}' \\
        --param day=2017-08-01 --upstream '{"a": {"rows": 3}}'

Templates are rendered by the engine's own renderer (`mhi.model.expr.render`) over the context
a run gives a step: `params`, `steps.<id>.output` and `.status`, `item` and `run.id`,
`run.flow_id`, `run.account`.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mhi.cli.common import parse_assignments, parse_json_arg, services_from_env
from mhi.constants import RUN_ID_RE, RUN_ID_RULE, SAFE_ID_RE, SAFE_ID_RULE
from mhi.errors import InvalidMessageError, OrchestratorError

if TYPE_CHECKING:
    from mhi.model.messages import CallbackMessage, StepMessage


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi step`."""
    p = sub.add_parser(
        "step",
        help="run one step handler alone and print its output",
        description="Run one step handler alone. Its config is rendered exactly as in a run: "
        "{{ params.x }}, {{ steps.<id>.output... }}, {{ item }}, {{ run.id }}.",
    )
    p.add_argument("type", metavar="TYPE", help="step type, e.g. ms-echo (see `mhi steps`)")
    p.add_argument("--config", default="{}", help="config JSON (or @file.json); may hold templates")
    p.add_argument("--account", default="local", help="account the step acts for (default: local)")
    p.add_argument(
        "--upstream", default="{}", help="outputs of upstream steps, JSON: {step_id: output}"
    )
    p.add_argument("--params", default="{}", help="flow params as a JSON object")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one flow param (JSON value or string), over --params; repeatable",
    )
    p.add_argument("--item", default=None, help="for_each item (JSON)")
    p.add_argument("--run-id", help="run id the step sees (default: manual-<UTC time>)")
    p.add_argument("--flow-id", default="manual", help="flow id the step sees (default: manual)")
    p.set_defaults(func=run_one)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidMessageError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _checked_id(value: str, what: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.match(value):
        raise InvalidMessageError(f"{what} {value!r} is not a valid id ({rule})")
    return value


def _upstream(raw: str) -> dict[str, dict[str, Any]]:
    upstream = _object(parse_json_arg(raw, "--upstream"), "--upstream")
    for step_id, output in upstream.items():
        _object(output, f"--upstream: the output of step {step_id!r}")
    return upstream


def template_context(
    *,
    params: dict[str, Any],
    upstream: dict[str, dict[str, Any]],
    item: Any,
    run_id: str,
    flow_id: str,
    account: str,
    started_at: datetime,
) -> dict[str, Any]:
    """Build what a step's templates see in a run started at `started_at` whose upstream steps
    succeeded (`run.*` as the engine builds it)."""
    from mhi.engine.rerun import run_values

    return {
        "params": params,
        "steps": {sid: {"status": "succeeded", "output": out} for sid, out in upstream.items()},
        "run": run_values(run_id, flow_id, account, started_at.isoformat()),
        "item": item,
    }


def _render(config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    from mhi.model import expr

    try:
        rendered: dict[str, Any] = expr.render(config, context)
    except expr.ExpressionError as e:
        raise InvalidMessageError(
            f"template error in --config: {e} (templates see params, steps "
            "(from --upstream), item and run)"
        ) from None
    return rendered


def run_one(args: argparse.Namespace) -> int:
    """Render the config, run the handler; print the callback's output (or error) as JSON."""
    from mhi.catalog import BY_TYPE, load_kind
    from mhi.steps.sdk import run_step

    if args.type not in BY_TYPE:
        raise InvalidMessageError(f"unknown step type {args.type!r} (see `mhi steps`)")
    services = services_from_env()
    message = _step_message(args, services.clock.now())
    try:
        kind = load_kind(args.type)
    except (ImportError, AttributeError) as e:
        raise OrchestratorError(f"cannot load the handler of {args.type}: {e}") from e
    return _print_callback(message.config, run_step(message, kind, services))


def _step_message(args: argparse.Namespace, now: datetime) -> StepMessage:
    """The message a run would dispatch: ids checked, inputs parsed, config rendered."""
    from mhi.constants import CALLBACK_TOPIC
    from mhi.model.messages import StepMessage

    params = _object(parse_json_arg(args.params, "--params"), "--params")
    params = {**params, **parse_assignments(args.param, "--param")}
    upstream = _upstream(args.upstream)
    item = None if args.item is None else parse_json_arg(args.item, "--item")
    run_id = args.run_id or f"manual-{now.strftime('%Y%m%dT%H%M%SZ')}"
    _checked_id(run_id, "--run-id", RUN_ID_RE, RUN_ID_RULE)
    for value, what in ((args.flow_id, "--flow-id"), (args.account, "--account")):
        _checked_id(value, what, SAFE_ID_RE, SAFE_ID_RULE)
    context = template_context(
        params=params,
        upstream=upstream,
        item=item,
        run_id=run_id,
        flow_id=args.flow_id,
        account=args.account,
        started_at=now,
    )
    return StepMessage(
        run_id=run_id,
        flow_id=args.flow_id,
        account=args.account,
        step_id="step",
        attempt=1,
        type=args.type,
        config=_render(_object(parse_json_arg(args.config, "--config"), "--config"), context),
        upstream=upstream,
        params=params,
        item=item,
        callback_topic=CALLBACK_TOPIC,
        deadline=now + timedelta(hours=1),
    )


def _print_callback(config: dict[str, Any], callback: CallbackMessage) -> int:
    body: dict[str, Any] = {
        "status": callback.status.value,
        "config": config,
        "output": callback.output,
        "metrics": callback.metrics,
    }
    if callback.error:
        body["error"] = callback.error.model_dump()
    if callback.continuation is not None:
        body["continuation"] = callback.continuation
        body["poll_after_seconds"] = callback.poll_after_seconds
    print(json.dumps(body, indent=2, default=str))
    return 0 if callback.status.value != "failed" else 1
