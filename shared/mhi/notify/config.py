"""Config of `ms-notifications`: in-flow steps and the flow-level `notifications` blocks.

The seed's block `{"type": ["email"], "recipients": "data-team@example.com"}` is valid as is;
the controller adds `"event": "success" | "fail"` for flow-level notifications (`"sla"` for a
flow's SLA notification).

`webhook_url` is the only URL a flow sets here: it must pass the URL policy (`mhi.http.policy`:
https, a public address in every spelling). Mailgun's endpoint is the region's (or the
operator's secret `mailgun-base-url` / setting `MHI_MAILGUN_BASE_URL`), Slack's is the secret
`slack-webhook-url`: the API key and the hook never go where a flow says.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mhi.http.policy import valid_url
from mhi.model import expr

Channel = Literal["email", "slack", "webhook", "outbox"]
_ADDRESS = r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+"
EMAIL_RE = re.compile(rf"^(?:{_ADDRESS}|[^<>@,;]*<{_ADDRESS}>)$")
MAX_RECIPIENTS = 50


def _split(value: Any) -> Any:
    """Accept a string (comma or semicolon separated) or a list."""
    if isinstance(value, str):
        return [p.strip() for p in re.split(r"[,;]", value) if p.strip()]
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class NotificationsConfig(BaseModel):
    """Where and what to notify. Unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Annotated[list[Channel], BeforeValidator(_as_list)] = Field(
        min_length=1, description="channels: email, slack, webhook, outbox (string or list)"
    )
    recipients: Annotated[list[str], BeforeValidator(_split)] = Field(
        default_factory=list,
        max_length=MAX_RECIPIENTS,
        description="email addresses (string, comma-separated string or list)",
    )
    event: Literal["success", "fail", "sla"] | None = Field(
        default=None, description="set by the controller for flow-level and SLA notifications"
    )
    when: str | None = Field(default=None, description="send only if this condition holds")
    subject: str | None = Field(default=None, max_length=998, description="subject template")
    body: str | None = Field(default=None, max_length=100_000, description="plain-text template")
    html: str | None = Field(default=None, max_length=200_000, description="HTML template")
    report: str | None = Field(
        default=None,
        max_length=500,
        description="artifact key of an HTML report written earlier in this run (e.g. "
        "ms-kpi-engine report: {{ steps.<id>.output.report_key }}), sent as the mail's HTML body",
    )
    sender: str | None = Field(default=None, alias="from", description="email From address")
    reply_to: str | None = Field(default=None, description="email Reply-To address")
    email_transport: Literal["auto", "mailgun", "outbox"] = Field(
        default="auto",
        description="auto: Mailgun when a domain is configured, else the local outbox (embedded)",
    )
    mailgun_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]{3,253}$",
        description="Mailgun sending domain (default: setting MHI_MAILGUN_DOMAIN)",
    )
    mailgun_region: Literal["us", "eu"] | None = Field(
        default=None, description="Mailgun API region (default: MHI_MAILGUN_REGION, else us)"
    )
    mailgun_api_url: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    mailgun_test_mode: bool = Field(default=False, description="Mailgun accepts but never sends")
    webhook_url: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        max_length=10,
        description="https endpoints of the webhook channel (public hosts only: no loopback, "
        "private, link-local or metadata address in any spelling)",
    )
    slack_channels: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        description="names in the slack-webhook-url secret when it maps names to URLs",
    )
    fail_on_error: bool = Field(
        default=False, description="fail the step when a delivery fails (default: report it)"
    )
    max_attempts: int = Field(default=4, ge=1, le=8, description="tries per delivery")
    max_retry_wait_seconds: float = Field(
        default=30.0, ge=0, le=300, description="total time the step may sleep between retries"
    )
    request_timeout_seconds: float = Field(
        default=10.0, ge=0.1, le=60, description="timeout of each delivery request"
    )
    max_total_seconds: float = Field(
        default=90.0,
        ge=0.1,
        le=500,
        description="wall time for every delivery together (the function has 120 s)",
    )

    @field_validator("type")
    @classmethod
    def _unique_channels(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not EMAIL_RE.match(r)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(map(repr, bad[:5]))}")
        return list(dict.fromkeys(value))

    @field_validator("webhook_url")
    @classmethod
    def _webhooks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [valid_url(u, f"webhook_url[{i}]", info.context) for i, u in enumerate(value)]

    @field_validator("mailgun_api_url")
    @classmethod
    def _mailgun_url(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "mailgun_api_url is not read from a flow (a flow may not choose where the "
                "Mailgun key goes): set the account's secret 'mailgun-base-url' or the "
                "deployment setting MHI_MAILGUN_BASE_URL (or mailgun_region), and remove it"
            )
        return None

    @field_validator("when")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                expr.parse(value)
            except expr.ExpressionError as e:
                raise ValueError(f"when {value!r}: {e}") from None
        return value

    @model_validator(mode="after")
    def _channel_needs(self) -> NotificationsConfig:
        if "email" in self.type and not self.recipients:
            raise ValueError("channel email needs recipients")
        if "webhook" in self.type and not self.webhook_url:
            raise ValueError("channel webhook needs webhook_url")
        for name in ("subject", "body", "html"):
            _check_template(name, getattr(self, name))
        return self


def _check_template(name: str, text: str | None) -> None:
    for expression in expr.template_expressions(text or ""):
        try:
            expr.parse(expression)
        except expr.ExpressionError as e:
            raise ValueError(f"{name}: {{{{{expression}}}}}: {e}") from None
