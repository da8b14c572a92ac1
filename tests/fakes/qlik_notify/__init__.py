"""Imitation Qlik Cloud, Qlik Sense QRS, Mailgun, Slack and webhook-receiver servers (loopback)."""

from __future__ import annotations

from tests.fakes.qlik_notify.messaging import FakeMailgun, FakeSlack, WebhookReceiver
from tests.fakes.qlik_notify.qlik import FakeQlikCloud, FakeQrs, Script, Task
from tests.fakes.qlik_notify.server import FakeServer, Reply, Request

__all__ = [
    "FakeMailgun",
    "FakeQlikCloud",
    "FakeQrs",
    "FakeServer",
    "FakeSlack",
    "Reply",
    "Request",
    "Script",
    "Task",
    "WebhookReceiver",
]
