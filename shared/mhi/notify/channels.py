"""Channels: Mailgun email, Slack incoming webhook, signed webhook, local outbox.

Each delivery returns a `Delivery` (never raises for a remote failure): status, tries, the
provider's id or the file written, and an error message that names no secret.
"""

from __future__ import annotations

import email.policy
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import requests

from mhi.errors import OrchestratorError
from mhi.notify import signing
from mhi.notify.config import NotificationsConfig
from mhi.notify.render import Message
from mhi.qlik.http import (
    Outcome,
    RetryPolicy,
    body_excerpt,
    check_url,
    hide_in_library_logs,
    public_label,
    send,
    tries,
)
from mhi.steps.sdk import StepContext

logger = logging.getLogger(__name__)

# Long subjects stay on one header line (998 is the RFC 5322 limit).
_MAIL_POLICY = email.policy.default.clone(max_line_length=998)
MAILGUN_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


@dataclass
class Delivery:
    """The outcome of one delivery to one recipient on one channel."""

    channel: str
    recipient: str
    status: str  # sent | failed | in_progress
    tries: int = 0
    id: str | None = None
    uri: str | None = None
    http_status: int | None = None
    error: str | None = None
    transient: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (None fields left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}


@dataclass
class Budget:
    """Time allowed for the whole step, shared by every delivery: sleeping between retries
    (`seconds`) and wall time (`wall_seconds`, so a slow endpoint cannot outlast the function)."""

    seconds: float
    max_attempts: int
    sleep: Callable[[float], None]
    wall_seconds: float = 90.0
    spent: float = field(default=0.0)
    started: float = field(default_factory=time.monotonic)

    def exhausted(self) -> bool:
        """Whether the step has used up its wall time."""
        return time.monotonic() - self.started >= self.wall_seconds

    def policy(self) -> RetryPolicy:
        """Return the retry policy for the next delivery (what is left of the budget)."""
        left = max(0.0, self.seconds - self.spent)
        return RetryPolicy(max_tries=self.max_attempts, budget_seconds=left, sleep=self.sleep)

    def charge(self, outcome: Outcome) -> None:
        """Account for the sleeping one delivery did."""
        self.spent += outcome.waited


def _from_http(channel: str, recipient: str, outcome: Outcome, service: str) -> Delivery:
    """Translate a finished HTTP exchange into a delivery outcome."""
    r = outcome.response
    if r is None:
        msg = f"{service}: {outcome.error} after {tries(outcome.tries)}"
        return Delivery(channel, recipient, "failed", outcome.tries, error=msg, transient=True)
    if r.status_code < 300:
        return Delivery(channel, recipient, "sent", outcome.tries, http_status=r.status_code)
    detail = body_excerpt(r, 200)
    if r.status_code in (401, 403):
        msg = f"{service} rejected the credentials (HTTP {r.status_code}): {detail}"
    elif r.status_code == 429:
        wait = f", Retry-After {outcome.retry_after:g}s" if outcome.retry_after is not None else ""
        msg = f"{service} rate limited (HTTP 429{wait}) after {tries(outcome.tries)}"
    else:
        msg = f"{service}: HTTP {r.status_code} after {tries(outcome.tries)}: {detail}"
    transient = r.status_code == 429 or r.status_code >= 500
    return Delivery(
        channel, recipient, "failed", outcome.tries, None, None, r.status_code, msg, transient
    )


class Channels:
    """Delivers one rendered message on each channel."""

    def __init__(
        self,
        ctx: StepContext,
        config: NotificationsConfig,
        session: requests.Session,
        budget: Budget,
    ) -> None:
        self.ctx, self.config, self.session, self.budget = ctx, config, session, budget

    def _post(self, url: str, idempotent: bool, **kwargs: Any) -> Outcome:
        if self.budget.exhausted():
            limit = f"{self.budget.wall_seconds:g}s"
            return Outcome(None, 0, f"not attempted: the step's time budget ({limit}) is used up")
        policy = self.budget.policy()
        outcome = send(
            self.session,
            "POST",
            url,
            policy,
            timeout=self.config.request_timeout_seconds,
            idempotent=idempotent,
            **kwargs,
        )
        self.budget.charge(outcome)
        return outcome

    # ---- email ---------------------------------------------------------------------------

    def email_transport(self) -> str:
        """Return `mailgun` or `outbox` for the email channel."""
        if self.config.email_transport != "auto":
            return self.config.email_transport
        if self._mailgun_domain() or self.ctx.services.settings.backend != "local":
            return "mailgun"
        return "outbox"

    def _setting(self, name: str) -> str | None:
        return self.ctx.services.settings.extra.get(name) or None

    def _mailgun_domain(self) -> str | None:
        return self.config.mailgun_domain or self._setting("MHI_MAILGUN_DOMAIN")

    def _mailgun_base(self) -> str:
        if self.config.mailgun_api_url:
            return self.config.mailgun_api_url
        region = self.config.mailgun_region or self._setting("MHI_MAILGUN_REGION") or "us"
        if region not in MAILGUN_URLS:
            raise OrchestratorError(f"MHI_MAILGUN_REGION must be 'us' or 'eu', not {region!r}")
        return MAILGUN_URLS[region]

    def sender(self, domain: str | None) -> str:
        """Return the From address: config, MHI_MAIL_FROM, or `MHI Orchestrator <mhi@domain>`."""
        chosen = self.config.sender or self._setting("MHI_MAIL_FROM")
        return chosen or f"MHI Orchestrator <mhi@{domain or 'localhost'}>"

    def mailgun(self, recipient: str, message: Message) -> Delivery:
        """Send one email through Mailgun's HTTP API."""
        domain = self._mailgun_domain()
        if not domain:
            return Delivery(
                "email",
                recipient,
                "failed",
                error=(
                    "no Mailgun domain: set mailgun_domain in the notification or "
                    "MHI_MAILGUN_DOMAIN"
                ),
            )
        key = self.ctx.secret("mailgun-api-key")
        url = check_url(f"{self._mailgun_base()}/v3/{domain}/messages", "mailgun endpoint")
        data = [
            ("from", self.sender(domain)),
            ("to", recipient),
            ("subject", message.subject),
            ("text", message.text),
            ("html", message.html),
            ("o:tag", "mhi"),
            ("v:run_id", self.ctx.run_id),
            ("v:flow_id", self.ctx.flow_id),
        ]
        if self.config.reply_to:
            data.append(("h:Reply-To", self.config.reply_to))
        if self.config.mailgun_test_mode:
            data.append(("o:testmode", "yes"))
        outcome = self._post(url, False, auth=("api", key), data=data)
        delivery = _from_http("email", recipient, outcome, "Mailgun")
        if delivery.status == "sent" and outcome.response is not None:
            delivery.id = _json_field(outcome.response, "id")
        elif outcome.response is not None and outcome.response.status_code == 404:
            delivery.error = f"{delivery.error} (domain {domain!r} unknown in this Mailgun region?)"
        return delivery

    def outbox(self, channel: str, recipient: str | None, message: Message) -> Delivery:
        """Write the message as an .eml file under `outbox/<account>/...` (embedded default)."""
        m = self.ctx.message
        name = _slug(recipient) if recipient else "notification"
        key = f"outbox/{m.account}/{m.flow_id}/{m.run_id}/{m.step_id}/{name}.eml"
        mail = EmailMessage(policy=_MAIL_POLICY)
        mail["From"] = self.sender(self._mailgun_domain())
        mail["To"] = recipient or "undisclosed-recipients:;"
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(self.ctx.services.clock.now())
        mail["Message-ID"] = make_msgid(domain="mhi.local")
        mail["X-MHI-Run"] = m.run_id
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        uri = self.ctx.services.blobs.write_bytes(key, bytes(mail), "message/rfc822")
        return Delivery(channel, recipient or "outbox", "sent", 1, uri=uri)

    # ---- slack ---------------------------------------------------------------------------

    def slack_targets(self) -> list[tuple[str, str]]:
        """Return (label, url) of each Slack webhook from secret `slack-webhook-url`.

        The secret holds one URL, or a JSON object mapping names to URLs (`slack_channels`
        picks names). Labels never contain the URL: the URL is the secret.
        """
        raw = self.ctx.secret("slack-webhook-url").strip()
        if not raw.startswith("{"):
            return [("slack", raw)]
        try:
            hooks = json.loads(raw)
        except json.JSONDecodeError:
            raise OrchestratorError(
                "secret slack-webhook-url: not a URL nor a JSON object"
            ) from None
        names = self.config.slack_channels or (list(hooks) if len(hooks) == 1 else [])
        if not names:
            raise OrchestratorError(
                f"slack_channels: choose among the hooks in secret slack-webhook-url: "
                f"{', '.join(sorted(hooks))}"
            )
        unknown = [n for n in names if n not in hooks]
        if unknown:
            raise OrchestratorError(f"slack_channels: {', '.join(unknown)} not in the secret")
        return [(f"slack:{n}", str(hooks[n])) for n in names]

    def slack(self, label: str, url: str, message: Message, blocks: list[Any]) -> Delivery:
        """Post to one Slack incoming webhook (success is HTTP 200 with body `ok`)."""
        try:
            check_url(url, f"secret slack-webhook-url ({label})", allow_private=False)
        except OrchestratorError as e:
            return Delivery("slack", label, "failed", error=str(e))
        hide_in_library_logs(url)
        payload = {"text": f"{message.subject}\n{message.text}"[:3000], "blocks": blocks}
        return _from_http("slack", label, self._post(url, False, json=payload), "Slack")

    # ---- webhook -------------------------------------------------------------------------

    def webhook(self, url: str, payload: dict[str, Any], secret: str) -> Delivery:
        """POST the JSON payload, signed per Standard Webhooks (receivers dedupe on the id)."""
        m = self.ctx.message
        msg_id = "msg_" + hashlib.sha256(f"{m.run_id}/{m.step_id}/{url}".encode()).hexdigest()[:24]
        body = json.dumps(payload, default=str, separators=(",", ":")).encode()
        stamp = int(self.ctx.services.clock.now().timestamp())
        try:
            signed = signing.headers(secret, msg_id, stamp, body)
        except signing.SignatureError as e:
            label = public_label(url)
            return Delivery("webhook", label, "failed", error=f"secret webhook-secret: {e}")
        headers = {"Content-Type": "application/json", "User-Agent": "mhi-orchestrator", **signed}
        outcome = self._post(url, True, data=body, headers=headers)
        delivery = _from_http("webhook", public_label(url), outcome, "webhook")
        delivery.id = msg_id
        return delivery


def _json_field(response: requests.Response, name: str) -> str | None:
    try:
        value = response.json().get(name)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text).strip("_")[:120] or "recipient"
