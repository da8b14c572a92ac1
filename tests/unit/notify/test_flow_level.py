"""Flow-level notifications: the controller's `_notify` message with the run summary."""

from __future__ import annotations

from typing import Any

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeMailgun, WebhookReceiver
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.notify._values import DOMAIN


def run_summary(status: str = "failed") -> dict[str, Any]:
    """The `_run` summary exactly as the controller builds it (mhi.engine.summary)."""
    failed = status == "failed"
    return {
        "run_id": "run-1",
        "flow_id": "daily-avalon-extract",
        "flow_name": "Daily Avalon extract",
        "account": "hotel-fergus",
        "status": status,
        "started_at": "2025-03-01T06:00:00+00:00",
        "finished_at": "2025-03-01T06:04:05+00:00",
        "duration_seconds": 245.0,
        "failed_step": "calculate-kpis" if failed else None,
        "error": "step calculate-kpis failed: table model.stay_nights is empty" if failed else None,
        "steps": [
            {
                "id": "extract-reservations",
                "type": "ms-extractor-avalon",
                "status": "succeeded",
                "attempts": 1,
                "duration_seconds": 120.5,
                "error": None,
                "skip_reason": None,
                "output": {"rows": 1200, "table": "raw.avalon_reservations"},
            },
            {
                "id": "model-data",
                "type": "ms-data-modeling",
                "status": "succeeded",
                "attempts": 2,
                "duration_seconds": 80.25,
                "error": None,
                "skip_reason": None,
                "output": {"rows": 1180, "rejected": 20},
            },
            {
                "id": "calculate-kpis",
                "type": "ms-kpi-engine",
                "status": "failed" if failed else "succeeded",
                "attempts": 3,
                "duration_seconds": 3.0,
                "error": {"kind": "step_failed", "message": "table model.stay_nights is empty"}
                if failed
                else None,
                "skip_reason": None,
                "output": {} if failed else {"rows": 90, "adr": 131.5},
            },
            {
                "id": "reload-qlik",
                "type": "ms-qlik-app-reload",
                "status": "skipped" if failed else "succeeded",
                "attempts": 0,
                "duration_seconds": None,
                "error": None,
                "skip_reason": "upstream step 'calculate-kpis' failed" if failed else None,
                "output": {},
            },
        ],
    }


def _notify(
    harness: Harness, kind: StepKind, config: dict[str, Any], status: str = "failed"
) -> Any:
    # The controller sends step_id "_notify"; the messages' StepRef rejects a leading '_' today
    # (reported), and the handler does not depend on the step id: "notify" stands in for it.
    msg = harness.message(
        "ms-notifications", config, step_id="notify", upstream={"_run": run_summary(status)}
    )
    return harness.run(kind, msg)


def test_seed_fail_block_sends_a_summary_of_every_step(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    config = {
        "type": ["email"],
        "recipients": ["alerts@example.com"],
        "event": "fail",
        "mailgun_domain": DOMAIN,
    }
    cb = _notify(harness, kind, config)
    assert cb.status == CallbackStatus.SUCCEEDED, cb.error
    assert cb.output["event"] == "fail"
    (form,) = mailgun.messages
    assert form["subject"] == [
        "[MHI] Daily Avalon extract: FAILED at step calculate-kpis (hotel-fergus)"
    ]
    text = form["text"][0]
    for expected in [
        "Status: failed",
        "Duration: 4 min 05 s",
        "Failed step: calculate-kpis",
        "- extract-reservations (ms-extractor-avalon, succeeded, 1 attempt, 2 min 00 s): "
        "rows=1200, table=raw.avalon_reservations",
        "- model-data (ms-data-modeling, succeeded, 2 attempts, 1 min 20 s): rows=1180",
        "- calculate-kpis (ms-kpi-engine, failed, 3 attempts, 3.0 s): step_failed: table "
        "model.stay_nights is empty",
        "- reload-qlik (ms-qlik-app-reload, skipped, 0 attempts, -): upstream step "
        "'calculate-kpis' failed",
    ]:
        assert expected in text
    html = form["html"][0]
    assert html.count("<td>ms-") == 4  # one row per step
    assert "upstream step &#x27;calculate-kpis&#x27; failed" in html


def test_success_block_with_custom_templates_quotes_kpis(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    config = {
        "type": "email",
        "recipients": "gm@example.com",
        "event": "success",
        "mailgun_domain": DOMAIN,
        "subject": "{{ run.flow_name }}: ADR {{ steps.calculate-kpis.output.adr }}",
        "html": "<p>ADR <b>{{ steps.calculate-kpis.output.adr }}</b> for {{ run.account }}</p>"
        "<pre>{{ run.summary }}</pre>",
    }
    cb = _notify(harness, kind, config, status="succeeded")
    assert cb.output["sent"] == 1
    form = mailgun.messages[0]
    assert form["subject"] == ["Daily Avalon extract: ADR 131.5"]
    assert form["html"][0].startswith("<p>ADR <b>131.5</b> for hotel-fergus</p><pre>Flow: Daily")
    assert form["text"][0].startswith("ADR 131.5 for hotel-fergus\nFlow: Daily Avalon extract")


def test_flow_level_webhook_carries_the_run_summary(
    receiver: WebhookReceiver, harness: Harness, kind: StepKind
) -> None:
    config = {
        "type": ["webhook"],
        "recipients": [],
        "event": "fail",
        "webhook_url": receiver.url + "/mhi",
    }
    cb = _notify(harness, kind, config)
    assert cb.output["sent"] == 1 and receiver.rejected == []
    (payload,) = receiver.received.values()
    assert payload["type"] == "mhi.run.finished"
    assert payload["data"]["event"] == "fail"
    assert [s["id"] for s in payload["data"]["run"]["steps"]] == [
        "extract-reservations",
        "model-data",
        "calculate-kpis",
        "reload-qlik",
    ]


def test_broken_template_falls_back_to_the_default_and_says_so(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    config = {
        "type": "email",
        "recipients": "a@example.com",
        "event": "fail",
        "mailgun_domain": DOMAIN,
        "subject": "{{ steps.nope.output.rows }}",
    }
    cb = _notify(harness, kind, config)
    assert cb.output["sent"] == 1
    assert "subject: {{steps.nope.output.rows}}" in cb.output["template_error"]
    assert "has no 'nope'" in cb.output["template_error"]
    assert mailgun.messages[0]["subject"][0].startswith("[MHI] Daily Avalon extract: FAILED")
    cb = _notify(harness, kind, {**config, "fail_on_error": True})
    assert cb.error is not None and "notification template" in cb.error.message


def test_the_controller_builds_a_config_this_step_accepts() -> None:
    """The controller's own code turns a seed block into this step's config."""
    from mhi.engine.summary import flow_notification
    from mhi.model.validate import parse_flow
    from mhi.notify.config import NotificationsConfig

    flow = parse_flow(
        {
            "flow_id": "f",
            "account": "a",
            "flow_config": {"steps": [{"id": "s", "type": "ms-echo", "config": {}}]},
            "notifications": {
                "success": {
                    "type": ["email"],
                    "recipients": "data-team@example.com",
                    "subject": "done {{ run.flow_id }}",
                }
            },
        }
    )
    spec = flow.notifications.success  # type: ignore[union-attr]
    assert spec is not None
    config = spec.model_dump(mode="json", exclude_none=True, exclude={"when"})
    parsed = NotificationsConfig.model_validate({**config, "event": "success"})
    assert parsed.recipients == ["data-team@example.com"] and parsed.type == ["email"]
    assert callable(flow_notification)


def test_default_subjects_for_every_end_status() -> None:
    from mhi.notify.render import default_subject

    def subject(status: str) -> str:
        run = {**run_summary(status), "failed_step": None}
        return default_subject({"run": run, "steps": {}})

    assert subject("succeeded") == "[MHI] Daily Avalon extract: succeeded (hotel-fergus)"
    assert subject("timed_out") == "[MHI] Daily Avalon extract: TIMED_OUT (hotel-fergus)"
    assert subject("cancelled") == "[MHI] Daily Avalon extract: CANCELLED (hotel-fergus)"
