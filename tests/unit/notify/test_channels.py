"""ms-notifications against imitation Mailgun, Slack and a signature-checking webhook receiver."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeMailgun, FakeSlack, WebhookReceiver
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.notify._values import DOMAIN

UPSTREAM = {"calculate-kpis": {"rows": 92, "table": "kpi.daily", "kpis": {"occupancy": 0.8123}}}


def _email(mailgun: FakeMailgun, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "recipients": "data-team@example.com, revenue@example.com",
        "mailgun_domain": DOMAIN,
        **extra,
    }


def _run(kind: StepKind, harness: Harness, config: dict[str, Any], **kw: Any) -> Any:
    kw.setdefault("upstream", UPSTREAM)
    return harness.run(kind, harness.message("ms-notifications", config, **kw))


def test_email_goes_to_each_recipient_through_mailgun(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    cb = _run(kind, harness, _email(mailgun, subject="KPIs {{ steps.calculate-kpis.output.rows }}"))
    assert cb.status == CallbackStatus.SUCCEEDED, cb.error
    assert mailgun.sent_to() == ["data-team@example.com", "revenue@example.com"]
    assert (cb.output["sent"], cb.output["failed"]) == (2, 0)
    assert [d["recipient"] for d in cb.output["deliveries"]] == mailgun.sent_to()
    assert all(d["id"].endswith(f"@{DOMAIN}>") for d in cb.output["deliveries"])
    form = mailgun.messages[0]
    assert form["subject"] == ["KPIs 92"]
    assert "kpis.occupancy=0.8123" in form["text"][0] and "<table" in form["html"][0]
    assert form["from"] == [f"MHI Orchestrator <mhi@{DOMAIN}>"]
    assert form["v:run_id"] == ["run-1"]


def test_mailgun_429_with_retry_after_is_retried(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind, sleeps: list[float]
) -> None:
    mailgun.queue(429, "Too Many Requests", headers={"Retry-After": "3"})
    cb = _run(kind, harness, _email(mailgun, recipients="data-team@example.com"))
    assert cb.output["sent"] == 1 and cb.output["deliveries"][0]["tries"] == 2
    assert sleeps == [3.0]


def test_rate_limit_beyond_the_budget_is_reported_not_slept(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind, sleeps: list[float]
) -> None:
    mailgun.queue(429, "Too Many Requests", headers={"Retry-After": "600"})
    cb = _run(kind, harness, _email(mailgun, recipients="data-team@example.com"))
    assert cb.status == CallbackStatus.SUCCEEDED  # a failed notification never fails the flow
    delivery = cb.output["deliveries"][0]
    assert delivery["status"] == "failed" and "Retry-After 600s" in delivery["error"]
    assert sleeps == []


def test_invalid_mailgun_key_is_reported_and_fails_only_when_asked(
    mailgun: FakeMailgun, make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    harness = make_harness(secrets={"mailgun-api-key": "wrong-key"})
    cb = _run(kind, harness, _email(mailgun))
    assert cb.status == CallbackStatus.SUCCEEDED
    assert cb.output["failed"] == 2 and cb.output["sent"] == 0
    assert "Mailgun rejected the credentials (HTTP 401)" in cb.output["deliveries"][0]["error"]
    cb = _run(kind, harness, _email(mailgun, fail_on_error=True), run_id="run-2")
    assert cb.status == CallbackStatus.FAILED
    assert cb.error is not None and (cb.error.kind, cb.error.retryable) == (
        "notification_failed",
        False,
    )
    assert "2 of 2 notifications failed" in cb.error.message


def test_transient_failures_with_fail_on_error_are_retryable(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    mailgun.queue(503, "unavailable", times=10)
    config = _email(mailgun, recipients="a@example.com", fail_on_error=True, max_attempts=2)
    cb = _run(kind, harness, config)
    assert cb.error is not None and (cb.error.kind, cb.error.retryable) == (
        "notification_unavailable",
        True,
    )


def test_wrong_region_shows_as_unknown_domain(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    cb = _run(kind, harness, _email(mailgun, mailgun_domain="mg.other.com"))
    assert (
        "domain 'mg.other.com' unknown in this Mailgun region?"
        in (cb.output["deliveries"][0]["error"])
    )


def test_same_message_delivered_twice_sends_one_email(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    msg = harness.message("ms-notifications", _email(mailgun), upstream=UPSTREAM)
    first, second = harness.run(kind, msg), harness.run(kind, msg)
    assert len(mailgun.messages) == 2  # two recipients, once each
    assert first.output == second.output


def test_a_retry_attempt_sends_only_what_did_not_go_out(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    mailgun.queue(400, {"message": "'to' parameter is not a valid address"})
    first = _run(kind, harness, _email(mailgun))
    assert [d["status"] for d in first.output["deliveries"]] == ["failed", "sent"]
    second = _run(kind, harness, _email(mailgun), attempt=2)
    assert [d["status"] for d in second.output["deliveries"]] == ["sent", "sent"]
    assert mailgun.sent_to() == ["revenue@example.com", "data-team@example.com"]


def test_slack_gets_text_and_blocks_and_the_url_stays_secret(
    slack: FakeSlack, harness: Harness, kind: StepKind, sleeps: list[float]
) -> None:
    slack.queue(429, "rate_limited", headers={"Retry-After": "1"})
    cb = _run(kind, harness, {"type": "slack"})
    assert cb.output["deliveries"] == [
        {"channel": "slack", "recipient": "slack", "status": "sent", "tries": 2, "http_status": 200}
    ]
    post = slack.posts[0]
    assert post["text"].startswith("[MHI] daily-avalon-extract: notification from step step")
    assert "calculate-kpis" in post["blocks"][1]["text"]["text"]
    assert sleeps == [1.0]
    assert slack.PATH not in cb.model_dump_json()


def test_slack_hook_map_and_a_revoked_hook(
    slack: FakeSlack, make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    hooks = f'{{"revenue": "{slack.hook_url}", "ops": "{slack.url}/services/T/B/revoked"}}'
    harness = make_harness(secrets={"slack-webhook-url": hooks})
    cb = _run(kind, harness, {"type": "slack", "slack_channels": ["revenue", "ops"]})
    by = {d["recipient"]: d for d in cb.output["deliveries"]}
    assert by["slack:revenue"]["status"] == "sent"
    assert by["slack:ops"]["status"] == "failed" and "no_service" in by["slack:ops"]["error"]
    cb = _run(kind, harness, {"type": "slack"}, run_id="run-2")
    assert "choose among the hooks" in cb.output["deliveries"][0]["error"]


def test_slack_url_must_be_https(make_harness: Callable[..., Harness], kind: StepKind) -> None:
    harness = make_harness(secrets={"slack-webhook-url": "http://hooks.slack.com/services/x"})
    cb = _run(kind, harness, {"type": "slack"})
    delivery = cb.output["deliveries"][0]
    assert delivery["status"] == "failed" and "use https" in delivery["error"]
    assert "services/x" not in cb.model_dump_json()


def test_the_slack_hook_goes_only_to_slack(
    make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    harness = make_harness(
        secrets={"slack-webhook-url": "https://hooks.example.com/services/T0/B0/secret9"},
        settings_extra={"MHI_SLACK_HOSTS": "hooks.slack.com"},
    )
    cb = _run(kind, harness, {"type": "slack"})
    delivery = cb.output["deliveries"][0]
    assert delivery["status"] == "failed" and "not one of slack's API hosts" in delivery["error"]
    assert "secret9" not in cb.model_dump_json()


def test_webhook_is_signed_and_verified_by_the_receiver(
    receiver: WebhookReceiver, harness: Harness, kind: StepKind
) -> None:
    cb = _run(kind, harness, {"type": "webhook", "webhook_url": receiver.url + "/hooks/mhi"})
    assert cb.output["sent"] == 1, cb.output
    assert receiver.rejected == []
    ((msg_id, payload),) = receiver.received.items()
    assert cb.output["deliveries"][0]["id"] == msg_id
    assert payload["type"] == "mhi.notification"
    assert payload["data"]["upstream"]["calculate-kpis"]["rows"] == 92


def test_webhook_with_the_wrong_secret_is_rejected_by_the_receiver(
    receiver: WebhookReceiver, make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    import base64

    other = "whsec_" + base64.b64encode(b"another-signing-key-of-32-bytes!").decode()
    harness = make_harness(secrets={"webhook-secret": other})
    cb = _run(kind, harness, {"type": "webhook", "webhook_url": receiver.url})
    delivery = cb.output["deliveries"][0]
    assert (delivery["status"], delivery["http_status"]) == ("failed", 401)
    assert receiver.rejected == ["bad signature"] and receiver.received == {}


def test_webhook_timeouts_are_retried_then_reported(
    receiver: WebhookReceiver, harness: Harness, kind: StepKind, sleeps: list[float]
) -> None:
    receiver.queue(204, delay=0.6, times=2)
    config = {
        "type": "webhook",
        "webhook_url": receiver.url,
        "request_timeout_seconds": 0.2,
        "max_attempts": 2,
    }
    cb = _run(kind, harness, config)
    delivery = cb.output["deliveries"][0]
    assert delivery["status"] == "failed" and delivery["tries"] == 2
    assert "no answer within 0.2s after 2 tries" in delivery["error"]
    assert len(sleeps) == 1


def test_email_without_mailgun_goes_to_the_local_outbox(
    harness: Harness, kind: StepKind, tmp_path: Path
) -> None:
    cb = _run(kind, harness, {"type": ["email"], "recipients": "data-team@example.com"})
    (delivery,) = cb.output["deliveries"]
    assert delivery["status"] == "sent"
    key = "outbox/hotel-fergus/daily-avalon-extract/run-1/step/data-team@example.com.eml"
    assert delivery["uri"] == (tmp_path / "blobs" / key).as_uri()
    data = harness.services.blobs.read_bytes(key) or b""
    mail = email.message_from_bytes(data, policy=email.policy.default)
    assert mail["To"] == "data-team@example.com" and mail["Subject"].startswith("[MHI]")
    kinds = [part.get_content_type() for part in mail.walk()]
    assert "text/plain" in kinds and "text/html" in kinds


def test_email_on_gcp_without_a_domain_is_a_reported_failure(
    make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    harness = make_harness(backend="gcp")
    cb = _run(kind, harness, {"type": "email", "recipients": "a@example.com"})
    assert "no Mailgun domain" in cb.output["deliveries"][0]["error"]


def test_mailgun_settings_come_from_the_environment(
    mailgun: FakeMailgun, make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    harness = make_harness(
        settings_extra={"MHI_MAILGUN_DOMAIN": DOMAIN, "MHI_MAIL_FROM": "Data <data@hotel.example>"}
    )
    config = {"type": "email", "recipients": "a@example.com"}
    assert _run(kind, harness, config).output["sent"] == 1
    assert mailgun.messages[0]["from"] == ["Data <data@hotel.example>"]


def test_condition_false_sends_nothing(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    config = _email(mailgun, when="steps.calculate-kpis.output.rows > 100")
    cb = _run(kind, harness, config)
    assert cb.output["skipped"] is True and mailgun.messages == []
    cb = _run(
        kind, harness, _email(mailgun, when="steps.calculate-kpis.output.rows > 50"), run_id="run-2"
    )
    assert cb.output["sent"] == 2


def test_a_slow_endpoint_cannot_outlast_the_step(
    receiver: WebhookReceiver, harness: Harness, kind: StepKind
) -> None:
    receiver.queue(204, delay=0.6)
    second = receiver.url + "/second"
    config = {
        "type": "webhook",
        "webhook_url": [receiver.url, second],
        "max_attempts": 1,
        "request_timeout_seconds": 0.3,
        "max_total_seconds": 0.2,
    }
    cb = _run(kind, harness, config)
    first, other = cb.output["deliveries"]
    assert "no answer within 0.3s" in first["error"]
    assert other["status"] == "failed" and "time budget (0.2s) is used up" in other["error"]
    assert len(receiver.calls("POST")) == 1


def test_every_webhook_try_carries_a_fresh_timestamp_and_signature(
    receiver: WebhookReceiver, harness: Harness
) -> None:
    """Standard Webhooks: the id stays, the timestamp of the attempt (and so the signature) is
    new on each retry; a receiver checking its clock would refuse a replayed old stamp."""
    from mhi.notify import NotifyOptions, make_notifications
    from mhi.notify.signing import verify
    from tests.unit.notify._values import WEBHOOK_SECRET

    kind = make_notifications(NotifyOptions(sleep=harness.clock.advance))
    receiver.queue(503, {"error": "busy"}, headers={"Retry-After": "7"}, times=2)
    cb = _run(kind, harness, {"type": "webhook", "webhook_url": receiver.url, "max_attempts": 3})
    assert cb.output["sent"] == 1 and cb.output["deliveries"][0]["tries"] == 3
    calls = receiver.calls("POST")
    stamps = [int(c.header("webhook-timestamp") or 0) for c in calls]
    assert stamps[1] - stamps[0] == 7 and stamps[2] - stamps[1] == 7
    assert len({c.header("webhook-id") for c in calls}) == 1
    assert len({c.header("webhook-signature") for c in calls}) == 3
    for call, stamp in zip(calls, stamps, strict=True):
        headers = {k: v for k, v in call.headers.items()}
        verify(WEBHOOK_SECRET, headers, call.body, now=stamp)  # each signs its own stamp


def test_webhook_secrets_shorter_than_24_bytes_are_refused(
    receiver: WebhookReceiver, make_harness: Callable[..., Harness], kind: StepKind
) -> None:
    import base64

    short = "whsec_" + base64.b64encode(b"only-twenty-bytes-ok").decode()
    harness = make_harness(secrets={"webhook-secret": short})
    cb = _run(kind, harness, {"type": "webhook", "webhook_url": receiver.url})
    delivery = cb.output["deliveries"][0]
    assert delivery["status"] == "failed" and "24 to 64 random bytes" in delivery["error"]
    assert receiver.calls() == []
