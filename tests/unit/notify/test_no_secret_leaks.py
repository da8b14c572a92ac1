"""No secret (API key, webhook secret, Slack URL) in outputs, errors or any log line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeMailgun, FakeSlack, WebhookReceiver
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.notify._values import DOMAIN, MAILGUN_KEY, WEBHOOK_SECRET


def test_secrets_never_appear_in_outputs_or_logs(
    mailgun: FakeMailgun,
    slack: FakeSlack,
    receiver: WebhookReceiver,
    make_harness: Callable[..., Harness],
    kind: StepKind,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    config = {
        "type": ["email", "slack", "webhook"],
        "recipients": "a@example.com",
        "mailgun_domain": DOMAIN,
        "webhook_url": receiver.url,
    }
    seen = []
    for n, (mailgun_status, slack_status) in enumerate([(200, 200), (401, 500), (429, 404)]):
        mailgun.queue(
            mailgun_status,
            "Forbidden" if mailgun_status == 401 else None,
            headers={"Retry-After": "999"},
        ) if mailgun_status != 200 else None
        if slack_status != 200:
            slack.queue(slack_status, "rollup_error")
        harness = make_harness()
        cb = harness.run(kind, harness.message("ms-notifications", config, run_id=f"run-{n}"))
        seen.append(cb.model_dump_json())
    harness = make_harness(secrets={"webhook-secret": "whsec_!!broken!!"})
    msg = harness.message("ms-notifications", config, run_id="run-bad-secret")
    seen.append(harness.run(kind, msg).model_dump_json())
    assert '"sent":3' in seen[0] and '"failed":2' in seen[1]  # the scenarios really ran
    assert "not whsec_<base64>" in seen[3] and '"sent":2' in seen[3], seen[3]
    text = "\n".join(seen) + caplog.text + "".join(capsys.readouterr())
    assert "rollup_error" in text or "HTTP 500" in text
    for secret in (
        MAILGUN_KEY,
        WEBHOOK_SECRET,
        WEBHOOK_SECRET.removeprefix("whsec_"),
        FakeSlack.PATH,
        "XyZsecretTokenValue123",
        "!!broken!!",
    ):
        assert secret not in text
