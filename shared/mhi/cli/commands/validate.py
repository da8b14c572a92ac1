"""`mhi validate FILE...`: every problem of every flow, with its JSON path."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from mhi.cli.common import load_json_file
from mhi.errors import FlowDefinitionError, InvalidMessageError
from mhi.model.flow import FlowDefinition, parse_flow
from mhi.model.messages import format_validation_error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi validate`."""
    p = sub.add_parser("validate", help="check flow files; every problem with its JSON path")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def _templated(value: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
        if in_dict or in_list:
            value = value[part]
        else:
            break
        if isinstance(value, str) and "{{" in value:
            return True
    return False


def config_problems(flow: FlowDefinition) -> list[tuple[str, str]]:
    """Check each step's config against its step type's config model.

    Values that are `{{ ... }}` templates are only known at run time, so type errors on them
    are not reported here.
    """
    from mhi.catalog import load_kind

    problems = []
    for i, step in enumerate(flow.steps):
        base = f"$.flow_config.steps[{i}].config"
        try:
            kind = load_kind(step.type)
        except (ImportError, AttributeError) as e:
            problems.append((f"$.flow_config.steps[{i}].type", f"cannot load handler: {e}"))
            continue
        try:
            kind.config_model.model_validate(step.config)
        except ValidationError as e:
            for err, (path, msg) in zip(e.errors(), format_validation_error(e, base), strict=True):
                if not _templated(step.config, tuple(err["loc"])):
                    problems.append((path, msg))
    return problems


def notification_problems(flow: FlowDefinition) -> list[tuple[str, str]]:
    """Check the flow-level notification blocks against the notifications step's config."""
    from mhi.catalog import load_kind

    if flow.notifications is None:
        return []
    kind = load_kind("ms-notifications")
    problems = []
    for event in ("success", "fail"):
        spec = getattr(flow.notifications, event)
        if spec is None:
            continue
        config = {
            **spec.model_dump(mode="json", exclude_none=True, exclude={"when"}),
            "event": event,
        }
        try:
            kind.config_model.model_validate(config)
        except ValidationError as e:
            problems += format_validation_error(e, f"$.notifications.{event}")
    return problems


def check_file(path: str) -> list[tuple[str, str]]:
    """Return every problem of one flow file."""
    try:
        flow = parse_flow(load_json_file(path))
    except FlowDefinitionError as e:
        return e.problems
    except InvalidMessageError as e:
        return [("", str(e).removeprefix(f"{path}: "))]
    return config_problems(flow) + notification_problems(flow)


def run(args: argparse.Namespace) -> int:
    """Validate each file; exit 1 if any has a problem."""
    bad = 0
    for path in args.files:
        problems = check_file(path)
        if not problems:
            print(f"{path}: ok")
            continue
        bad += 1
        print(f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        for where, msg in problems:
            print(f"  {where}: {msg}" if where else f"  {msg}")
    return 1 if bad else 0
