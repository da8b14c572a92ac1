"""No Qlik API key, execution token or certificate in outputs, errors or any log line."""

from __future__ import annotations

import logging

import pytest

from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQlikCloud, FakeQrs, Script
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.qlik._values import SECRETS

APP = "116dbfae-7fb9-4983-8e23-5ccd8c508722"


def test_secrets_never_appear_in_outputs_or_logs(
    cloud: FakeQlikCloud,
    qrs: FakeQrs,
    harness: Harness,
    reload_kind: StepKind,
    automation_kind: StepKind,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud.apps[APP] = Script(polls=1, outcome="FAILED", log="bad script")
    cloud.automations["a1"] = Script(polls=1, outcome="finished")
    task = qrs.add_task("T", Script(polls=1, outcome=7))
    harness.set_secret("qlik-qrs-base-url", qrs.url)
    cloud.queue(
        429, {"errors": [{"title": "API rate limit reached."}]}, headers={"Retry-After": "1"}
    )
    results = [
        harness.drive(reload_kind, {"tenant_url": cloud.url, "apps": APP}, run_id="r1"),
        harness.drive(
            automation_kind, {"tenant_url": cloud.url, "automation_id": "a1"}, run_id="r2"
        ),
        harness.drive(
            automation_kind,
            {"tenant_url": cloud.url, "automation_id": "a1", "mode": "triggered"},
            run_id="r3",
        ),
        harness.drive(
            reload_kind,
            {"backend": "qrs", "tasks": task.id, "qrs": {"auth": "jwt"}},
            run_id="r4",
        ),
        harness.drive(
            reload_kind,
            {"backend": "qrs", "tasks": task.id, "qrs": {}},
            run_id="r5",
        ),
    ]
    statuses = [r[-1].status.value for r in results]
    assert statuses == ["failed", "succeeded", "succeeded", "succeeded", "succeeded"]
    cloud.api_key = "rotated"
    results.append(harness.drive(reload_kind, {"tenant_url": cloud.url, "apps": APP}, run_id="r6"))
    assert results[-1][-1].error is not None and results[-1][-1].error.kind == "auth"
    text = "".join(c.model_dump_json() for r in results for c in r)
    text += caplog.text + "".join(capsys.readouterr())
    assert "bad script" in text and "HTTP 401" in text  # the failures were really reported
    for value in SECRETS.values():
        for line in value.splitlines():
            assert line.startswith("-----") or line not in text
