"""Channel payloads: Slack Block Kit blocks, the signed webhook's JSON body and the
`multipart/form-data` body Mailgun takes when a mail carries inline images."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from mhi.notify.render import Message, figures
from mhi.steps.sdk import StepContext

SLACK_TEXT_LIMIT = 2900  # a section's text may hold 3000 characters
MAX_SLACK_STEPS = 40


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ICONS = {"succeeded": ":white_check_mark:", "failed": ":x:", "skipped": ":fast_forward:"}


def slack_blocks(message: Message) -> list[dict[str, Any]]:
    """Return Block Kit blocks: the subject, the run facts, one line per step."""
    run = message.context["run"]
    facts = [f"*{_slack_escape(message.subject)}*"]
    for key in ("flow_id", "account", "id", "status", "failed_step", "error"):
        if run.get(key):
            facts.append(f"{key.replace('_', ' ')}: {_slack_escape(str(run[key]))}")
    blocks: list[dict[str, Any]] = [_section("\n".join(facts))]
    lines = []
    for sid, step in list(message.context["steps"].items())[:MAX_SLACK_STEPS]:
        icon = _ICONS.get(str(step.get("status")), ":small_blue_diamond:")
        error = step.get("error") if isinstance(step.get("error"), dict) else None
        detail = error.get("message") if error else figures(step.get("output"))
        status = f" {step['status']}" if step.get("status") else ""
        lines.append(_slack_escape(f"{sid}{status}" + (f": {detail}" if detail else "")))
        lines[-1] = f"{icon} {lines[-1]}"
    if lines:
        blocks.append(_section("\n".join(lines)))
    return blocks


def _section(text: str) -> dict[str, Any]:
    if len(text) > SLACK_TEXT_LIMIT:
        text = text[: SLACK_TEXT_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def webhook_payload(ctx: StepContext, message: Message) -> dict[str, Any]:
    """Return the webhook body: `{type, timestamp, data}` (Standard Webhooks shape)."""
    run = {k: v for k, v in message.context["run"].items() if k != "summary"}
    flow_level = "_run" in ctx.upstream
    data: dict[str, Any] = {
        "event": run.get("event"),
        "subject": message.subject,
        "text": message.text,
        "run": run,
    }
    if not flow_level:
        data["upstream"] = {sid: s.get("output") for sid, s in message.context["steps"].items()}
    return {
        "type": "mhi.run.finished" if flow_level else "mhi.notification",
        "timestamp": ctx.services.clock.now().isoformat(),
        "data": data,
    }


def _quoted(value: str) -> str:
    """A form-data parameter value: quoted, its quotes and line breaks escaped (WHATWG)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def form_data(
    fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, str, str, bytes]]
) -> tuple[str, bytes]:
    """Return (content type, body) of a `multipart/form-data` request (RFC 7578): text fields
    in order, then files as (field, filename, content type, bytes). Mailgun reads attachments
    and `inline` images only from such a body."""
    boundary = f"mhi-{secrets.token_hex(16)}"
    out = bytearray()
    for name, value in fields:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode()
        out += value.encode() + b"\r\n"
    for name, filename, content_type, data in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"; '
            f'filename="{_quoted(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)
