"""Step kind `ms-notifications`: in-flow notification steps and flow-level notifications.

Every delivery (channel x recipient) happens at most once per step message: it is reserved with
`ctx.claim` before sending and its outcome recorded after, so a duplicate delivery of the same
message reports the recorded outcome instead of sending again, and a later attempt re-sends only
what did not go out. A failed delivery is reported in the output; it fails the step only with
`fail_on_error: true`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from mhi.errors import OrchestratorError, StepExecutionError, UpstreamUnavailableError
from mhi.http import OutboundClient, UrlPolicy, redact
from mhi.http.policy import Resolver
from mhi.model import expr
from mhi.model.keys import claim_key
from mhi.notify.channels import Budget, Channels, Delivery
from mhi.notify.config import NotificationsConfig
from mhi.notify.payloads import slack_blocks, webhook_payload
from mhi.notify.render import (
    Message,
    TemplateError,
    build_context,
    default_message,
    render_message,
    with_report,
)
from mhi.steps.sdk import StepContext, StepKind

logger = logging.getLogger(__name__)

# Secret names this step reads (per account: `<account>--<name>`); terraform grants exactly these.
SECRETS = ("mailgun-api-key", "mailgun-base-url", "slack-webhook-url", "webhook-secret")
MARGIN_SECONDS = 5.0  # keep this much of the turn's deadline for reporting back


class NotificationError(StepExecutionError):
    """Deliveries failed and the config says `fail_on_error: true`."""

    kind = "notification_failed"


class NotificationUnavailableError(UpstreamUnavailableError):
    """Like NotificationError, but every failure was transient (a retry may succeed)."""

    kind = "notification_unavailable"


@dataclass(frozen=True)
class NotifyOptions:
    """Process-level knobs (tests shrink the sleeps)."""

    sleep: Callable[[float], None] = time.sleep
    resolver: Resolver | None = None  # None: the system resolver


def _claim_key(ctx: StepContext, attempt: int, name: str) -> str:
    return ctx.message.ref.key(claim_key(ctx.message.step_id, attempt, name))


def _recorded(ctx: StepContext, name: str, attempts: range) -> dict[str, Any] | None:
    for attempt in attempts:
        data = ctx.services.run_store.read(_claim_key(ctx, attempt, name))
        if data:
            return json.loads(data)  # type: ignore[no-any-return]
    return None


def deliver_once(
    ctx: StepContext, channel: str, recipient: str, send: Callable[[], Delivery]
) -> Delivery:
    """Run `send` at most once for this step message; replay the recorded outcome otherwise."""
    name = f"notify-{channel}-{hashlib.sha256(recipient.encode()).hexdigest()[:24]}"
    earlier = _recorded(ctx, f"{name}-result", range(1, ctx.attempt))
    if earlier and earlier.get("status") == "sent":  # an earlier attempt delivered it
        return Delivery(**earlier)
    token = uuid.uuid4().hex
    if ctx.claim(name, {"token": token})["token"] != token:
        done = _recorded(ctx, f"{name}-result", range(ctx.attempt, ctx.attempt + 1))
        if done is not None:
            return Delivery(**done)
        return Delivery(channel, recipient, "in_progress", error="another delivery is sending it")
    delivery = send()
    ctx.claim(f"{name}-result", delivery.to_dict())
    return delivery


def _guarded(
    channel: str, recipient: str, secrets: list[str], fn: Callable[[], Delivery]
) -> Delivery:
    try:
        return fn()
    except OrchestratorError as e:  # a missing secret, a refused URL, a bad setting
        return Delivery(channel, recipient, "failed", error=redact(str(e), secrets))


def _once(
    ctx: StepContext, channel: str, recipient: str, fn: Callable[[], Delivery], hide: list[str]
) -> Delivery:
    return deliver_once(ctx, channel, recipient, partial(_guarded, channel, recipient, hide, fn))


def _deliveries(
    ctx: StepContext, config: NotificationsConfig, channels: Channels, message: Message
) -> Iterator[Delivery]:
    for channel in config.type:
        if channel == "email" and channels.email_transport() == "mailgun":
            for r in config.recipients:
                yield _once(ctx, "email", r, partial(channels.mailgun, r, message), [])
        elif channel in ("email", "outbox"):
            # Files under a fixed key: writing twice gives the same result, no claim needed.
            recipients: list[str | None] = [*config.recipients] or [None]
            for who in recipients:
                fn = partial(channels.outbox, channel, who, message)
                yield _guarded(channel, who or "outbox", [], fn)
        elif channel == "slack":
            yield from _slack(ctx, channels, message)
        else:
            yield from _webhooks(ctx, config, channels, message)


def _slack(ctx: StepContext, channels: Channels, message: Message) -> Iterator[Delivery]:
    try:
        targets = channels.slack_targets()
    except OrchestratorError as e:
        yield Delivery("slack", "slack", "failed", error=str(e))
        return
    blocks = slack_blocks(message)
    for label, url in targets:
        yield _once(
            ctx, "slack", label, partial(channels.slack, label, url, message, blocks), [url]
        )


def _webhooks(
    ctx: StepContext, config: NotificationsConfig, channels: Channels, message: Message
) -> Iterator[Delivery]:
    payload = webhook_payload(ctx, message)

    def _send(url: str) -> Delivery:
        return channels.webhook(url, payload, ctx.secret("webhook-secret"))

    for url in config.webhook_url:
        yield _once(ctx, "webhook", url, partial(_send, url), [])


def _condition_holds(
    ctx: StepContext, config: NotificationsConfig, context: dict[str, Any]
) -> bool:
    if not config.when:
        return True
    try:
        return bool(expr.evaluate(expr.parse(config.when), context))
    except expr.ExpressionError as e:
        ctx.log.warning(
            "notification condition %r cannot be evaluated (%s): sending", config.when, e
        )
        return True  # a broken condition must not swallow a notification


def _message(
    ctx: StepContext, config: NotificationsConfig, context: dict[str, Any]
) -> tuple[Message, str | None]:
    try:
        message = render_message(config, context)
    except TemplateError as e:
        if config.fail_on_error:
            raise StepExecutionError(f"notification template: {e}") from None
        ctx.log.warning("notification template failed (%s): default template used", e)
        return default_message(context), str(e)
    return (_with_report(ctx, config.report, message) if config.report else message), None


def _with_report(ctx: StepContext, key: str, message: Message) -> Message:
    """Use a report page of this run's artifacts as the HTML body; raise when it is not there."""
    own = f"reports/{ctx.account}/{ctx.flow_id}/{ctx.run_id}/"
    if not key.startswith(own) or ".." in key or not key.endswith(".html"):
        raise StepExecutionError(f"report {key!r} is not an artifact of this run (under {own})")
    page = ctx.services.blobs.read_bytes(key)
    if page is None:
        raise StepExecutionError(f"report {key!r} does not exist: did the report step run?")
    return with_report(message, page.decode("utf-8"))


def _budget(ctx: StepContext, config: NotificationsConfig, options: NotifyOptions) -> Budget:
    left = (ctx.deadline - ctx.services.clock.now()).total_seconds() - MARGIN_SECONDS
    seconds = max(0.0, min(config.max_retry_wait_seconds, left))
    wall = max(0.0, min(config.max_total_seconds, left))
    return Budget(seconds, config.max_attempts, options.sleep, wall)


def _notify(
    ctx: StepContext, config: NotificationsConfig, options: NotifyOptions
) -> dict[str, Any]:
    context = build_context(ctx, config)
    out: dict[str, Any] = {"event": context["run"]["event"], "channels": list(config.type)}
    if not _condition_holds(ctx, config, context):
        return {
            **out,
            "skipped": True,
            "reason": f"condition is false: {config.when}",
            "sent": 0,
            "failed": 0,
            "deliveries": [],
        }
    message, template_error = _message(ctx, config, context)
    policy = UrlPolicy.from_settings(ctx.services.settings, options.resolver)
    with OutboundClient(policy, options.sleep) as outbound:
        channels = Channels(ctx, config, outbound, _budget(ctx, config, options))
        deliveries = list(_deliveries(ctx, config, channels, message))
    failed = [d for d in deliveries if d.status == "failed"]
    out.update(
        subject=message.subject,
        sent=sum(d.status == "sent" for d in deliveries),
        failed=len(failed),
        deliveries=[d.to_dict() for d in deliveries],
    )
    if template_error:
        out["template_error"] = template_error
    for d in failed:
        ctx.log.warning("notification to %s via %s failed: %s", d.recipient, d.channel, d.error)
    if failed and config.fail_on_error:
        lines = "; ".join(f"{d.channel} {d.recipient}: {d.error}" for d in failed)
        error = (
            NotificationUnavailableError if all(d.transient for d in failed) else NotificationError
        )
        raise error(f"{len(failed)} of {len(deliveries)} notifications failed: {lines}")
    return out


def make_notifications(options: NotifyOptions | None = None) -> StepKind[NotificationsConfig]:
    """Build the `ms-notifications` step kind (tests pass tiny sleeps)."""
    opts = options or NotifyOptions()

    def handler(ctx: StepContext, config: NotificationsConfig) -> dict[str, Any]:
        return _notify(ctx, config, opts)

    return StepKind(
        "ms-notifications",
        NotificationsConfig,
        handler,
        "Email (Mailgun), Slack, signed webhooks and a local outbox, with templates",
    )


NOTIFICATIONS: StepKind[NotificationsConfig] = make_notifications()
