"""Shared HTML pieces of the console: the page frame, escaping helpers, times and durations."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

UI = "/ui"
API = "/api/v1"


def e(value: Any) -> str:
    """`value` as HTML text (None as an empty string)."""
    return "" if value is None else escape(str(value), quote=True)


def q(value: str) -> str:
    """`value` as one URL path segment."""
    return quote(value, safe="")


def run_path(account: str, flow_id: str, run_id: str) -> str:
    """The path of a run below `/ui/runs` or `/api/v1/runs`."""
    return f"/runs/{q(account)}/{q(flow_id)}/{q(run_id)}"


def url(path: str, **params: Any) -> str:
    """`path` with the query parameters that are set."""
    given = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def when(value: str | None) -> str:
    """An ISO time as `2026-01-31 06:00:02` UTC (empty when unknown)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from `start` to `end` (to now when `end` is unknown)."""
    if not start:
        return None
    try:
        begin = datetime.fromisoformat(start)
        stop = datetime.fromisoformat(end) if end else datetime.now(UTC)
    except ValueError:
        return None
    return max((stop - begin).total_seconds(), 0.0)


def duration(seconds: float | None) -> str:
    """`850 ms`, `41.2 s`, `3 m 05 s`, `2 h 03 m`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} m {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} m"


def badge(status: str | None) -> str:
    """A status in its colour."""
    name = status or "unknown"
    return f'<span class="badge st-{e(name)}">{e(name)}</span>'


def actor(by: Mapping[str, Any] | None) -> str:
    """Who asked (`alice@example.com via api`)."""
    if not by:
        return ""
    via = f" <small>via {e(by.get('via'))}</small>" if by.get("via") else ""
    return f"{e(by.get('actor'))}{via}"


def pretty(value: Any) -> str:
    """A JSON value, indented, in a `<pre>`."""
    text = json.dumps(value, indent=2, sort_keys=False, default=str)
    return f"<pre>{e(text)}</pre>"


def table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table of already-escaped cells (the head is escaped here)."""
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="{e(cls)}"><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def page(
    title: str, body: str, *, poll: str | None = None, sig: str = "", every_ms: int = 2000
) -> str:
    """A whole page: header, navigation, the body; `poll` (a JSON API URL, asked every
    `every_ms`) re-loads the page when what it answers no longer matches `sig`."""
    data = (
        f' data-poll="{e(poll)}" data-sig="{e(sig)}" data-every="{int(every_ms)}"' if poll else ""
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · MHI console</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{UI}/static/console.css">'
        f'<script defer src="{UI}/static/console.js"></script></head>'
        f'<body{data}><header><a class=brand href="{UI}/runs">MHI console</a>'
        f'<nav><a href="{UI}/runs">Runs</a> <a href="{UI}/flows">Flows</a> '
        f'<a href="{API}/openapi.json">API</a></nav></header>'
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )
