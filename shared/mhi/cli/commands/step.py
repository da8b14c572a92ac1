"""`mhi step TYPE --config JSON` runs one handler alone; `mhi steps` lists step types."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

from mhi.catalog import BY_TYPE, CATALOG, load_kind
from mhi.cli.common import parse_json_arg, services_from_env, table
from mhi.constants import CALLBACK_TOPIC
from mhi.errors import InvalidMessageError
from mhi.model.messages import StepMessage
from mhi.steps.sdk import run_step


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi step` and `mhi steps`."""
    p = sub.add_parser("step", help="run one step handler alone and print its output")
    p.add_argument("type", metavar="TYPE", help="step type, e.g. ms-kpi-engine (see `mhi steps`)")
    p.add_argument("--config", default="{}", help="config JSON (or @file.json)")
    p.add_argument("--account", default="local", help="account the step acts for (default: local)")
    p.add_argument("--upstream", default="{}", help="upstream outputs JSON: {step_id: output}")
    p.add_argument("--params", default="{}", help="flow params JSON")
    p.add_argument("--item", default=None, help="for_each item (JSON)")
    p.set_defaults(func=run_one)
    s = sub.add_parser("steps", help="list step types, or one type's config options")
    s.add_argument("type", nargs="?", metavar="TYPE")
    s.set_defaults(func=list_steps)


def run_one(args: argparse.Namespace) -> int:
    """Run one handler; print the callback's output (or error) as JSON."""
    if args.type not in BY_TYPE:
        raise InvalidMessageError(f"unknown step type {args.type!r} (see `mhi steps`)")
    services = services_from_env()
    now = services.clock.now()
    message = StepMessage(
        run_id=f"manual-{now.strftime('%Y%m%dT%H%M%SZ')}",
        flow_id="manual",
        account=args.account,
        step_id="step",
        attempt=1,
        type=args.type,
        config=parse_json_arg(args.config, "--config"),
        upstream=parse_json_arg(args.upstream, "--upstream"),
        params=parse_json_arg(args.params, "--params"),
        item=None if args.item is None else parse_json_arg(args.item, "--item"),
        callback_topic=CALLBACK_TOPIC,
        deadline=now + timedelta(hours=1),
    )
    callback = run_step(message, load_kind(args.type), services)
    body: dict[str, Any] = {
        "status": callback.status.value,
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


def _options(step_type: str) -> list[tuple[str, str, str, str]]:
    schema = load_kind(step_type).options()
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or " | ".join(
            str(x.get("type", x.get("$ref", "?")).split("/")[-1]) for x in prop.get("anyOf", [])
        )
        default = "(required)" if name in required else json.dumps(prop.get("default"))
        rows.append((name, kind or "any", default, prop.get("description", "")))
    return rows


def list_steps(args: argparse.Namespace) -> int:
    """Print every step type, or one type's config options."""
    if args.type is None:
        rows = []
        for entry in CATALOG:
            try:
                options = ", ".join(name for name, *_ in _options(entry.type))
            except ImportError as e:
                options = f"(cannot load: {e})"
            rows.append((entry.type, entry.summary, options[:70]))
        print(table(rows, ["TYPE", "WHAT IT DOES", "CONFIG OPTIONS"]))
        return 0
    if args.type not in BY_TYPE:
        raise InvalidMessageError(f"unknown step type {args.type!r} (see `mhi steps`)")
    print(f"{args.type}: {BY_TYPE[args.type].summary}\n")
    print(table(_options(args.type), ["OPTION", "TYPE", "DEFAULT", "DESCRIPTION"]))
    return 0
