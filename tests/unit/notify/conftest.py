"""Fixtures: imitation Mailgun, Slack and webhook receiver on loopback; a turn harness."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mhi.notify import NotifyOptions, make_notifications
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeMailgun, FakeSlack, WebhookReceiver
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.notify._values import DOMAIN, MAILGUN_KEY, WEBHOOK_SECRET


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config validation reads the deployment's settings: allow the imitation servers."""
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")


@pytest.fixture
def mailgun() -> Iterator[FakeMailgun]:
    server = FakeMailgun(MAILGUN_KEY, DOMAIN).start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(WEBHOOK_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def make_harness(tmp_path: Path, slack: FakeSlack, mailgun: FakeMailgun) -> Callable[..., Harness]:
    def build(**kw: object) -> Harness:
        secrets = {
            "mailgun-api-key": MAILGUN_KEY,
            "mailgun-base-url": mailgun.url,  # the operator points the account at the fake
            "slack-webhook-url": slack.hook_url,
            "webhook-secret": WEBHOOK_SECRET,
        }
        secrets.update(kw.pop("secrets", {}))  # type: ignore[arg-type]
        extra = {"MHI_SLACK_HOSTS": "127.0.0.1", **kw.pop("settings_extra", {})}  # type: ignore[dict-item]
        return Harness(tmp_path, secrets, settings_extra=extra, **kw)  # type: ignore[arg-type]

    return build


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def kind(sleeps: list[float]) -> StepKind:
    return make_notifications(NotifyOptions(sleep=sleeps.append))
