"""Channel payloads: Slack Block Kit blocks and the signed webhook's JSON body."""

from __future__ import annotations

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
