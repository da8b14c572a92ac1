"""Starting runs: from a flow JSON, a `flow_ref`, or a schedule; idempotent on `run_id`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mhi.constants import MAX_START_MESSAGE_BYTES, SCHEMA_VERSION
from mhi.errors import FlowDefinitionError, InvalidMessageError
from mhi.model import keys
from mhi.model.accounts import bind_account, per_account
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.messages import RunId, StartRef
from mhi.model.validate import parse_flow
from mhi.ports import FlowSource, RunStore
from mhi.runtime.controller import Controller, new_run_id
from mhi.runtime.logs import bind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartRequest:
    """A validated request to start one run."""

    flow: FlowDefinition
    params: dict[str, Any]
    run_id: str | None = None
    requested_by: dict[str, Any] | None = None  # who asked (audit): actor and via
    logical_time: str | None = None  # the schedule slot the run is for (`run.logical_time`)
    parent: dict[str, Any] | None = None  # a sub-flow's parent run and step (`ParentLink`)
    # a slot nobody started by its SLA deadline (`mhi.runtime.sla_watch`): recorded, never run
    missed: dict[str, Any] | None = None


class FolderFlowSource:
    """`FlowSource` over a local folder of `<flow_id>.json` files (the embedded default)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def list_ids(self) -> list[str]:
        """The flow ids of the folder's flow files, sorted (files that are no flow are left out)."""
        ids = set()
        for path in self.folder.glob("*.json"):
            try:
                flow_id = json.loads(path.read_bytes()).get("flow_id")
            except (json.JSONDecodeError, AttributeError, OSError):
                continue
            if isinstance(flow_id, str):
                ids.add(flow_id)
        return sorted(ids)

    def get(self, flow_id: str) -> bytes | None:
        """Return the flow file's bytes, or None."""
        direct = self.folder / f"{flow_id}.json"
        if direct.is_file():
            return direct.read_bytes()
        for path in sorted(self.folder.glob("*.json")):  # files may be named differently
            try:
                if json.loads(path.read_bytes()).get("flow_id") == flow_id:
                    return path.read_bytes()
            except (json.JSONDecodeError, AttributeError):
                continue
        return None


def resolve_params(flow: FlowDefinition, given: dict[str, Any]) -> dict[str, Any]:
    """Merge given values with declared defaults; unknown or missing required params are errors."""
    problems = [
        (f"$.params.{k}", f"unknown param (declared: {', '.join(sorted(flow.params)) or 'none'})")
        for k in given
        if k not in flow.params
    ]
    values: dict[str, Any] = {}
    for name, spec in flow.params.items():
        if name in given:
            values[name] = given[name]
        elif spec.required:
            problems.append((f"$.params.{name}", "required param not given"))
        else:
            values[name] = spec.default
    if problems:
        raise FlowDefinitionError(problems, flow=flow.flow_id)
    return values


def resolve(request: StartRequest) -> StartRequest:
    """The request with its params resolved (`resolve_params`) and, when the flow's `account`
    is `{{ params.<name> }}`, its flow's account taken from that param.

    Raises:
        FlowDefinitionError: an unknown or missing param, or a param value that is no account.
    """
    values = resolve_params(request.flow, request.params)
    return replace(request, flow=bind_account(request.flow, values), params=values)


def parse_start(
    data: bytes | str | dict[str, Any],
    flows: FlowSource | None,
    known_types: frozenset[str] | None = None,
) -> StartRequest:
    """Turn what arrives on `ms-flows-controller` into a StartRequest.

    Accepts the flow JSON itself (optionally with `run_id` and `run_params`), or
    `{"flow_ref": "<flow_id>", "params": {...}, "run_id": "..."}`.
    """
    return resolve(_parse(data, flows, known_types))


def parse_starts(
    data: bytes | str | dict[str, Any],
    flows: FlowSource | None,
    known_types: frozenset[str] | None = None,
    *,
    scheduled: bool = False,
) -> list[StartRequest]:
    """`parse_start`, fanned out for a scheduled start: a flow whose account is a param and
    whose schedule lists `accounts` gets one request per account (in the schedule's order)."""
    request = _parse(data, flows, known_types)
    if not scheduled:
        return [resolve(request)]
    runs = per_account(request.flow, request.params)
    return [resolve(replace(request, params=params)) for params in runs]


def _parse(
    data: bytes | str | dict[str, Any],
    flows: FlowSource | None,
    known_types: frozenset[str] | None,
) -> StartRequest:
    """The start message as a request whose params are those given (not resolved yet)."""
    size = len(data) if isinstance(data, (bytes, str)) else len(json.dumps(data, default=str))
    if size > MAX_START_MESSAGE_BYTES:
        raise InvalidMessageError(
            f"start message is {size} bytes, the limit is {MAX_START_MESSAGE_BYTES} "
            "(a flow of 1 MB is already unusual)"
        )
    raw = data if isinstance(data, dict) else _json(data)
    if not isinstance(raw, dict):
        raise InvalidMessageError("a start message must be a JSON object")
    if "flow_ref" in raw:
        ref = _validate_ref(raw)
        stored = flows.get(ref.flow_ref) if flows is not None else None
        if stored is None:
            raise InvalidMessageError(f"flow_ref {ref.flow_ref!r}: no stored flow with that id")
        flow = parse_flow(_json(stored), known_types)
        parent = ref.parent.model_dump() if ref.parent is not None else None
        slot = ref.logical_time.isoformat() if ref.logical_time is not None else None
        return StartRequest(flow, ref.params, ref.run_id, logical_time=slot, parent=parent)
    run_id = raw.get("run_id")
    if run_id is not None:
        _validate_run_id(run_id)
    given = raw.get("run_params") or {}
    if not isinstance(given, dict):
        raise InvalidMessageError("run_params must be a JSON object")
    flow = parse_flow(raw, known_types)
    return StartRequest(flow, given, run_id)


def _json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidMessageError(f"start message is not valid JSON: {e}") from e


def _validate_ref(raw: dict[str, Any]) -> StartRef:
    from pydantic import ValidationError

    from mhi.model.problems import format_validation_error

    try:
        return StartRef.model_validate(raw)
    except ValidationError as e:
        detail = "; ".join(f"{p}: {m}" for p, m in format_validation_error(e))
        raise InvalidMessageError(f"invalid start message: {detail}") from e


def _validate_run_id(value: Any) -> None:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(RunId).validate_python(value)
    except ValidationError as e:
        raise InvalidMessageError(f"invalid run_id: {e.errors()[0]['msg']}") from e


def start_run(controller: Controller, request: StartRequest) -> tuple[RunRef, bool]:
    """Freeze the flow as `flow.json` and dispatch what is ready. Returns (run, created).

    A second start with the same run_id creates nothing; it only re-applies `decide`, which is
    what recovers a start that crashed after freezing the flow. So a scheduler start that comes
    after the SLA watch recorded its slot as missed runs nothing: `mhi runs rerun` fills the gap.
    """
    now = controller.now()
    flow = request.flow
    ref = RunRef(flow.account, flow.flow_id, request.run_id or new_run_id(now))
    with bind(run_id=ref.run_id, flow_id=flow.flow_id, account=flow.account):
        store = controller.store
        created = False
        frozen = store.read(ref.key(keys.FLOW))
        if frozen is None:
            # The index entry first: a crash between the two writes leaves an entry the sweep
            # removes, never a run nobody looks after.
            store.create(ref.active_key, b"{}")
            body = {
                "schema_version": SCHEMA_VERSION,
                "run_id": ref.run_id,
                "started_at": now.isoformat(),
                "params": request.params,
                "flow": flow.model_dump(mode="json", exclude_none=True),
                "requested_by": request.requested_by,
                "logical_time": request.logical_time or _slot_time(flow, ref.run_id),
            }
            if request.parent is not None:
                body["parent"] = request.parent
            if request.missed is not None:
                body["missed"] = request.missed
            created = store.create(ref.key(keys.FLOW), json.dumps(body, default=str).encode())
        _index(store, ref, frozen, now, request)
        if created:
            logger.info("run %s of flow %s started", ref.run_id, flow.flow_id)
        elif frozen is not None and json.loads(frozen).get("missed"):
            logger.warning(
                "run %s was recorded as missed (not started by its SLA deadline): this start "
                "runs nothing; rerun it to fill the gap",
                ref.run_id,
            )
        else:
            logger.info("run %s already exists: duplicate start ignored", ref.run_id)
        controller.advance(ref)
        return ref, created


def _slot_time(flow: FlowDefinition, run_id: str) -> str | None:
    """The logical time of a run whose id names a schedule slot (`scheduled-<fire time>`)."""
    from mhi.model.slots import logical_time, slot_of

    fired = slot_of(run_id)
    return None if fired is None else logical_time(flow, fired)


def _index(
    store: RunStore, ref: RunRef, frozen: bytes | None, now: datetime, request: StartRequest
) -> None:
    """Write the run's index entries (again, on a repeated start: a crash may have cut them)."""
    from mhi.runtime.records import record_start

    started = now.isoformat()
    if frozen is not None:
        started = json.loads(frozen).get("started_at", started)
    entry = {"started_at": started, "requested_by": request.requested_by}
    if request.parent is not None:
        entry["parent"] = request.parent
    record_start(store, ref, datetime.fromisoformat(started), entry)
