"""ms-qlik-app-reload against an imitation Qlik Cloud: turns, failures, limits, idempotency."""

from __future__ import annotations

from typing import Any

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQlikCloud, Script
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.qlik._values import API_KEY

APP = "116dbfae-7fb9-4983-8e23-5ccd8c508722"
APP2 = "2a6b3c4d-0000-4983-8e23-5ccd8c508722"


def _config(cloud: FakeQlikCloud, **extra: Any) -> dict[str, Any]:
    return {"tenant_url": cloud.url, "apps": APP, "poll_seconds": 5, **extra}


def test_reload_that_outlives_several_polls_succeeds(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=4)
    callbacks = harness.drive(reload_kind, _config(cloud, max_poll_seconds=20))
    assert [c.status for c in callbacks[:-1]] == [CallbackStatus.WAITING] * 4
    last = callbacks[-1]
    assert last.status == CallbackStatus.SUCCEEDED, last.error
    job = last.output["jobs"][0]
    assert (job["target"], job["status"], job["started_by_step"]) == (APP, "SUCCEEDED", True)
    assert last.output["turns"] == 5
    assert last.output["waited_seconds"] == sum(c.poll_after_seconds for c in callbacks[:-1])
    assert [c.poll_after_seconds for c in callbacks[:-1]] == [5, 7.5, 11.25, 16.875]
    assert len(cloud.started()) == 1
    body = cloud.calls("POST", "/api/v1/reloads")[0].json()
    assert body == {"appId": APP, "partial": False}


def test_failed_reload_fails_with_log_excerpt_and_no_retry(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=1, outcome="FAILED", log="Loading\nError: Field 'x' not found")
    last = harness.drive(reload_kind, _config(cloud))[-1]
    assert last.status == CallbackStatus.FAILED
    assert last.error is not None and last.error.kind == "qlik_job_failed"
    assert not last.error.retryable
    assert "ended FAILED" in last.error.message
    assert "Field 'x' not found" in last.error.message


def test_invalid_token_is_a_permanent_auth_error(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script()
    cloud.api_key = "another-key"
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", _config(cloud)))
    assert cb.status == CallbackStatus.FAILED
    assert cb.error is not None and (cb.error.kind, cb.error.retryable) == ("auth", False)
    assert "HTTP 401" in cb.error.message and API_KEY not in cb.error.message


def test_unknown_app_fails_clearly(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", _config(cloud)))
    assert cb.error is not None and (cb.error.kind, cb.error.retryable) == ("qlik_not_found", False)
    assert f"app {APP} not found" in cb.error.message and "HTTP 404" in cb.error.message


def test_429_with_retry_after_is_honoured_within_the_turn(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind, sleeps: list[float]
) -> None:
    cloud.apps[APP] = Script(polls=1)
    cloud.queue(
        429,
        {"errors": [{"title": "API rate limit reached."}]},
        headers={"Retry-After": "2"},
        method="POST",
        path_prefix="/api/v1/reloads",
    )
    last = harness.drive(reload_kind, _config(cloud))[-1]
    assert last.status == CallbackStatus.SUCCEEDED
    assert sleeps == [2.0]
    assert len(cloud.calls("POST", "/api/v1/reloads")) == 2
    assert len(cloud.started()) == 1


def test_long_retry_after_becomes_the_next_poll_interval(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind, sleeps: list[float]
) -> None:
    cloud.apps[APP] = Script(polls=1)
    first = harness.run(reload_kind, harness.message("ms-qlik-app-reload", _config(cloud)))
    cloud.queue(
        429,
        {"errors": [{"title": "API rate limit reached."}]},
        headers={"Retry-After": "90"},
        method="GET",
    )
    msg = harness.message(
        "ms-qlik-app-reload", _config(cloud), turn=1, continuation=first.continuation
    )
    second = harness.run(reload_kind, msg)
    assert second.status == CallbackStatus.WAITING
    assert second.poll_after_seconds == 90
    assert sleeps == []  # 90 s is beyond what one call may sleep: no instance held
    msg = harness.message(
        "ms-qlik-app-reload", _config(cloud), turn=2, continuation=second.continuation
    )
    assert harness.run(reload_kind, msg).status == CallbackStatus.SUCCEEDED


def test_transient_poll_failures_and_timeouts_poll_again_later(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=1)
    # Normal requests must answer within the timeout on a loaded machine too: 1 s, not 0.3 s.
    config = _config(cloud, request_timeout_seconds=1.0)
    first = harness.run(reload_kind, harness.message("ms-qlik-app-reload", config))
    cloud.queue(200, {}, method="GET", delay=3.0, times=4)  # slower than the client's timeout
    msg = harness.message("ms-qlik-app-reload", config, turn=1, continuation=first.continuation)
    second = harness.run(reload_kind, msg)
    assert second.status == CallbackStatus.WAITING
    assert second.continuation is not None and second.continuation["transient"] == 1
    msg = harness.message("ms-qlik-app-reload", config, turn=2, continuation=second.continuation)
    third = harness.run(reload_kind, msg)
    assert third.status == CallbackStatus.SUCCEEDED, third.error


def test_reload_that_never_finishes_is_cancelled_at_the_deadline(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(outcome=None)
    callbacks = harness.drive(reload_kind, _config(cloud, max_wait_seconds=120, poll_seconds=10))
    last = callbacks[-1]
    assert last.status == CallbackStatus.FAILED
    assert last.error is not None and last.error.kind == "qlik_deadline"
    assert not last.error.retryable
    assert "max_wait_seconds=120" in last.error.message
    reload_id = cloud.started()[0]["id"]
    assert cloud.cancelled == [reload_id]
    assert f"cancelled: {reload_id}" in last.error.message
    assert sum(c.poll_after_seconds for c in callbacks[:-1]) == 120  # the last wait fits exactly


def test_same_message_delivered_twice_starts_one_reload(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=2)
    msg = harness.message("ms-qlik-app-reload", _config(cloud))
    first, second = harness.run(reload_kind, msg), harness.run(reload_kind, msg)
    assert len(cloud.started()) == 1
    assert first.continuation is not None and second.continuation is not None
    assert first.continuation["jobs"][0]["id"] == second.continuation["jobs"][0]["id"]


def test_reload_already_running_for_the_app_is_followed_not_restarted(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=2)
    existing = cloud.add_running_reload(APP)
    last = harness.drive(reload_kind, _config(cloud))[-1]
    assert last.status == CallbackStatus.SUCCEEDED
    assert cloud.calls("POST", "/api/v1/reloads") == []
    job = last.output["jobs"][0]
    assert (job["id"], job["started_by_step"]) == (existing, False)


def test_adopted_reload_is_not_cancelled_at_the_deadline(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(outcome=None)
    cloud.add_running_reload(APP)
    last = harness.drive(reload_kind, _config(cloud, max_wait_seconds=30))[-1]
    assert last.error is not None and last.error.kind == "qlik_deadline"
    assert cloud.cancelled == []


def test_sequential_apps_stop_at_the_first_failure(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=1, outcome="FAILED", log="boom")
    cloud.apps[APP2] = Script(polls=1)
    config = _config(cloud, apps=[APP, APP2], sequential=True)
    last = harness.drive(reload_kind, config)[-1]
    assert last.error is not None and last.error.kind == "qlik_job_failed"
    assert f"{APP2}: not started" in last.error.message
    assert [r["appId"] for r in cloud.started()] == [APP]


def test_parallel_apps_all_reload(
    cloud: FakeQlikCloud, harness: Harness, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=1)
    cloud.apps[APP2] = Script(polls=3)
    config = _config(cloud, apps=[APP, APP2], variables={"vRegion": "EU"})
    callbacks = harness.drive(reload_kind, config)
    assert callbacks[-1].output["succeeded"] == 2
    assert len(callbacks) == 4  # start, then polls until the slower app is done
    bodies = [c.json() for c in cloud.calls("POST", "/api/v1/reloads")]
    assert {b["appId"] for b in bodies} == {APP, APP2}
    assert all(b["variables"] == {"vRegion": "EU"} for b in bodies)


def test_tenant_url_must_be_a_qlik_cloud_host_over_https(
    harness: Harness, reload_kind: StepKind
) -> None:
    for url, problem in [
        ("http://10.0.0.5", "private address"),
        ("http://acme.eu.qlikcloud.com", "use https"),
        ("ftp://acme.eu.qlikcloud.com", "not allowed"),
        ("https://user:pw@acme.eu.qlikcloud.com", "user name or password"),
        ("https://qlik.evil.example.com", "not one of qlik-cloud's API hosts"),
    ]:
        cb = harness.run(
            reload_kind, harness.message("ms-qlik-app-reload", {"tenant_url": url, "apps": APP})
        )
        assert cb.error is not None and cb.error.kind == "invalid_config"
        assert problem in cb.error.message and "pw" not in cb.error.message


def test_config_errors_name_the_field(harness: Harness, reload_kind: StepKind) -> None:
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", {"apps": APP, "pol": 1}))
    assert cb.error is not None
    assert "config.pol: unknown field" in cb.error.message
    cb = harness.run(reload_kind, harness.message("ms-qlik-app-reload", {"apps": APP}))
    assert cb.error is not None and "tenant_url is required" in cb.error.message
