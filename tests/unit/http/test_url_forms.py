"""Every hostile URL form against every URL a flow can set (refused at validation) and every URL
an operator sets (refused at connect time); a live listener on 127.0.0.1, with loopback not
allowed, sees no connection at all, so no credential ever reaches it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mhi.catalog import config_model, load_kind
from mhi.connectors import http as connectors_http
from mhi.model.messages import CallbackStatus
from mhi.notify import NotifyOptions, make_notifications
from mhi.qlik import QlikOptions, make_app_reload, make_automation
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.http.forms import HOSTILE, LOOPBACK_AT_PORT

CREDENTIALS = {
    "avalon-api-key": "avalon-key-SECRET-1",
    "mailgun-api-key": "mailgun-key-SECRET-2",
    "qlik-api-key": "qlik-key-SECRET-3",
    "webhook-secret": "whsec_U0VDUkVULXdlYmhvb2stc2lnbmluZy1rZXktMzJieXQ=",
}
APP = "116dbfae-7fb9-4983-8e23-5ccd8c508722"

# Every URL a flow can set: (step type, a config carrying the URL, the field an error names).
FLOW_URLS = [
    ("ms-notifications", lambda u: {"type": "webhook", "webhook_url": u}, "webhook_url"),
    (
        "ms-notifications",
        lambda u: {"type": "webhook", "webhook_url": ["https://ok.example.com/", u]},
        "webhook_url",
    ),
    (
        "ms-notifications",
        lambda u: {"type": "email", "recipients": "a@x.com", "mailgun_api_url": u},
        "mailgun_api_url",
    ),
    ("ms-qlik-app-reload", lambda u: {"tenant_url": u, "apps": APP}, "tenant_url"),
    (
        "ms-qlik-app-reload",
        lambda u: {"backend": "qrs", "tasks": "T", "qrs": {"server_url": u}},
        "server_url",
    ),
    ("ms-qlik-automation", lambda u: {"tenant_url": u, "automation_id": "a1"}, "tenant_url"),
    ("ms-extractor-avalon", lambda u: {"base_url": u}, "base_url"),
    ("ms-extractor-avalon", lambda u: {"token_url": u, "auth_scheme": "oauth2"}, "token_url"),
    ("ms-extractor-holded", lambda u: {"base_url": u}, "base_url"),
    (
        "ms-extractor-businesscentral",
        lambda u: {
            "tenant_id": "t",
            "company_id": "7c1a0000-0000-0000-0000-000000000001",
            "token_url": u,
        },
        "token_url",
    ),
    (
        "ms-extractor-ulysescloud",
        lambda u: {"chain_id": 1, "property_id": 2, "environment": u},
        "environment",
    ),
]


@pytest.mark.parametrize("url", HOSTILE)
@pytest.mark.parametrize(("step_type", "config", "field"), FLOW_URLS, ids=lambda x: str(x)[:40])
def test_every_url_a_flow_can_set_refuses_every_hostile_form(
    step_type: str, config: Any, field: str, url: str
) -> None:
    with pytest.raises(ValidationError) as e:
        config_model(step_type).model_validate(config(url))
    assert field in str(e.value)


def test_a_public_https_webhook_is_accepted() -> None:
    model = config_model("ms-notifications")
    config = model.model_validate({"type": "webhook", "webhook_url": "https://hooks.example.com/x"})
    assert config.webhook_url == ["https://hooks.example.com/x"]  # type: ignore[attr-defined]


class Listener:
    """A TCP listener on 127.0.0.1 that counts every connection and keeps what it is sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self.received += conn.recv(65536)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    live = Listener()
    yield live
    live.close()


def _resolve_to_loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def _operator_cases(url: str, tmp_path: Path) -> list[tuple[str, Harness, Any, dict[str, Any]]]:
    """Each operator-set URL pointed at `url`, loopback not allowed (a deployment's default)."""
    harness = Harness(tmp_path / "h1", dict(CREDENTIALS), allow_loopback=False)
    harness.set_secret("avalon-base-url", url)
    harness.set_secret("slack-webhook-url", url)
    harness.set_secret("qlik-qrs-base-url", url)
    mailgun = Harness(
        tmp_path / "h2",
        dict(CREDENTIALS),
        settings_extra={"MHI_MAILGUN_BASE_URL": url},
        allow_loopback=False,
    )
    notify = make_notifications(NotifyOptions(sleep=lambda s: None))
    reload = make_app_reload(QlikOptions(sleep=lambda s: None))
    return [
        ("extractor", harness, load_kind("ms-extractor-avalon"), {"datasets": ["reservations"]}),
        ("slack", harness, notify, {"type": "slack"}),
        ("qrs", harness, reload, {"backend": "qrs", "tasks": "T", "qrs": {"auth": "jwt"}}),
        ("mailgun", mailgun, notify, {"type": "email", "recipients": "a@x.com",
                                      "mailgun_domain": "mg.example.com"}),
    ]  # fmt: skip


def _refused(harness: Harness, kind: Any, config: dict[str, Any]) -> str:
    cb = harness.run(kind, harness.message(kind.type, config))
    if cb.status == CallbackStatus.FAILED:
        assert cb.error is not None
        return cb.error.message
    (delivery,) = cb.output["deliveries"]  # notifications report, they do not fail
    assert delivery["status"] == "failed"
    return str(delivery["error"])


@pytest.mark.parametrize("form", LOOPBACK_AT_PORT)
def test_a_live_loopback_listener_is_never_reached(
    form: str, listener: Listener, tmp_path: Path
) -> None:
    url = form.format(port=listener.port)
    for name, harness, kind, config in _operator_cases(url, tmp_path):
        message = _refused(harness, kind, config)
        assert "loopback" in message or "https" in message, (name, message)
        for value in CREDENTIALS.values():
            assert value not in message
    for step_type, config, _ in FLOW_URLS:
        with pytest.raises(ValidationError):
            config_model(step_type).model_validate(config(url))
    listener.close()
    assert (listener.connections, listener.received) == (0, b"")


def test_names_that_resolve_to_loopback_are_refused_at_connect_time(
    listener: Listener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation passes (no DNS there); the resolved address is checked before connecting."""
    monkeypatch.setattr(connectors_http, "resolver", _resolve_to_loopback)
    harness = Harness(tmp_path, dict(CREDENTIALS), allow_loopback=False)
    harness.set_secret("avalon-base-url", f"https://avalon.example-hotel.com:{listener.port}")
    extractor = load_kind("ms-extractor-avalon")
    notify = make_notifications(NotifyOptions(resolver=_resolve_to_loopback))
    automation = make_automation(QlikOptions(resolver=_resolve_to_loopback))
    cases: list[tuple[Any, dict[str, Any]]] = [
        (extractor, {"datasets": ["reservations"]}),
        (notify, {"type": "webhook", "webhook_url": f"https://hooks.example.com:{listener.port}/"}),
        (automation, {"tenant_url": f"https://acme.eu.qlikcloud.com:{listener.port}",
                      "automation_id": "a1"}),
    ]  # fmt: skip
    for kind, config in cases:
        message = _refused(harness, kind, config)
        assert "resolves to 127.0.0.1, which is a loopback address" in message, message
    listener.close()
    assert (listener.connections, listener.received) == (0, b"")
