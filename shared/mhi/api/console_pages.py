"""The console's runs, flows and flow pages (server-rendered HTML over the operations service)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mhi.api.console_html import (
    API,
    UI,
    actor,
    badge,
    duration,
    e,
    page,
    pretty,
    q,
    run_path,
    seconds_between,
    table,
    url,
    when,
)
from mhi.api.console_svg import Node, dag_svg
from mhi.ops.errors import OpsError
from mhi.ops.index import ACTIVE_STATUSES, RUN_STATUSES, RunFilter
from mhi.ops.service import OpsService

STRIP_RUNS = 30


def runs_signature(rows: Sequence[Mapping[str, Any]]) -> str:
    """What the runs page shows that a refresh could change: each run's status and generation.

    The page's script computes the same string from `GET /api/v1/runs`.
    """
    return "|".join(f"{r['run_id']}:{r['status']}:{r['generation']}" for r in rows)


def runs_page(ops: OpsService, args: Mapping[str, str], since: datetime | None) -> str:
    """Runs newest first, filtered by flow, status, account and start date."""
    limit = int(args.get("limit") or 50)
    where = RunFilter(
        args.get("account") or None, args.get("flow") or None, args.get("status") or None, since
    )
    result = ops.runs(where, limit=limit, cursor=args.get("cursor") or None)
    rows = [r.to_json() for r in result.rows]
    body = _filters(ops, args) + table(
        ["run", "flow", "account", "status", "started (UTC)", "duration", "started by", "gen."],
        (_run_row(r) for r in rows),
        "runs",
    )
    if not rows:
        body += '<p class="empty">No run matches these filters.</p>'
    if result.cursor:
        older = url(UI + "/runs", **{**args, "cursor": result.cursor})
        body += f'<p><a class="more" href="{e(older)}">Older runs →</a></p>'
    poll = None
    if any(r["status"] in ACTIVE_STATUSES for r in rows):
        query = {k: args.get(k) for k in ("flow", "status", "account", "since", "cursor")}
        poll = url(API + "/runs", **query, limit=limit)
    return page("Runs", body, poll=poll, sig=runs_signature(rows))


def _filters(ops: OpsService, args: Mapping[str, str]) -> str:
    flows = "".join(
        f"<option{' selected' if f == args.get('flow') else ''}>{e(f)}</option>"
        for f in ops.flow_ids()
    )
    statuses = "".join(
        f"<option{' selected' if s == args.get('status') else ''}>{e(s)}</option>"
        for s in RUN_STATUSES
    )
    return (
        f'<form class="filters" method="get" action="{UI}/runs">'
        f'<label>flow <select name="flow"><option value="">all</option>{flows}</select></label>'
        f'<label>status <select name="status"><option value="">all</option>{statuses}'
        "</select></label>"
        f'<label>account <input name="account" value="{e(args.get("account"))}" size="12">'
        "</label>"
        f'<label>since <input name="since" value="{e(args.get("since"))}" size="12" '
        'placeholder="7d or 2026-01-31"></label>'
        '<button type="submit">Filter</button></form>'
    )


def _run_row(r: Mapping[str, Any]) -> list[str]:
    path = run_path(r["account"], r["flow_id"], r["run_id"])
    return [
        f'<a class="run-link" href="{UI}{e(path)}">{e(r["run_id"])}</a>',
        f'<a href="{UI}/flows/{e(q(r["flow_id"]))}">{e(r["flow_id"])}</a>',
        e(r["account"]),
        badge(r["status"]),
        e(when(r["started_at"])),
        e(duration(seconds_between(r["started_at"], r["finished_at"]))),
        actor(r.get("requested_by")),
        e(r["generation"]),
    ]


def flows_page(ops: OpsService) -> str:
    """Every stored flow with its account, step count and schedule."""
    rows = []
    for flow_id in ops.flow_ids():
        link = f'<a href="{UI}/flows/{e(q(flow_id))}">{e(flow_id)}</a>'
        try:
            flow = ops.flow(flow_id)
        except OpsError as err:  # an invalid stored flow is listed with why
            rows.append([link, "", "", f'<span class="error">{e(err)}</span>'])
            continue
        cron = f"{flow.schedule.cron} ({flow.schedule.time_zone})" if flow.schedule else ""
        rows.append([link, e(flow.account), e(len(flow.steps)), e(cron)])
    return page("Flows", table(["flow", "account", "steps", "schedule"], rows, "flows"))


def next_fires(flow: Any, now: datetime, count: int = 5) -> list[datetime]:
    """The next `count` fire times of the flow's schedule (none without one)."""
    from mhi.model.slots import slots

    if flow.schedule is None:
        return []
    return list(slots(flow, now, now + timedelta(days=800), limit=count))


def flow_page(ops: OpsService, flow_id: str) -> str:
    """A flow: its DAG, schedule and next fire times, its last runs as a strip, its stats."""
    flow = ops.flow(flow_id)
    now = datetime.now(UTC)
    rows = [
        r.to_json() for r in ops.runs(RunFilter(None, flow_id, None, None), limit=STRIP_RUNS).rows
    ]
    nodes = [Node(s.id, s.depends_on, "defined", s.type) for s in flow.steps]
    dag = dag_svg(nodes, lambda sid: f"#step-{sid}")
    schedule = "<p>No schedule: started by hand, by API or by another flow.</p>"
    if flow.schedule is not None:
        fires = "".join(f"<li>{e(when(t.isoformat()))} UTC</li>" for t in next_fires(flow, now))
        schedule = (
            f"<p><code>{e(flow.schedule.cron)}</code> in {e(flow.schedule.time_zone)}"
            f"{' (catch-up on)' if flow.schedule.catchup else ''}</p>"
            f"<p>Next fire times:</p><ul class=fires>{fires}</ul>"
        )
    stats = ops.stats(flow_id=flow_id, since=now - timedelta(days=30))
    body = (
        f"<p>{e(flow.name or '')} · account <b>{e(flow.account)}</b> · "
        f'<a href="{e(url(UI + "/runs", flow=flow_id))}">all its runs</a></p>'
        f'<section><h2>Steps</h2><div class="scroll">{dag}</div></section>'
        f"<section><h2>Schedule</h2>{schedule}</section>"
        f"<section><h2>Last runs</h2>{_strip(rows)}</section>"
        f"<section><h2>Stats (30 days)</h2>{_stats(stats)}</section>"
        "<section><h2>Definition</h2><details><summary>JSON</summary>"
        f"{pretty(flow.model_dump(mode='json', exclude_none=True))}</details></section>"
    )
    return page(f"Flow {flow_id}", body)


def _strip(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="empty">No run yet.</p>'
    spans = [seconds_between(r["started_at"], r["finished_at"]) or 0.0 for r in rows]
    longest = max(spans) or 1.0
    bars = []
    for r, span in zip(reversed(rows), reversed(spans), strict=True):
        height = 8 + int(40 * span / longest)
        link = UI + run_path(r["account"], r["flow_id"], r["run_id"])
        tip = f"{r['run_id']}: {r['status']}, {duration(span)}"
        bars.append(
            f'<a href="{e(link)}" title="{e(tip)}" class="bar st-{e(r["status"])}" '
            f'style="height:{height}px"></a>'
        )
    return (
        f'<div class="strip">{"".join(bars)}</div><p><small>oldest left; height: duration'
        "</small></p>"
    )


def _stats(stats: Mapping[str, Any]) -> str:
    runs = stats.get("runs") or {}
    head = ", ".join(f"{k}: {e(json.dumps(v))}" for k, v in runs.items())
    slow = [
        [e(r["step_id"]), e(r.get("count")), e(r.get("p95_seconds")), e(r.get("failed"))]
        for r in stats.get("slowest_steps") or []
    ]
    return f"<p>{head}</p>" + table(["step", "runs", "p95 s", "failed"], slow, "stats")
