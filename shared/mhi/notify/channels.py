"""Channels: Mailgun email, Slack incoming webhook, signed webhook, local outbox.

Each delivery returns a `Delivery` (never raises for a remote failure): status, tries, the
provider's id or the file written, and an error message that names no secret. Every call goes
through the one outbound client (`mhi.http`): the Mailgun key only to Mailgun's hosts
(`api.mailgun.net`, `api.eu.mailgun.net`, or the operator's `mailgun-base-url`), the Slack hook
only to `hooks.slack.com` (`MHI_SLACK_HOSTS` replaces it), webhooks to any public https host.
A signed webhook gets a fresh timestamp and signature on every try (Standard Webhooks).
"""

from __future__ import annotations

import base64
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
from urllib.parse import quote, urlsplit

import mhi.notify.signing as signing
from mhi.errors import OrchestratorError
from mhi.http import Call, Destination, HostScope, OutboundClient, Outcome, RetryRules
from mhi.http.answers import body_excerpt, tries
from mhi.http.endpoints import configured_url, host_scope, optional_secret
from mhi.http.policy import UrlPolicy
from mhi.notify.config import NotificationsConfig
from mhi.notify.payloads import form_data
from mhi.notify.render import Message, inline_images
from mhi.steps.sdk import StepContext

logger = logging.getLogger(__name__)

# Long subjects stay on one header line (998 is the RFC 5322 limit).
_MAIL_POLICY = email.policy.default.clone(max_line_length=998)
MAILGUN_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
MAILGUN_HOSTS = ("api.mailgun.net", "api.eu.mailgun.net")
SLACK_HOSTS = ("hooks.slack.com",)


def public_label(url: str) -> str:
    """Return `scheme://host/path` of a URL (no query, no credentials) for outputs and logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


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

    def rules(self, idempotent: bool) -> RetryRules:
        """Return the retry rules for the next delivery (what is left of the budget)."""
        left = max(0.0, self.seconds - self.spent)
        return RetryRules(max_tries=self.max_attempts, budget_seconds=left, idempotent=idempotent)

    def charge(self, outcome: Outcome) -> None:
        """Account for the sleeping one delivery did."""
        self.spent += outcome.waited


def _from_http(channel: str, recipient: str, outcome: Outcome, service: str) -> Delivery:
    """Translate a finished HTTP exchange into a delivery outcome."""
    r = outcome.response
    if r is None:
        msg = f"{service}: {outcome.error} after {tries(outcome.tries)}"
        return Delivery(channel, recipient, "failed", outcome.tries, error=msg, transient=True)
    if r.status < 300:
        return Delivery(channel, recipient, "sent", outcome.tries, http_status=r.status)
    detail = body_excerpt(r, 200)
    if r.status in (401, 403):
        msg = f"{service} rejected the credentials (HTTP {r.status}): {detail}"
    elif r.status == 429:
        wait = f", Retry-After {outcome.retry_after:g}s" if outcome.retry_after is not None else ""
        msg = f"{service} rate limited (HTTP 429{wait}) after {tries(outcome.tries)}"
    elif r.status < 400:
        msg = f"{service}: HTTP {r.status}: redirects are not followed"
    else:
        msg = f"{service}: HTTP {r.status} after {tries(outcome.tries)}: {detail}"
    transient = r.status == 429 or r.status >= 500
    return Delivery(
        channel, recipient, "failed", outcome.tries, None, None, r.status, msg, transient
    )


class Channels:
    """Delivers one rendered message on each channel."""

    def __init__(
        self,
        ctx: StepContext,
        config: NotificationsConfig,
        outbound: OutboundClient,
        budget: Budget,
    ) -> None:
        self.ctx, self.config, self.outbound, self.budget = ctx, config, outbound, budget
        self.settings = ctx.services.settings

    def _post(
        self,
        service: str,
        scope: HostScope | None,
        build: Callable[[], Call],
        idempotent: bool,
        secrets: tuple[str, ...] = (),
    ) -> Outcome:
        if self.budget.exhausted():
            limit = f"{self.budget.wall_seconds:g}s"
            return Outcome(None, 0, f"not attempted: the step's time budget ({limit}) is used up")
        timeout = self.config.request_timeout_seconds
        dest = Destination(service, scope, timeout, secrets=secrets)
        outcome = self.outbound.send(dest, build, self.budget.rules(idempotent))
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

    def _mailgun_base(self) -> tuple[str, HostScope]:
        """The region's endpoint (or the operator's), and where the key may go."""
        region = self.config.mailgun_region or self._setting("MHI_MAILGUN_REGION") or "us"
        if region not in MAILGUN_URLS:
            raise OrchestratorError(f"MHI_MAILGUN_REGION must be 'us' or 'eu', not {region!r}")
        secret = optional_secret(self.ctx.secret)
        found = configured_url(
            self.settings, "mailgun", "base-url", secret, "mailgun-base-url", MAILGUN_URLS[region]
        )
        assert found is not None  # there is a default
        extra = [found.url] if found.by_operator else []
        return found.url, host_scope(self.settings, "mailgun", MAILGUN_HOSTS, extra)

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
        base, scope = self._mailgun_base()
        url = f"{base}/v3/{quote(domain, safe='')}/messages"
        # charts go as `inline` parts named in the page as cid:<filename> (Gmail blocks data:)
        page, images = inline_images(message.html, "chart{n}.png")
        data = [
            ("from", self.sender(domain)),
            ("to", recipient),
            ("subject", message.subject),
            ("text", message.text),
            ("html", page),
            ("o:tag", "mhi"),
            ("v:run_id", self.ctx.run_id),
            ("v:flow_id", self.ctx.flow_id),
        ]
        if self.config.reply_to:
            data.append(("h:Reply-To", self.config.reply_to))
        if self.config.mailgun_test_mode:
            data.append(("o:testmode", "yes"))
        basic = base64.b64encode(f"api:{key}".encode()).decode()
        content_type = "application/x-www-form-urlencoded"
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in data).encode()
        if images:
            files = [("inline", cid, "image/png", png) for cid, png in images]
            content_type, body = form_data(data, files)
        headers = {"Authorization": f"Basic {basic}", "Content-Type": content_type}
        outcome = self._post(
            "Mailgun", scope, lambda: Call("POST", url, {}, headers, body), False, (key, basic)
        )
        delivery = _from_http("email", recipient, outcome, "Mailgun")
        if delivery.status == "sent" and outcome.response is not None:
            delivery.id = _json_field(outcome.response.body, "id")
        elif outcome.response is not None and outcome.response.status == 404:
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
        page, images = inline_images(message.html)  # charts as related parts, not data URIs
        mail.add_alternative(page, subtype="html")
        html_part = mail.get_body(("html",))
        for cid, data in images:
            if html_part is not None:
                html_part.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>")
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
        scope = host_scope(self.settings, "slack", SLACK_HOSTS)
        what = f"secret slack-webhook-url ({label})"
        try:
            UrlPolicy.from_settings(self.settings).check(url, what, scope)
        except OrchestratorError as e:
            return Delivery("slack", label, "failed", error=str(e))
        payload = {"text": f"{message.subject}\n{message.text}"[:3000], "blocks": blocks}
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        hidden = (url, urlsplit(url).path)  # the URL is the secret
        outcome = self._post(
            what, scope, lambda: Call("POST", url, {}, headers, body), False, hidden
        )
        return _from_http("slack", label, outcome, "Slack")

    # ---- webhook -------------------------------------------------------------------------

    def webhook(self, url: str, payload: dict[str, Any], secret: str) -> Delivery:
        """POST the JSON payload, signed per Standard Webhooks (receivers dedupe on the id);
        every try carries a fresh timestamp and signature, the id stays the same."""
        m = self.ctx.message
        msg_id = "msg_" + hashlib.sha256(f"{m.run_id}/{m.step_id}/{url}".encode()).hexdigest()[:24]
        body = json.dumps(payload, default=str, separators=(",", ":")).encode()
        try:
            signing.secret_key(secret)
        except signing.SignatureError as e:
            label = public_label(url)
            return Delivery("webhook", label, "failed", error=f"secret webhook-secret: {e}")

        def build() -> Call:
            stamp = int(self.ctx.services.clock.now().timestamp())
            signed = signing.headers(secret, msg_id, stamp, body)
            return Call("POST", url, {}, {"Content-Type": "application/json", **signed}, body)

        outcome = self._post("webhook", None, build, True)
        delivery = _from_http("webhook", public_label(url), outcome, "webhook")
        delivery.id = msg_id
        return delivery


def _json_field(body: bytes, name: str) -> str | None:
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text).strip("_")[:120] or "recipient"
