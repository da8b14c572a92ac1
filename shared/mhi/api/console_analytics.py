"""Analytics outputs on a run page: each step's headline KPI figures, its charts (served from the
blob store by the console, the run's own `charts/` folder only) and its forecast models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mhi.api.console_html import UI, e, q, table

CHART_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}


def chart_key(account: str, flow_id: str, run_id: str, rest: str) -> str | None:
    """The blob key of one of a run's charts, or None when `rest` is not a chart of it."""
    parts = rest.split("/")
    if not rest or any(p in ("", ".", "..") or "\\" in p for p in parts):
        return None
    if not any(rest.endswith(ext) for ext in CHART_TYPES):
        return None
    return f"charts/{account}/{flow_id}/{run_id}/{rest}"


def chart_src(uri: str, account: str, flow_id: str, run_id: str) -> str | None:
    """The console URL of a chart the run wrote (`.../charts/<account>/<flow>/<run>/...`)."""
    folder = f"charts/{account}/{flow_id}/{run_id}/"
    at = uri.find(folder)
    if at < 0:
        return None
    rest = uri[at + len(folder) :]
    if chart_key(account, flow_id, run_id, rest) is None:
        return None
    path = "/".join(q(p) for p in rest.split("/"))
    return f"{UI}/charts/{q(account)}/{q(flow_id)}/{q(run_id)}/{path}"


def _headline(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[e(_figure(row.get(c))) for c in columns] for row in rows]
    return table(columns, cells, "headline")


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def analytics_section(run: Mapping[str, Any]) -> str:
    """Headline figures, charts and forecast models of the run's steps (empty without any)."""
    parts = []
    account, flow_id, run_id = run["account"], run["flow_id"], run["run_id"]
    for line in run["steps"]:
        output = line.get("output")
        if not isinstance(output, dict):
            continue
        inner = []
        headline = output.get("headline")
        if isinstance(headline, list) and headline and all(isinstance(h, dict) for h in headline):
            inner.append("<h3>Headline figures</h3>" + _headline(headline))
        models = output.get("models")
        if isinstance(models, list) and models and all(isinstance(m, dict) for m in models):
            inner.append("<h3>Forecast models</h3>" + _headline(models))
        charts = output.get("charts")
        images = []
        for uri in charts if isinstance(charts, list) else []:
            src = chart_src(str(uri), account, flow_id, run_id)
            if src is not None:
                images.append(f'<a href="{e(src)}"><img src="{e(src)}" alt="{e(uri)}"></a>')
        if images:
            inner.append(f'<div class="charts">{"".join(images)}</div>')
        if inner:
            parts.append(f"<h3>{e(line['id'])}</h3>" + "".join(inner))
    if not parts:
        return ""
    return '<section class="analytics"><h2>Analytics</h2>' + "".join(parts) + "</section>"
