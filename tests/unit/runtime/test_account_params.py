"""Accounts as parameters at start: a scheduled start fans out one run per account, each run is
keyed under its own account, and a missing, unsafe or unserved account is refused up front."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.errors import FlowDefinitionError, InvalidMessageError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.ops.errors import OpsError
from mhi.ops.service import OpsService
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router
from mhi.runtime.start import FolderFlowSource, StartRequest
from tests.fakes.bus import RecordingBus

TYPES = frozenset({"ms-echo"})
NOW = datetime(2025, 1, 9, tzinfo=UTC)


def _flow(**schedule: Any) -> dict[str, Any]:
    return {
        "flow_id": "group-kpis",
        "account": "{{ params.hotel }}",
        "params": {"hotel": {"required": True}, "day": {"default": "today"}},
        "schedule": {"cron": "0 6 * * *", "accounts": ["hotel-a", "hotel-b"], **schedule},
        "flow_config": {
            "steps": [{"id": "a", "type": "ms-echo", "config": {"h": "{{ run.account }}"}}]
        },
    }


def _router(tmp_path: Path, flow: dict[str, Any], **kw: Any) -> tuple[Router, MemoryRunStore]:
    (tmp_path / "group-kpis.json").write_text(json.dumps(flow))
    store = MemoryRunStore()
    controller = Controller(store, RecordingBus(), lambda: NOW)
    return Router(lambda: controller, FolderFlowSource(tmp_path), lambda: TYPES, **kw), store


def _fire(router: Router, when: datetime, params: dict[str, Any] | None = None) -> None:
    body = json.dumps({"flow_ref": "group-kpis", "params": params or {}}).encode()
    attributes = {"mhi_trigger": "schedule", "mhi_cron": "0 6 * * *"}
    router.route(PubSubMessage(body, attributes, "m1", publish_time=when))


def _runs(store: MemoryRunStore) -> list[str]:
    """`account/run_id` of every run in the store, sorted."""
    found = [k.split("/") for k in store.list("runs/") if k.endswith("/" + keys.FLOW)]
    return sorted(f"{parts[1]}/{parts[3]}" for parts in found)


def _frozen(store: MemoryRunStore, account: str, run_id: str) -> dict[str, Any]:
    ref = RunRef(account, "group-kpis", run_id)
    body: dict[str, Any] = json.loads(store.read(ref.key(keys.FLOW)) or b"{}")
    return body


def test_a_scheduled_start_runs_once_per_account_under_that_accounts_keys(
    tmp_path: Path,
) -> None:
    router, store = _router(tmp_path, _flow())
    _fire(router, datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC))
    slot = "scheduled-20250102T0600Z"
    assert _runs(store) == [f"hotel-a/{slot}", f"hotel-b/{slot}"]
    for account in ("hotel-a", "hotel-b"):
        frozen = _frozen(store, account, slot)
        assert frozen["flow"]["account"] == account  # frozen with the literal account
        assert frozen["params"] == {"hotel": account, "day": "today"}
    _fire(router, datetime(2025, 1, 2, 6, 0, 9, tzinfo=UTC))  # a redelivery: nothing new
    assert len(_runs(store)) == 2


def test_a_start_that_names_its_account_starts_that_one_only(tmp_path: Path) -> None:
    router, store = _router(tmp_path, _flow())
    _fire(router, datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC), {"hotel": "hotel-c"})
    assert _runs(store) == ["hotel-c/scheduled-20250102T0600Z"]


def test_catch_up_looks_at_each_accounts_own_runs(tmp_path: Path) -> None:
    flow = _flow(catchup=True)
    router, store = _router(tmp_path, {**flow, "schedule": {**flow["schedule"]}})
    _fire(router, datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC), {"hotel": "hotel-a"})
    _fire(router, datetime(2025, 1, 4, 6, 0, 1, tzinfo=UTC))
    # hotel-a missed the 3rd; hotel-b has no earlier run, so it catches nothing up
    assert _runs(store) == [
        "hotel-a/scheduled-20250102T0600Z",
        "hotel-a/scheduled-20250103T0600Z",
        "hotel-a/scheduled-20250104T0600Z",
        "hotel-b/scheduled-20250104T0600Z",
    ]


def test_an_account_the_deployment_does_not_serve_refuses_the_whole_fan_out(
    tmp_path: Path,
) -> None:
    router, store = _router(tmp_path, _flow(), accounts=frozenset({"hotel-a"}))
    with pytest.raises(InvalidMessageError, match="account 'hotel-b' is not served"):
        _fire(router, datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC))
    assert _runs(store) == []


def test_a_start_without_the_account_param_is_a_clear_error(tmp_path: Path) -> None:
    router, store = _router(tmp_path, _flow())
    manual = PubSubMessage(json.dumps({"flow_ref": "group-kpis"}).encode(), {}, "m2")
    with pytest.raises(FlowDefinitionError) as e:
        router.route(manual)  # only a scheduled start fans out
    assert e.value.problems == [("$.params.hotel", "required param not given")]
    bad = {"flow_ref": "group-kpis", "params": {"hotel": "../hotel-a"}}
    with pytest.raises(FlowDefinitionError) as e:
        router.route(PubSubMessage(json.dumps(bad).encode(), {}, "m3"))
    [(path, message)] = e.value.problems
    assert path == "$.params.hotel" and "not an account name" in message
    assert _runs(store) == []


def test_a_flow_json_start_takes_its_account_from_run_params(tmp_path: Path) -> None:
    router, store = _router(tmp_path, _flow())
    body = {**_flow(), "run_id": "r1", "run_params": {"hotel": "hotel-z"}}
    router.route(PubSubMessage(json.dumps(body).encode(), {}, "m4"))
    assert _runs(store) == ["hotel-z/r1"]


class RecordingExecutor:
    """An executor that keeps what it was asked to start."""

    pace_seconds = 0.0

    def __init__(self) -> None:
        self.started: list[StartRequest] = []

    def start(self, request: StartRequest) -> RunRef:
        self.started.append(request)
        assert request.run_id is not None
        return RunRef(request.flow.account, request.flow.flow_id, request.run_id)

    def wake(self, ref: RunRef) -> None:
        """Nothing to wake."""


def _ops(tmp_path: Path, accounts: frozenset[str] | None) -> tuple[OpsService, RecordingExecutor]:
    (tmp_path / "group-kpis.json").write_text(json.dumps(_flow()))
    executor = RecordingExecutor()
    ops = OpsService(
        MemoryRunStore(),
        FolderFlowSource(tmp_path),
        executor,
        lambda: NOW,
        lambda: TYPES,
        accounts=accounts,
    )
    return ops, executor


def test_the_operations_service_binds_and_checks_the_account(tmp_path: Path) -> None:
    ops, executor = _ops(tmp_path, frozenset({"hotel-a"}))
    ref = ops.start("group-kpis", {"hotel": "hotel-a"}, {"actor": "t"}, run_id="r1")
    assert ref == RunRef("hotel-a", "group-kpis", "r1")
    assert executor.started[0].flow.account == "hotel-a"
    with pytest.raises(OpsError, match="'hotel-b' is not served"):
        ops.start("group-kpis", {"hotel": "hotel-b"}, {"actor": "t"})
    with pytest.raises(OpsError) as e:
        ops.start("group-kpis", {}, {"actor": "t"})
    assert e.value.field == "params.hotel"
    assert len(executor.started) == 1


def test_a_backfill_of_a_param_account_flow_runs_under_the_given_account(tmp_path: Path) -> None:
    ops, executor = _ops(tmp_path, None)
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, 23, 0, tzinfo=UTC)
    result = ops.backfill("group-kpis", start, end, {"actor": "t"}, params={"hotel": "hotel-b"})
    assert [s["account"] for s in result.started] == ["hotel-b", "hotel-b"]
    assert {r.flow.account for r in executor.started} == {"hotel-b"}
    assert {r.params["hotel"] for r in executor.started} == {"hotel-b"}


def test_a_backfill_leaving_the_account_open_runs_every_scheduled_account(tmp_path: Path) -> None:
    ops, executor = _ops(tmp_path, None)
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, 23, 0, tzinfo=UTC)
    result = ops.backfill("group-kpis", start, end, {"actor": "t"}, max_runs=3)
    # two slots for each of two accounts; the budget of 3 runs is shared
    assert result.slots == 4 and result.left == 1
    assert [(s["account"], s["run_id"]) for s in result.started] == [
        ("hotel-a", "scheduled-20250101T0600Z"),
        ("hotel-a", "scheduled-20250102T0600Z"),
        ("hotel-b", "scheduled-20250101T0600Z"),
    ]
    assert [r.flow.account for r in executor.started] == ["hotel-a", "hotel-a", "hotel-b"]


def test_a_backfill_names_existing_runs_with_their_account_when_it_fans_out(
    tmp_path: Path,
) -> None:
    (tmp_path / "group-kpis.json").write_text(json.dumps(_flow()))
    store = MemoryRunStore()
    controller = Controller(store, RecordingBus(), lambda: NOW)
    router = Router(lambda: controller, FolderFlowSource(tmp_path), lambda: TYPES)
    _fire(router, datetime(2025, 1, 1, 6, 0, 2, tzinfo=UTC), {"hotel": "hotel-b"})
    ops = OpsService(
        store, FolderFlowSource(tmp_path), RecordingExecutor(), lambda: NOW, lambda: TYPES
    )
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 23, 0, tzinfo=UTC)
    result = ops.backfill("group-kpis", start, end, {"actor": "t"})
    assert [s["account"] for s in result.started] == ["hotel-a"]
    assert result.existing == ["hotel-b/group-kpis/scheduled-20250101T0600Z"]


def test_a_backfill_takes_the_schedules_account_and_refuses_a_bad_or_missing_one(
    tmp_path: Path,
) -> None:
    flow = _flow()
    del flow["schedule"]["accounts"]
    flow["schedule"]["params"] = {"hotel": "hotel-a"}
    (tmp_path / "group-kpis.json").write_text(json.dumps(flow))
    ops = OpsService(
        MemoryRunStore(),
        FolderFlowSource(tmp_path),
        RecordingExecutor(),
        lambda: NOW,
        lambda: TYPES,
    )
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 23, 0, tzinfo=UTC)
    assert ops.backfill("group-kpis", start, end, {"actor": "t"}).started[0]["account"] == "hotel-a"
    with pytest.raises(OpsError, match=r"\$\.params\.hotel: 'a b' is not an account name"):
        ops.backfill("group-kpis", start, end, {"actor": "t"}, params={"hotel": "a b"})
    del flow["schedule"]  # daily slots, and nothing gives the account
    (tmp_path / "group-kpis.json").write_text(json.dumps(flow))
    with pytest.raises(OpsError, match=r"\$\.params\.hotel: required param not given"):
        ops.backfill("group-kpis", start, end, {"actor": "t"})


def test_the_scheduler_job_of_a_fan_out_flow_starts_every_account(tmp_path: Path) -> None:
    from mhi.cli.commands.package import scheduled_flows

    flow = _flow(accounts=["hotel-a", "hotel-b", "hotel-c", "hotel-d"])
    router, store = _router(tmp_path, flow)
    [(flow_id, job)] = scheduled_flows(tmp_path).items()
    assert flow_id == "group-kpis" and job["account"] == "hotel-a, hotel-b, hotel-c and 1 more"
    # what Cloud Scheduler publishes (terraform/scheduler.tf): the job's message and attributes
    attributes = {"mhi_trigger": "schedule", "mhi_cron": job["cron"]}
    fired = datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC)
    router.route(PubSubMessage(job["message"].encode(), attributes, "m9", publish_time=fired))
    slot = "scheduled-20250102T0600Z"
    assert _runs(store) == [f"hotel-{x}/{slot}" for x in "abcd"]
