"""Notification config validation, URL policy, Standard Webhooks signing, Mailgun regions."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
import requests
from pydantic import ValidationError

from mhi.catalog import BY_TYPE
from mhi.notify.config import NotificationsConfig
from mhi.notify.signing import SignatureError, sign, verify
from mhi.notify.steps import NotifyOptions, make_notifications
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.notify._values import WEBHOOK_SECRET


def test_seed_block_and_controller_shape_are_accepted() -> None:
    seed = NotificationsConfig.model_validate(
        {"type": ["email"], "recipients": "data-team@example.com"}
    )
    assert (seed.type, seed.recipients) == (["email"], ["data-team@example.com"])
    flow_level = NotificationsConfig.model_validate(
        {
            "type": ["email", "webhook"],
            "recipients": ["a@example.com", "Ops <ops@example.com>"],
            "event": "fail",
            "webhook_url": "https://hooks.example.com/mhi",
            "subject": "x",
            "from": "MHI <mhi@example.com>",
        }
    )
    assert flow_level.sender == "MHI <mhi@example.com>" and flow_level.event == "fail"
    split = NotificationsConfig.model_validate({"type": "email", "recipients": "a@x.com; b@x.com"})
    assert split.recipients == ["a@x.com", "b@x.com"]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"type": "email", "recipients": "a@x.com", "subjet": "typo"}, "subjet"),
        ({"type": "sms", "recipients": "a@x.com"}, "type"),
        ({"type": "email", "recipients": "not-an-address"}, "not an email address"),
        ({"type": "email"}, "channel email needs recipients"),
        ({"type": "webhook"}, "channel webhook needs webhook_url"),
        ({"type": "webhook", "webhook_url": "http://hooks.example.com"}, "must use https"),
        ({"type": "webhook", "webhook_url": "https://169.254.169.254/x"}, "link-local"),
        ({"type": "webhook", "webhook_url": "https://10.0.0.8/x"}, "private"),
        ({"type": "webhook", "webhook_url": "https://metadata.google.internal/"}, "not allowed"),
        ({"type": "webhook", "webhook_url": "file:///etc/passwd"}, "scheme 'file'"),
        ({"type": "outbox", "when": "run.status = 'x'"}, "when"),
        ({"type": "outbox", "subject": "{{ run.flow_id + 1 }}"}, "subject"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as e:
        NotificationsConfig.model_validate(config)
    assert problem in str(e.value)


def test_loopback_http_is_allowed_for_tests_and_local_receivers() -> None:
    config = NotificationsConfig.model_validate(
        {"type": "webhook", "webhook_url": ["http://127.0.0.1:8080/x", "http://localhost/y"]}
    )
    assert len(config.webhook_url) == 2


def test_signature_round_trip_matches_the_reference_implementation() -> None:
    body = b'{"type":"mhi.notification"}'
    signature = sign(WEBHOOK_SECRET, "msg_1", 1_700_000_000, body)
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(mac).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,bm90LXRoaXMtb25l {signature}",
    }
    verify(WEBHOOK_SECRET, headers, body, now=1_700_000_100)  # a rotated key may come first
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        verify(WEBHOOK_SECRET, headers, body + b" ", now=1_700_000_100)
    with pytest.raises(SignatureError, match="too far"):
        verify(WEBHOOK_SECRET, headers, body, now=1_700_000_000 + 301)
    with pytest.raises(SignatureError, match="whsec_"):
        sign("not base64 !", "m", 1, body)


class _RecordingSession(requests.Session):
    """A session that answers every request with 200 and remembers the URLs (no network)."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.urls = urls

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.urls.append(url)
        response = requests.Response()
        response.status_code, response._content = 200, b'{"id": "<1@mg>", "message": "Queued"}'
        return response


@pytest.mark.parametrize(
    ("region", "base"), [("eu", "https://api.eu.mailgun.net"), ("us", "https://api.mailgun.net")]
)
def test_mailgun_region_picks_the_endpoint(tmp_path: Any, region: str, base: str) -> None:
    urls: list[str] = []
    kind = make_notifications(NotifyOptions(session_factory=lambda: _RecordingSession(urls)))
    harness = Harness(tmp_path, {"mailgun-api-key": "k"})
    config = {
        "type": "email",
        "recipients": "a@x.com",
        "mailgun_domain": "mg.hotel.example",
        "mailgun_region": region,
    }
    cb = harness.run(kind, harness.message("ms-notifications", config))
    assert cb.output["sent"] == 1
    assert urls == [f"{base}/v3/mg.hotel.example/messages"]


def test_terraform_grants_exactly_the_secrets_the_steps_read() -> None:
    assert BY_TYPE["ms-notifications"].secrets == (
        "mailgun-api-key",
        "slack-webhook-url",
        "webhook-secret",
    )
    assert BY_TYPE["ms-qlik-app-reload"].secrets == (
        "qlik-api-key",
        "qlik-automation-token",
        "qlik-ca-cert",
        "qlik-client-cert",
        "qlik-client-key",
    )
