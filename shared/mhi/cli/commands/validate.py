"""`mhi validate FILE...`: every problem of every flow, with its JSON path, in one pass."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mhi.cli.common import load_json_file
from mhi.errors import InvalidMessageError

if TYPE_CHECKING:
    from mhi.model.flow import FlowDefinition
    from mhi.model.problems import Problem


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi validate`."""
    p = sub.add_parser("validate", help="check flow files; every problem with its JSON path")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def check_file(path: str) -> list[Problem]:
    """Return every problem of one flow file (the same checks the controller runs at start)."""
    from mhi.model.validate import validate_flow

    try:
        raw = load_json_file(path)
    except InvalidMessageError as e:
        return [("", str(e).removeprefix(f"{path}: "))]
    flow, problems = validate_flow(raw)
    if flow is not None:
        from mhi.config import Settings

        folders = [Path(path).parent, Settings.from_env().flows_dir]
        problems += sub_flow_problems(flow, folders)
    return problems


def sub_flow_problems(flow: FlowDefinition, folders: list[Path]) -> list[Problem]:
    """Check the sub-flow steps whose `flow_ref` is a plain flow id against the stored flows of
    `folders` (the file's own, then MHI_FLOWS_DIR, where `mhi run` looks; a deployment ships
    `flows/`): the flow exists, takes the params given, and does not lead back to this flow."""
    from mhi.errors import FlowDefinitionError
    from mhi.model.subflows import find_cycle, literal_refs
    from mhi.runtime.start import resolve_params

    stored = _StoredFlows(folders)
    problems: list[Problem] = []
    for i, ref in literal_refs(flow):
        base = f"$.flow_config.steps[{i}].config"
        child = stored.get(ref)
        if child is None:
            where = " or ".join(str(f) for f in stored.folders)
            known = ", ".join(stored.ids()) or "none"
            problems.append((f"{base}.flow_ref", f"no stored flow {ref!r} in {where} ({known})"))
            continue
        cycle = find_cycle(flow.flow_id, ref, stored.refs)
        if cycle is not None:
            problems.append((f"{base}.flow_ref", "sub-flow cycle: " + " -> ".join(cycle)))
        params = flow.steps[i].config.get("params")
        try:
            resolve_params(child, params if isinstance(params, dict) else {})
        except FlowDefinitionError as e:
            problems += [(base + where.removeprefix("$"), msg) for where, msg in e.problems]
    return problems


class _StoredFlows:
    """The flows of some folders by id (the first folder that has one wins), parsed once (None:
    absent or invalid)."""

    def __init__(self, folders: list[Path]) -> None:
        from mhi.runtime.start import FolderFlowSource

        self.folders = list(dict.fromkeys(f.resolve() for f in folders))
        self.sources = [FolderFlowSource(f) for f in self.folders]
        self._flows: dict[str, FlowDefinition | None] = {}

    def ids(self) -> list[str]:
        """Every flow id of the folders, sorted."""
        return sorted({i for source in self.sources for i in source.list_ids()})

    def get(self, flow_id: str) -> FlowDefinition | None:
        if flow_id not in self._flows:
            from mhi.model.validate import validate_flow

            data = next((d for s in self.sources if (d := s.get(flow_id)) is not None), None)
            try:
                flow = None if data is None else validate_flow(json.loads(data))[0]
            except (json.JSONDecodeError, UnicodeDecodeError):
                flow = None  # the file itself is reported when it is validated
            self._flows[flow_id] = flow
        return self._flows[flow_id]

    def refs(self, flow_id: str) -> list[str] | None:
        from mhi.model.subflows import literal_refs

        flow = self.get(flow_id)
        return None if flow is None else [ref for _, ref in literal_refs(flow)]


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
