"""ms-qlik-automation: API runs followed across turns, and triggered automations."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQlikCloud, Script
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.qlik._values import EXEC_TOKEN

AUTOMATION_ID = "60f2e3b1a1b2c3d4e5f6a7b8"


def _config(cloud: FakeQlikCloud, **extra: Any) -> dict[str, Any]:
    return {"tenant_url": cloud.url, "automation_id": AUTOMATION_ID, "poll_seconds": 2, **extra}


def test_a_run_is_followed_to_its_result(
    cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.automations[AUTOMATION_ID] = Script(polls=2, outcome="finished")
    callbacks = harness.drive(automation_kind, _config(cloud))
    last = callbacks[-1]
    assert last.status == CallbackStatus.SUCCEEDED, last.error
    assert last.output["status"] == "finished"
    assert last.output["run"]["title"] == "Refresh extracts"
    assert last.output["run"]["stopTime"] == "2025-03-01T06:05:00Z"
    body = cloud.calls("POST", f"/api/v1/automations/{AUTOMATION_ID}/runs")[0].json()
    assert body == {"context": "api"}  # the runs body takes context only (automations.d.ts)
    assert len(callbacks) == 3


@pytest.mark.parametrize("mode", [None, "run"])
def test_inputs_outside_triggered_mode_are_refused_naming_the_mode(
    mode: str | None, cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.automations[AUTOMATION_ID] = Script(polls=1, outcome="finished")
    config = _config(cloud, inputs={"hotel": "fergus"}, **({"mode": mode} if mode else {}))
    cb = harness.run(automation_kind, harness.message("ms-qlik-automation", config))
    assert cb.error is not None and cb.error.kind == "invalid_config"
    assert "inputs are not sent in mode 'run'" in cb.error.message
    assert 'mode "triggered"' in cb.error.message or 'mode "triggered"' in cb.error.message
    assert cloud.requests == []


def test_the_imitation_server_rejects_inputs_in_a_run_body(cloud: FakeQlikCloud) -> None:
    import requests

    cloud.automations[AUTOMATION_ID] = Script()
    from tests.unit.qlik._values import API_KEY

    answer = requests.post(
        f"{cloud.url}/api/v1/automations/{AUTOMATION_ID}/runs",
        json={"context": "api", "inputs": {"a": 1}},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert answer.status_code == 400 and "inputs" in answer.text


def test_failed_run_and_warnings_when_they_count_as_failure(
    cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.automations[AUTOMATION_ID] = Script(polls=1, outcome="failed")
    last = harness.drive(automation_kind, _config(cloud))[-1]
    assert last.error is not None and "ended failed" in last.error.message
    cloud.automations[AUTOMATION_ID] = Script(polls=1, outcome="finished with warnings")
    assert harness.drive(automation_kind, _config(cloud), run_id="run-2")[-1].status == (
        CallbackStatus.SUCCEEDED
    )
    last = harness.drive(automation_kind, _config(cloud, fail_on_warnings=True), run_id="run-3")[-1]
    assert last.error is not None and "ended finished with warnings" in last.error.message


def test_run_that_never_ends_is_stopped_at_the_deadline(
    cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.automations[AUTOMATION_ID] = Script(outcome=None)
    last = harness.drive(automation_kind, _config(cloud, max_wait_seconds=30))[-1]
    assert last.error is not None and last.error.kind == "qlik_deadline"
    assert cloud.cancelled == list(cloud.runs)


def test_triggered_automation_runs_once_per_message(
    cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.automations[AUTOMATION_ID] = Script()
    config = _config(cloud, mode="triggered", inputs={"date": "2025-03-01"})
    msg = harness.message("ms-qlik-automation", config)
    first, second = harness.run(automation_kind, msg), harness.run(automation_kind, msg)
    assert first.status == second.status == CallbackStatus.SUCCEEDED
    assert first.output == second.output
    assert first.output["result"] == {"result": "ok", "received": {"date": "2025-03-01"}}
    calls = cloud.calls("POST", f"/api/v1/automations/{AUTOMATION_ID}/actions/execute")
    assert len(calls) == 1
    assert calls[0].header("X-Execution-Token") == EXEC_TOKEN
    assert calls[0].header("Authorization") is None
    assert "token" not in calls[0].query  # the query-string form is retired


def test_triggered_with_a_wrong_token_fails_without_leaking_it(
    cloud: FakeQlikCloud, harness: Harness, automation_kind: StepKind
) -> None:
    cloud.execution_token = "other"
    cb = harness.run(
        automation_kind, harness.message("ms-qlik-automation", _config(cloud, mode="triggered"))
    )
    assert cb.error is not None and cb.error.kind == "auth"
    assert EXEC_TOKEN not in cb.model_dump_json()
