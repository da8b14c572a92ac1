"""`mhi steps [TYPE]`: the step types, or every config option of one of them.

The listing reads the catalog only; `mhi steps TYPE` imports that type's config model (a light
module), never its handler: neither loads pandas or a Google client.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING

from mhi.errors import InvalidMessageError, OrchestratorError

if TYPE_CHECKING:
    from mhi.cli.config_doc import OptionDoc

_WIDTH = 100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi steps`."""
    s = sub.add_parser("steps", help="list step types, or document one type's config options")
    s.add_argument("type", nargs="?", metavar="TYPE", help="document this step type's options")
    s.add_argument("--json", action="store_true", help="print the config's JSON schema")
    s.set_defaults(func=list_steps)


def list_steps(args: argparse.Namespace) -> int:
    """Print every step type, or one type's config options."""
    if args.type is None:
        print(_catalog_table())
        return 0
    from mhi.catalog import BY_TYPE, config_model
    from mhi.cli.config_doc import config_schema, describe_config, extra_keys

    if args.type not in BY_TYPE:
        raise InvalidMessageError(f"unknown step type {args.type!r} (see `mhi steps`)")
    try:
        model = config_model(args.type)
    except (ImportError, AttributeError, TypeError) as e:
        raise OrchestratorError(f"cannot load the config model of {args.type}: {e}") from e
    if args.json:
        print(json.dumps(config_schema(model), indent=2))
        return 0
    print(f"{args.type}: {BY_TYPE[args.type].summary}")
    if model.__doc__:
        print(" ".join(model.__doc__.split()))
    print()
    print(f"Config options ({extra_keys(model)}; any value may be a {{{{ ... }}}} template):")
    for option in describe_config(model):
        print(_option_text(option))
    return 0


def _catalog_table() -> str:
    # The catalog alone: importing every config model (and the modules they live in) would
    # cost more than the listing is worth; `mhi steps TYPE` loads the one it documents.
    from mhi.catalog import CATALOG
    from mhi.cli.common import table

    rows = [(entry.type, entry.summary) for entry in CATALOG]
    listing = table(rows, ["TYPE", "WHAT IT DOES"])
    return f"{listing}\n\nEvery option of one type: mhi steps TYPE\n{STEP_KEYS}"


# The keys every step takes beside its type's config (README: Flows, Flow language).
STEP_KEYS = """\
Keys of any step beside its config: id, type, depends_on, when, optional, retry, timeout_seconds,
for_each, and:
  trigger_rule  when it runs after its depends_on ended: all_succeeded (default), all_done,
                any_succeeded, none_failed; e.g. "trigger_rule": "all_done" for a report
                that always goes out
  on_failure    steps that run when this step finally fails (also a flow key: when the run
                fails), e.g. "on_failure": ["undo-load"]; the run still fails
Flow key sla: {"within_seconds": 7200, "notify": {...}} or {"by": "07:00", "time_zone":
  "Europe/Madrid", "notify": {...}}: one notification for a late run
Flow key account: "{{ params.hotel }}" takes it from that param at start; with schedule
  "accounts": ["hotel-a", "hotel-b"] the schedule starts one run per account"""


def _option_text(option: OptionDoc) -> str:
    """`  name: type = default` (or `(required)`), then the description, indented."""
    indent = "  " + "  " * option.depth
    head = f"{indent}{option.name}: {option.type}"
    head += " (required)" if option.required else f" = {option.default or 'null'}"
    if not option.description:
        return head
    body = textwrap.fill(
        option.description,
        width=_WIDTH,
        initial_indent=indent + "    ",
        subsequent_indent=indent + "    ",
        break_on_hyphens=False,
    )
    return f"{head}\n{body}"
