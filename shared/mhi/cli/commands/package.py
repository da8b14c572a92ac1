"""`mhi package`: build the exact source bundle Cloud Build deploys; write terraform's map.

    mhi package controller echo --out build/functions   # one folder per function
    mhi package --all --zip                             # every function, plus a reproducible zip
    mhi package --list                                  # function names and Cloud Function ids
    mhi package --tfvars [--check]                      # terraform/functions.auto.tfvars.json
    mhi package --flows build/flows                     # valid flows as <flow_id>.json

Bundles print one line each, tab-separated: folder name, Cloud Function id (without the env
suffix), runtime, entry point, content hash, bundle folder. cloudbuild/deploy_functions.sh
reads these lines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC

if TYPE_CHECKING:
    from mhi.model.flow import FlowDefinition
    from mhi.packaging import FunctionSpec

TFVARS_PATH = Path("terraform/functions.auto.tfvars.json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi package`."""
    p = sub.add_parser(
        "package",
        help="build Cloud Function source bundles; generate terraform's function map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("functions", nargs="*", metavar="FUNCTION", help="folder names in functions/")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--all", action="store_true", help="package every function")
    what.add_argument("--list", action="store_true", help="print each function and its id")
    what.add_argument(
        "--tfvars", action="store_true", help=f"write {TFVARS_PATH} from the code and flows/"
    )
    what.add_argument(
        "--flows", metavar="DIR", help="validate flows/ and copy each flow to DIR/<flow_id>.json"
    )
    p.add_argument("--out", default="build/functions", help="bundle folder (default %(default)s)")
    p.add_argument("--zip", action="store_true", help="also write <out>/<function>.zip")
    p.add_argument(
        "--check", action="store_true", help="with --tfvars: fail if the file is out of date"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen mode."""
    from mhi.packaging import (
        RUNTIME,
        PackagingError,
        build_bundle,
        bundle_hash,
        function_specs,
        repo_root,
        zip_bundle,
    )

    if args.check and not args.tfvars:
        raise PackagingError("--check only goes with --tfvars")
    if args.list:
        for name, spec in function_specs().items():
            print(f"{name}\t{spec.function_id}")
        return 0
    if args.tfvars:
        return _tfvars(check=args.check)
    if args.flows:
        for path in export_flows(repo_root() / "flows", Path(args.flows)):
            print(path)
        return 0
    specs = function_specs()
    names = list(specs) if args.all else args.functions
    if not names:
        raise PackagingError("name at least one FUNCTION, or use --all, --list or --tfvars")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        folder = build_bundle(name, out, specs=specs)
        if args.zip:
            zip_bundle(folder, out / f"{name}.zip")
        spec = specs[name]
        print(
            f"{name}\t{spec.function_id}\t{RUNTIME}\t{spec.entry_point}\t{bundle_hash(folder)}\t{folder}"
        )
    return 0


def _tfvars(check: bool) -> int:
    from mhi.packaging import repo_root

    path = repo_root() / TFVARS_PATH
    text = render_terraform_vars(terraform_vars())
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if current == text:
            print(f"{path}: up to date")
            return 0
        print(f"{path}: out of date; run `mhi package --tfvars` and commit it", file=sys.stderr)
        return 1
    if current != text:
        path.write_text(text, encoding="utf-8")
    print(f"{path}: {'unchanged' if current == text else 'written'}")
    return 0


def load_flows(flows_dir: Path) -> dict[str, tuple[Path, FlowDefinition]]:
    """Parse every `*.json` flow of a folder; return `flow_id -> (file, flow)`.

    Raises:
        PackagingError: a flow file is invalid, or two files share a flow_id.
    """
    from mhi.errors import FlowDefinitionError, InvalidMessageError
    from mhi.model.validate import parse_flow
    from mhi.packaging import PackagingError

    out: dict[str, tuple[Path, FlowDefinition]] = {}
    for path in sorted(flows_dir.glob("*.json")):
        try:
            flow = parse_flow(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise PackagingError(f"{path}: not valid JSON: {e}") from e
        except (FlowDefinitionError, InvalidMessageError) as e:
            raise PackagingError(f"{path}: {e}") from e
        if flow.flow_id in out:
            raise PackagingError(
                f"{path} and {out[flow.flow_id][0]} both define flow {flow.flow_id!r}"
            )
        out[flow.flow_id] = (path, flow)
    return out


def scheduled_flows(flows_dir: Path) -> dict[str, dict[str, str]]:
    """Return `flow_id -> {account, cron, time_zone, message}` for every flow with a `schedule`.

    `message` is the start message the Cloud Scheduler job publishes (`flow_ref` and the
    schedule's params); the controller derives the run id from the fire time.

    Raises:
        PackagingError: a flow is invalid (the validator also requires the 5-field unix cron
            Cloud Scheduler accepts).
    """
    out: dict[str, dict[str, str]] = {}
    for flow_id, (_path, flow) in load_flows(flows_dir).items():
        if flow.schedule is None:
            continue
        message = {"flow_ref": flow_id, "params": flow.schedule.params}
        out[flow_id] = {
            "account": _accounts_text(flow.schedule.accounts or [flow.account]),
            "cron": flow.schedule.cron,
            "time_zone": flow.schedule.time_zone,
            "message": json.dumps(message, sort_keys=True, separators=(",", ":")),
        }
    return out


def _accounts_text(accounts: list[str]) -> str:
    """The account(s) a job's description names: one job fans out to all of a schedule's
    `accounts` (the controller starts one run per account), and a description is short."""
    more = len(accounts) - 3
    return ", ".join(accounts[:3]) + (f" and {more} more" if more > 0 else "")


def export_flows(flows_dir: Path, out_dir: Path) -> list[Path]:
    """Copy every valid flow to `out_dir/<flow_id>.json`, the name `flow_ref` looks up, and the
    SQL files of `flows/sql/` to `out_dir/sql/` (ms-sql's `sql_file` reads them there).

    Raises:
        PackagingError: a flow file is invalid (nothing is written then).
    """
    flows = load_flows(flows_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for flow_id, (path, _) in flows.items():
        target = out_dir / f"{flow_id}.json"
        shutil.copyfile(path, target)
        written.append(target)
    for path in sorted((flows_dir / "sql").rglob("*.sql")):
        target = out_dir / "sql" / path.relative_to(flows_dir / "sql")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written


def _tf_function(spec: FunctionSpec) -> dict[str, Any]:
    data = asdict(spec)
    for key in ("name", "requirements", "step_types"):
        data.pop(key)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def model_layers(flows_dir: Path) -> list[str]:
    """Return the layers flows model into besides `model` (`target_schema` of ms-data-modeling).

    The seed's flow writes its model to `analytics`: that layer needs its BigQuery datasets and
    the same grants as `model`, or the step fails in production with a permission error.
    """
    from mhi.packaging import LAYERS

    found = set()
    for _, flow in load_flows(flows_dir).values():
        for step in flow.flow_config.steps:
            schema = step.config.get("target_schema") if step.type == "ms-data-modeling" else None
            if isinstance(schema, str) and schema not in LAYERS:
                found.add(schema)
    return sorted(found)


def _with_model_layers(spec: FunctionSpec, extra: list[str]) -> FunctionSpec:
    """Grant `extra` layers wherever the spec is granted the `model` layer."""

    def widen(layers: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({*layers, *extra})) if "model" in layers else layers

    return replace(
        spec, bigquery_read=widen(spec.bigquery_read), bigquery_write=widen(spec.bigquery_write)
    )


def terraform_vars(root: Path | None = None) -> dict[str, Any]:
    """Return the content of `terraform/functions.auto.tfvars.json`, derived from the code."""
    from mhi.catalog import CATALOG
    from mhi.packaging import LAYERS, RUNTIME, function_specs, repo_root

    root = root or repo_root()
    extra = model_layers(root / "flows")
    specs = {name: _with_model_layers(s, extra) for name, s in function_specs().items()}
    return {
        "controller_topic": CONTROLLER_TOPIC,
        "callback_topic": CALLBACK_TOPIC,
        "step_topics": sorted(e.type for e in CATALOG),
        "runtime": RUNTIME,
        "layers": [*LAYERS, *extra],
        "functions": {name: _tf_function(spec) for name, spec in specs.items()},
        "scheduled_flows": scheduled_flows(root / "flows"),
    }


def render_terraform_vars(data: Mapping[str, Any]) -> str:
    """Serialise terraform variables the one way the committed file is written."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
