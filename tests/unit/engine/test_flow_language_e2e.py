"""Joins and error handlers end to end in the embedded runtime (real controller, real steps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[EmbeddedRuntime]:
    with EmbeddedRuntime(Services(Settings(home=tmp_path))) as rt:
        yield rt


def _flow(load_fails: bool) -> dict[str, Any]:
    load_config = {"fail_permanently": True, "fail_message": "bad ledger"} if load_fails else {}
    steps = [
        {"id": "load", "type": "ms-echo", "config": load_config, "on_failure": ["undo"]},
        {"id": "backup", "type": "ms-echo"},
        {
            "id": "either",
            "type": "ms-echo",
            "depends_on": ["load", "backup"],
            "trigger_rule": "any_succeeded",
        },
        {"id": "report", "type": "ms-echo", "depends_on": ["either"], "trigger_rule": "all_done"},
        {"id": "undo", "type": "ms-echo", "config": {"undo": "{{ steps.load.status }}"}},
        {"id": "alert", "type": "ms-echo"},
    ]
    return {
        "flow_id": "joins",
        "account": "acme",
        "flow_config": {"steps": steps},
        "on_failure": ["alert"],
    }


def _statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in summary["steps"]}


def test_a_failed_step_runs_its_handlers_and_joins_yet_the_run_fails(
    runtime: EmbeddedRuntime,
) -> None:
    summary = run_summary(runtime.wait(runtime.start_json(_flow(True)), timeout=30))
    assert summary["status"] == "failed" and summary["failed_step"] == "load"
    assert "bad ledger" in summary["error"]
    assert _statuses(summary) == {
        "load": "failed",
        "backup": "succeeded",
        "either": "succeeded",
        "report": "succeeded",
        "undo": "succeeded",
        "alert": "succeeded",
    }


def test_handlers_are_skipped_when_the_run_succeeds(runtime: EmbeddedRuntime) -> None:
    summary = run_summary(runtime.wait(runtime.start_json(_flow(False)), timeout=30))
    assert summary["status"] == "succeeded"
    statuses = _statuses(summary)
    assert statuses["undo"] == statuses["alert"] == "skipped"
    assert {statuses[s] for s in ("load", "backup", "either", "report")} == {"succeeded"}
