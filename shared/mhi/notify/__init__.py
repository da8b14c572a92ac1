"""Notifications: email (Mailgun), Slack, signed webhooks and a local outbox, with templates."""

from __future__ import annotations

from mhi.notify.config import NotificationsConfig
from mhi.notify.signing import SignatureError, sign, verify
from mhi.notify.steps import NOTIFICATIONS, NotifyOptions, make_notifications

__all__ = [
    "NOTIFICATIONS",
    "NotificationsConfig",
    "NotifyOptions",
    "SignatureError",
    "make_notifications",
    "sign",
    "verify",
]
