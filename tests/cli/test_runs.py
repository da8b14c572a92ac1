"""`mhi runs list|show|cancel`: newest first by start time, filters, and `FLOW_ID/RUN_ID` names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.cli.main import main
from mhi.config import Settings
from mhi.errors import InvalidMessageError
from mhi.ops.index import RUN_STATUSES, RunFilter, RunRow, find_run
from mhi.ops.index import list_runs as _list_runs
from mhi.ports import RunStore
from mhi.runtime.controller import Controller
from mhi.runtime.embedded import request_cancel
from mhi.runtime.start import parse_start, start_run
from mhi.services import Services

FLOW: dict[str, Any] = {
    "flow_id": "cli",
    "account": "acme",
    "flow_config": {"steps": [{"id": "a", "type": "ms-echo", "config": {"rows": 3}}]},
}


class _IdleBus:
    """A bus nobody listens to: started runs stay running."""

    def publish(self, topic: str, data: bytes, attributes: object) -> None:
        pass


def _start(
    store: RunStore, run_id: str, day: int, flow_id: str = "cli", account: str = "acme"
) -> None:
    at = datetime(2024, 5, day, 12, 0, tzinfo=UTC)
    raw = {**FLOW, "flow_id": flow_id, "account": account, "run_id": run_id}
    start_run(Controller(store, _IdleBus(), lambda: at), parse_start(raw, None))


def list_runs(store: RunStore, status: str | None = None) -> list[RunRow]:
    return _list_runs(store, RunFilter(status=status)).rows


def _store() -> RunStore:
    return Services(Settings.from_env()).run_store


def _listed(*args: str, capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    assert main(["runs", "list", *args]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()[2:]]


def test_list_is_newest_first_by_start_time_not_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    store = _store()
    for run_id, day in (("r1", 3), ("r2", 1), ("r3", 2), ("r0", 4)):
        _start(store, run_id, day)
    rows = _listed(capsys=capsys)
    assert [r[0] for r in rows] == ["r0", "r1", "r3", "r2"]
    assert rows[0][:6] == ["r0", "cli", "acme", "running", "2024-05-04", "12:00:00"]
    assert [r[0] for r in _listed("--limit", "2", capsys=capsys)] == ["r0", "r1"]


def test_list_filters_by_flow_account_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store()
    _start(store, "x1", 1, flow_id="other")
    _start(store, "x2", 2, account="beta")
    flow = tmp_path / "f.json"
    flow.write_text(json.dumps(FLOW))
    assert main(["run", str(flow), "--run-id", "ok-1", "-q"]) == 0
    failing = {
        **FLOW,
        "flow_config": {
            "steps": [{"id": "a", "type": "ms-echo", "config": {"fail_permanently": True}}]
        },
    }
    flow.write_text(json.dumps(failing))
    assert main(["run", str(flow), "--run-id", "bad-1", "-q"]) == 1
    capsys.readouterr()

    assert [r[0] for r in _listed("--flow", "other", capsys=capsys)] == ["x1"]
    assert [r[0] for r in _listed("--account", "beta", capsys=capsys)] == ["x2"]
    assert {r[0] for r in _listed("--status", "running", capsys=capsys)} == {"x1", "x2"}
    assert [r[:4] for r in _listed("--status", "failed", capsys=capsys)] == [
        ["bad-1", "cli", "acme", "failed"]
    ]
    assert [r[0] for r in _listed("--status", "succeeded", "--flow", "cli", capsys=capsys)] == [
        "ok-1"
    ]
    assert main(["runs", "list", "--status", "cancelled"]) == 0
    assert capsys.readouterr().out == "no runs\n"


def test_list_help_names_every_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["runs", "list", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(status in text for status in RUN_STATUSES)


def test_bad_status_and_limit_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--status", "done"]) == 2
    err = capsys.readouterr().err
    assert "unknown run status 'done'" in err and "succeeded" in err and "cancelling" in err
    assert main(["runs", "list", "--limit", "0"]) == 2
    assert "limit must be between 1 and 500, not 0" in capsys.readouterr().err


def test_a_run_id_under_two_flows_is_named_flow_slash_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = _store()
    _start(store, "same", 1, flow_id="cli")
    _start(store, "same", 2, flow_id="other")

    assert main(["runs", "show", "same"]) == 2
    err = capsys.readouterr().err
    assert "run 'same' is ambiguous" in err and "acme/cli/same, acme/other/same" in err
    assert "Traceback" not in err

    assert main(["runs", "show", "other/same", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flow_id"] == "other"
    assert main(["runs", "cancel", "cli/same"]) == 0
    assert "run same of cli: cancelled" in capsys.readouterr().out
    assert main(["runs", "show", "other/same", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "running"

    assert main(["runs", "show", "nope/same"]) == 2
    assert "no run 'nope/same'" in capsys.readouterr().err
    assert main(["runs", "show", "a/b/c/d"]) == 2
    assert "expected RUN_ID, FLOW_ID/RUN_ID or ACCOUNT/FLOW_ID/RUN_ID" in capsys.readouterr().err


def test_same_flow_and_run_id_under_two_accounts_needs_the_account() -> None:
    store = MemoryRunStore()
    _start(store, "same", 1, account="acme")
    _start(store, "same", 2, account="beta")
    with pytest.raises(InvalidMessageError, match="acme/cli/same, beta/cli/same"):
        find_run(store, "cli/same")
    assert find_run(store, "beta/cli/same").account == "beta"


def test_list_runs_returns_data_ties_broken_by_run_id() -> None:
    store = MemoryRunStore()
    for run_id, day in (("b", 1), ("a", 2), ("c", 2)):  # a tie on the start time: by id
        _start(store, run_id, day)
    rows = list_runs(store)
    assert [(r.ref.run_id, r.status) for r in rows] == [
        ("a", "running"),
        ("c", "running"),
        ("b", "running"),
    ]
    assert rows[0].started_at == datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    assert set(RUN_STATUSES) >= {"running", "cancelling", "succeeded", "failed", "cancelled"}


def test_a_cancel_not_yet_applied_shows_as_cancelling() -> None:
    store = MemoryRunStore()
    _start(store, "a", 1)
    _start(store, "b", 2)
    controller = Controller(store, _IdleBus(), lambda: datetime(2024, 5, 3, tzinfo=UTC))
    assert request_cancel(controller, find_run(store, "a"), "wrong day")
    assert [(r.ref.run_id, r.status) for r in list_runs(store, status="cancelling")] == [
        ("a", "cancelling")
    ]
    assert [r.ref.run_id for r in list_runs(store, status="running")] == ["b"]
