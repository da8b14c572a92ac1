"""Notifications: email (Mailgun), Slack, signed webhooks and a local outbox, with templates."""

from __future__ import annotations

from shared.notify.config import NotificationsConfig
from shared.notify.signing import SignatureError, sign, verify
from shared.notify.steps import NOTIFICATIONS, NotifyOptions, make_notifications

__all__ = [
    "NOTIFICATIONS",
    "NotificationsConfig",
    "NotifyOptions",
    "SignatureError",
    "make_notifications",
    "sign",
    "verify",
]
