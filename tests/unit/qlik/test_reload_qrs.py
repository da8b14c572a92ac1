"""ms-qlik-app-reload against an imitation Qlik Sense Enterprise QRS. The server's address is
the account's secret `qlik-qrs-base-url`, as on premises: never a flow's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQrs, Script
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.qlik._values import CERT, KEY


@pytest.fixture(autouse=True)
def _qrs_address(qrs: FakeQrs, harness: Harness) -> None:
    harness.set_secret("qlik-qrs-base-url", qrs.url)


def _config(qrs: FakeQrs, **extra: Any) -> dict[str, Any]:
    return {"backend": "qrs", "qrs": {"auth": "header"}, "poll_seconds": 5, **extra}


def test_app_reload_runs_its_reload_task_to_success(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    task = qrs.add_task("Reload Sales", Script(polls=3, outcome=7))
    callbacks = harness.drive(reload_kind, _config(qrs, apps=task.app_id))
    last = callbacks[-1]
    assert last.status == CallbackStatus.SUCCEEDED, last.error
    job = last.output["jobs"][0]
    assert (job["target"], job["status"], job["task"]) == (
        f"app:{task.app_id}",
        "FinishedSuccess",
        "Reload Sales",
    )
    assert len(callbacks) == 4
    starts = qrs.calls("POST", f"/qrs/task/{task.id}/start/synchronous")
    assert len(starts) == 1
    # every call carried the same xrfkey in the query and the header
    assert all(r.query["xrfkey"] == r.header("X-Qlik-Xrfkey") for r in qrs.requests)
    assert len({r.query["xrfkey"] for r in qrs.requests}) == len(qrs.requests)


def test_task_by_name_that_fails_reports_its_log(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    qrs.add_task("Nightly", Script(polls=1, outcome=8, log="Connecting\nODBC error: timeout"))
    last = harness.drive(reload_kind, _config(qrs, tasks="Nightly"))[-1]
    assert last.error is not None and last.error.kind == "qlik_job_failed"
    assert "ended FinishedFail" in last.error.message
    assert "ODBC error: timeout" in last.error.message


def test_disabled_task_does_not_start(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    task = qrs.add_task("Off", enabled=False)
    cb = harness.run(
        reload_kind, harness.message("ms-qlik-app-reload", _config(qrs, tasks=task.id))
    )
    assert cb.error is not None and "did not start (disabled task" in cb.error.message
    assert not cb.error.retryable


def test_running_execution_is_followed_and_never_finishing_one_is_stopped(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    adopted = qrs.add_task("Busy", Script(polls=2, outcome=7))
    qrs.start_session(adopted)
    stuck = qrs.add_task("Stuck", Script(outcome=None))
    config = _config(qrs, tasks=["Busy", "Stuck"], max_wait_seconds=60)
    last = harness.drive(reload_kind, config)[-1]
    assert last.error is not None and last.error.kind == "qlik_deadline"
    assert "task:Stuck (Running)" in last.error.message
    assert qrs.calls("POST", f"/qrs/task/{adopted.id}/start") == []  # followed, not restarted
    assert qrs.stopped == [stuck.id]


def test_app_without_reload_task_is_a_clear_error(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    app = "5b1f0c6e-0000-4000-8000-000000000001"
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", _config(qrs, apps=app)))
    assert cb.error is not None and f"app {app} has no reload task" in cb.error.message


def test_wrong_user_is_rejected(qrs: FakeQrs, harness: Harness, reload_kind: StepKind) -> None:
    qrs.add_task("T")
    config = _config(qrs, tasks="T")
    config["qrs"]["user_id"] = "someone"
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", config))
    assert cb.error is not None and (cb.error.kind, cb.error.retryable) == ("auth", False)


def test_certificate_material_is_written_privately_and_removed(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind, monkeypatch: Any
) -> None:
    import os

    seen: list[tuple[str, int, str]] = []
    from mhi.qlik import steps

    real = steps._pem_file

    def spy(folder: str, name: str, pem: str) -> str:
        path = real(folder, name, pem)
        seen.append((path, os.stat(path).st_mode & 0o777, Path(path).read_text()))
        return path

    monkeypatch.setattr(steps, "_pem_file", spy)
    task = qrs.add_task("T", Script(polls=1, outcome=7))
    config = _config(qrs, tasks=task.id)
    config["qrs"]["auth"] = "certificate"
    last = harness.drive(reload_kind, config)[-1]
    assert last.status == CallbackStatus.SUCCEEDED
    assert seen and all(mode == 0o600 for _, mode, _ in seen)
    assert {(Path(p).name, pem) for p, _, pem in seen} == {
        ("client.pem", CERT),
        ("client-key.pem", KEY),
    }
    assert all(not os.path.exists(p) for p, _, _ in seen)


def test_qrs_options_are_checked(qrs: FakeQrs, harness: Harness, reload_kind: StepKind) -> None:
    bad = {"backend": "qrs", "qrs": {"server_url": qrs.url}, "tasks": "T"}
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", bad))
    assert cb.error is not None and "config.qrs.server_url" in cb.error.message
    assert "'qlik-qrs-base-url'" in cb.error.message and qrs.requests == []
    bad = {"backend": "qrs", "tasks": "T", "variables": {"a": "b"}}
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", bad))
    assert (
        cb.error is not None and "variables and partial are Qlik Cloud options" in cb.error.message
    )


def test_jwt_auth_sends_the_token_as_bearer(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    from tests.unit.qlik._values import API_KEY

    task = qrs.add_task("T", Script(polls=1, outcome=7))
    config = _config(qrs, tasks=task.id)
    config["qrs"]["auth"] = "jwt"
    assert harness.drive(reload_kind, config)[-1].status == CallbackStatus.SUCCEEDED
    assert {r.header("Authorization") for r in qrs.requests} == {f"Bearer {API_KEY}"}


def test_without_the_address_secret_nothing_is_called(
    qrs: FakeQrs, harness: Harness, reload_kind: StepKind
) -> None:
    del harness.secrets["qlik-qrs-base-url"]
    harness._environ.clear()
    harness.secrets.clear()
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", _config(qrs, tasks="T")))
    assert cb.error is not None and cb.error.kind == "secret_access"
    assert "hotel-fergus--qlik-qrs-base-url" in cb.error.message
    assert "MHI_QLIK_QRS_BASE_URL" in cb.error.message and qrs.requests == []
