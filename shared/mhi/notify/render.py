"""Notification content: the template context, the default templates, safe rendering.

Templates use the product's `{{ path }}` placeholders over JSON data (no `eval`): roots `run`
(the run summary for flow-level notifications, ids and `status: running` inside a flow),
`steps` (by step id; `steps.<id>.output...` holds upstream outputs), `params` and `item`.
`{{ run.summary }}` is the default plain-text summary of every step.

Inside a flow, the engine renders `{{ ... }}` in a step's config before dispatch (with `run`,
`steps`, `params`, `item`), so in-flow templates see the engine's context; the flow-level
`notifications` blocks reach this step unrendered and are rendered here, with the run summary.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from mhi.model import expr
from mhi.notify.config import NotificationsConfig
from mhi.steps.sdk import StepContext

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STATUS_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "skipped": "#6e7781"}
MAX_FIGURES = 8


class TemplateError(ValueError):
    """A template refers to data that is not there, or cannot be rendered."""


@dataclass(frozen=True)
class Message:
    """What every channel sends, in the forms the channels need."""

    subject: str
    text: str
    html: str
    context: dict[str, Any]


def build_context(ctx: StepContext, config: NotificationsConfig) -> dict[str, Any]:
    """Return the template context of this notification."""
    summary = ctx.upstream.get("_run")
    if isinstance(summary, dict) and "steps" in summary:
        run = dict(summary)
        run["id"] = run.get("run_id", ctx.run_id)
        steps = {s["id"]: s for s in run.get("steps", []) if isinstance(s, dict) and "id" in s}
    else:
        run = {
            "id": ctx.run_id,
            "run_id": ctx.run_id,
            "flow_id": ctx.flow_id,
            "flow_name": ctx.flow_id,
            "account": ctx.account,
            "status": "running",
            "step_id": ctx.step_id,
        }
        steps = {sid: {"id": sid, "output": out} for sid, out in ctx.upstream.items()}
    run["event"] = config.event or ("success" if run.get("status") == "succeeded" else "info")
    context = {"params": ctx.params, "steps": steps, "run": run, "item": ctx.item}
    run["summary"] = default_text(context)
    return context


def render_message(config: NotificationsConfig, context: dict[str, Any]) -> Message:
    """Render subject, text and HTML: the config's templates, else the defaults.

    Raises:
        TemplateError: a template names data that is not in the context.
    """
    subject = default_subject(context)
    if config.subject:
        subject = " ".join(render(config.subject, context, "subject").split())
    text = render(config.body, context, "body") if config.body else None
    body_html = render(config.html, context, "html", escape=True) if config.html else None
    if text is None:
        text = _html_to_text(body_html) if body_html else default_text(context)
    if body_html is None:
        body_html = _text_to_html(text) if config.body else default_html(context)
    return Message(subject[:998], text, body_html, context)


_DATA_PNG = re.compile(r"src=(['\"])data:image/png;base64,([A-Za-z0-9+/=]+)\1")


def inline_images(
    page: str, name: str = "chart{n}@mhi.local"
) -> tuple[str, list[tuple[str, bytes]]]:
    """Move PNG data URIs out of a page: return it with `cid:` references, and the images
    (content id, bytes), for mail clients that block data URIs (Gmail among them). `name`
    spells the n-th content id (Mailgun's is the inline part's filename: `chart{n}.png`)."""
    images: list[tuple[str, bytes]] = []

    def _cid(match: re.Match[str]) -> str:
        cid = name.format(n=len(images) + 1)
        images.append((cid, base64.b64decode(match.group(2))))
        return f"src={match.group(1)}cid:{cid}{match.group(1)}"

    return _DATA_PNG.sub(_cid, page), images


def with_report(message: Message, page: str) -> Message:
    """Return the message with a ready HTML page as its HTML body (its text part the page's)."""
    return Message(message.subject, _html_to_text(page), page, message.context)


def default_message(context: dict[str, Any]) -> Message:
    """The message with every default template (the fallback when a template is broken)."""
    return Message(default_subject(context), default_text(context), default_html(context), context)


def render(template: str, context: dict[str, Any], name: str, *, escape: bool = False) -> str:
    """Replace every `{{ path }}`; HTML-escape the values when `escape`."""

    def _sub(match: re.Match[str]) -> str:
        try:
            value = expr.evaluate(expr.parse(match.group(1)), context)
        except expr.ExpressionError as e:
            raise TemplateError(f"{name}: {{{{{match.group(1).strip()}}}}}: {e}") from None
        text = _format(value)
        return html.escape(text) if escape else text

    return _PLACEHOLDER.sub(_sub, template)


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return str(value)


def default_subject(context: dict[str, Any]) -> str:
    """`[MHI] <flow>: <status> (<account>)`, naming the failed step when there is one."""
    run = context["run"]
    name = run.get("flow_name") or run.get("flow_id")
    account, status = run.get("account"), run.get("status")
    sla = run.get("sla") if run.get("event") == "sla" else None
    if isinstance(sla, dict):
        late = "NOT STARTED" if sla.get("not_started") else "LATE"
        return f"[MHI] {name}: {late} for its SLA deadline {sla.get('deadline')} ({account})"
    if status == "running":
        return f"[MHI] {name}: notification from step {run.get('step_id')} ({account})"
    if status == "failed" and run.get("failed_step"):
        return f"[MHI] {name}: FAILED at step {run['failed_step']} ({account})"
    shown = status if status == "succeeded" else str(status).upper()  # CANCELLED, TIMED_OUT
    return f"[MHI] {name}: {shown} ({account})"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return (
        f"{minutes} min {secs:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def figures(output: Any) -> str:
    """Key figures of a step output: its scalar values, one level deep, `name=value`."""
    if not isinstance(output, dict):
        return ""
    pairs: list[str] = []
    for key, value in output.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            if isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= 60):
                pairs.append(f"{key}.{sub}={_format(v)}" if sub else f"{key}={_format(v)}")
    more = len(pairs) - MAX_FIGURES
    return ", ".join(pairs[:MAX_FIGURES]) + (f", … (+{more})" if more > 0 else "")


def _header_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("Flow", f"{run.get('flow_name')} ({run.get('flow_id')})"),
        ("Account", str(run.get("account"))),
        ("Run", str(run.get("id"))),
        ("Status", str(run.get("status"))),
    ]
    rows += _sla_rows(run)
    if run.get("status") == "running" and run.get("event") != "sla":
        return [*rows, ("Step", str(run.get("step_id")))]
    rows += [
        ("Started", str(run.get("started_at") or "-")),
        ("Finished", str(run.get("finished_at") or "-")),
        ("Duration", _duration(run.get("duration_seconds"))),
    ]
    if run.get("failed_step"):
        rows.append(("Failed step", str(run["failed_step"])))
    if run.get("error"):
        rows.append(("Error", str(run["error"])))
    return rows


def _sla_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """An SLA notification's facts: the deadline, and what is late and why."""
    sla = run.get("sla")
    if run.get("event") != "sla" or not isinstance(sla, dict):
        return []
    rows = [("SLA deadline", str(sla.get("deadline")))]
    if sla.get("not_started"):
        rows.append(("Not started", str(sla["not_started"])))
    for key, label in (("running_steps", "Still running"), ("waiting_steps", "Waiting")):
        if sla.get(key):
            rows.append((label, ", ".join(str(s) for s in sla[key])))
    return rows


def _step_rows(context: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for sid, step in context["steps"].items():
        error = step.get("error") if isinstance(step.get("error"), dict) else None
        detail = f"{error.get('kind')}: {error.get('message')}" if error else ""
        rows.append(
            {
                "id": str(sid),
                "type": str(step.get("type") or ""),
                "status": str(step.get("status") or ("done" if "output" in step else "")),
                "attempts": str(step.get("attempts") if step.get("attempts") is not None else ""),
                "duration": _duration(step.get("duration_seconds")) if "status" in step else "",
                "detail": detail
                or str(step.get("skip_reason") or "")
                or figures(step.get("output")),
            }
        )
    return rows


def default_text(context: dict[str, Any]) -> str:
    """The plain-text summary: run facts, then one line per step."""
    lines = [f"{k}: {v}" for k, v in _header_rows(context["run"])]
    steps = _step_rows(context)
    if steps:
        title = "Steps:" if context["run"].get("status") != "running" else "Upstream results:"
        lines += ["", title]
        for s in steps:
            facts = ", ".join(
                x for x in (s["type"], s["status"], _attempts(s["attempts"]), s["duration"]) if x
            )
            lines.append(f"- {s['id']} ({facts})" + (f": {s['detail']}" if s["detail"] else ""))
    return "\n".join(lines) + "\n"


def _attempts(value: str) -> str:
    if not value:
        return ""
    return f"{value} attempt" + ("" if value == "1" else "s")


def default_html(context: dict[str, Any]) -> str:
    """The HTML summary: a facts table and a steps table (every value escaped)."""
    e = html.escape
    head = "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>"
        for k, v in _header_rows(context["run"])
    )
    cells = ("id", "type", "status", "attempts", "duration", "detail")
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='color:{_STATUS_COLOURS.get(s[c], 'inherit')}'>{e(s[c])}</td>"
            if c == "status"
            else f"<td>{e(s[c])}</td>"
            for c in cells
        )
        + "</tr>"
        for s in _step_rows(context)
    )
    titles = "".join(f"<th align='left'>{c.capitalize()}</th>" for c in cells)
    steps = f"<table cellpadding='4'><tr>{titles}</tr>{body}</table>" if body else ""
    return (
        "<html><body style='font-family:sans-serif'>"
        f"<h2>{e(default_subject(context))}</h2><table cellpadding='4'>{head}</table>{steps}"
        "</body></html>"
    )


def _text_to_html(text: str) -> str:
    return (
        f"<html><body><pre style='font-family:sans-serif'>{html.escape(text)}</pre></body></html>"
    )


def _html_to_text(markup: str) -> str:
    """The plain-text part of an HTML mail, readable on its own: no head or styles, headings
    set apart, table cells separated by ` | `, a picture named by its alt text."""
    text = re.sub(r"(?is)<(head|style|script)\b.*?</\1>", "", markup)
    text = re.sub(r"(?i)<img\b[^>]*\balt=(['\"])(.*?)\1[^>]*>", r"[\2]\n", text)
    text = re.sub(r"(?i)</t[dh]>", " | ", text)
    text = re.sub(r"(?i)</div>", " ", text)
    text = re.sub(r"(?i)<h\d\b", "\n\n\\g<0>", text)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</tr>|</h\d>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"(?m)^ | ?\| ?$| $", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
