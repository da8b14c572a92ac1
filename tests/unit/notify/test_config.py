"""Notification config validation, URL policy, Standard Webhooks signing, Mailgun regions."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from typing import Any

import pytest
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
        ({"type": "webhook", "webhook_url": "http://hooks.example.com"}, "use https"),
        ({"type": "webhook", "webhook_url": "https://169.254.169.254/x"}, "link-local"),
        ({"type": "webhook", "webhook_url": "https://10.0.0.8/x"}, "private"),
        ({"type": "webhook", "webhook_url": "https://metadata.google.internal/"}, "metadata"),
        ({"type": "webhook", "webhook_url": "https://2130706433/"}, "loopback"),
        ({"type": "email", "recipients": "a@x.com", "mailgun_api_url": "https://x.io"}, "secret"),
        ({"type": "webhook", "webhook_url": "file:///etc/passwd"}, "scheme 'file'"),
        ({"type": "outbox", "when": "run.status = 'x'"}, "when"),
        ({"type": "outbox", "subject": "{{ run.flow_id + 1 }}"}, "subject"),
    ],
)
def test_bad_configs_say_what_is_wrong(
    config: dict[str, Any], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MHI_ALLOW_LOOPBACK_URLS")  # a deployment's default
    with pytest.raises(ValidationError) as e:
        NotificationsConfig.model_validate(config)
    assert problem in str(e.value)


def test_loopback_http_is_allowed_where_the_deployment_says_so() -> None:
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


@pytest.mark.parametrize(
    ("region", "host"), [("eu", "api.eu.mailgun.net"), ("us", "api.mailgun.net")]
)
def test_mailgun_region_picks_the_endpoint(tmp_path: Any, region: str, host: str) -> None:
    """The name resolves (through the injected resolver) to a listener on 127.0.0.1 that plays
    the part: the connection goes to the checked address, TLS names the region's host."""
    seen = _TlsListener()
    asked: list[str] = []

    def resolve(name: str, port: int) -> list[str]:
        asked.append(name)
        return ["127.0.0.1"]

    kind = make_notifications(NotifyOptions(sleep=lambda s: None, resolver=resolve))
    harness = Harness(
        tmp_path,
        {"mailgun-api-key": "key-0123456789"},
        settings_extra={"MHI_MAILGUN_BASE_URL": f"https://{host}:{seen.port}"},
    )
    config = {
        "type": "email",
        "recipients": "a@x.com",
        "mailgun_domain": "mg.hotel.example",
        "mailgun_region": region,
        "max_attempts": 1,
    }
    try:
        cb = harness.run(kind, harness.message("ms-notifications", config))
    finally:
        hello = seen.close()
    assert asked == [host] and host.encode() in hello  # SNI: the region's host
    assert cb.output["failed"] == 1  # the listener speaks no TLS


class _TlsListener:
    """Accepts one connection on 127.0.0.1 and keeps its first bytes (a TLS ClientHello)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                self.data = conn.recv(4096)

    def close(self) -> bytes:
        self.thread.join(timeout=10)
        self.sock.close()
        return self.data


def test_terraform_grants_exactly_the_secrets_the_steps_read() -> None:
    assert BY_TYPE["ms-notifications"].secrets == (
        "mailgun-api-key",
        "mailgun-base-url",
        "slack-webhook-url",
        "webhook-secret",
    )
    assert BY_TYPE["ms-qlik-app-reload"].secrets == (
        "qlik-api-key",
        "qlik-automation-token",
        "qlik-ca-cert",
        "qlik-client-cert",
        "qlik-client-key",
        "qlik-qrs-base-url",
    )
