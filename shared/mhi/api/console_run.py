"""The console's run page: header, actions, DAG, Gantt timeline, steps, step panel, notification,
reruns and audit. for_each children fold into their parent unless it is expanded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mhi.api.console_analytics import analytics_section
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
    table,
    url,
    when,
)
from mhi.api.console_svg import Bar, Node, Row, dag_svg, gantt_svg, status_counts
from mhi.model import keys
from mhi.ops.index import ACTIVE_STATUSES, read_json
from mhi.ops.service import OpsService

FINISHED_RERUNNABLE = frozenset({"failed", "cancelled", "timed_out"})


def run_signature(run: Mapping[str, Any]) -> str:
    """What a refresh of the run page could change (the page's script computes the same)."""
    return f"{run['status']}:{run['generation']}:{str(run['paused']).lower()}"


def run_page(
    ops: OpsService, account: str, flow_id: str, run_id: str, args: Mapping[str, str]
) -> str:
    """One run in full; `args`: `step` (the step panel's step), `expand` (a for_each parent)."""
    ref = ops.find(f"{account}/{flow_id}/{run_id}")
    run = ops.show(ref)
    frozen = read_json(ops.store, ref.key(keys.FLOW)) or {}
    specs = (frozen.get("flow") or {}).get("flow_config", {}).get("steps", [])
    depends = {s["id"]: list(s.get("depends_on") or []) for s in specs}
    steps = {s["id"]: s for s in run["steps"]}
    children: dict[str, list[dict[str, Any]]] = {}
    for line in run["steps"]:
        parent = _parent(line["id"], depends)
        if parent is not None:
            children.setdefault(parent, []).append(line)
    expand = args.get("expand") or ""
    base = UI + run_path(account, flow_id, run_id)
    chosen = args.get("step") or run.get("failed_step") or ""
    top = [s for s in run["steps"] if _parent(s["id"], depends) is None]
    body = (
        _header(run, frozen)
        + _actions(run, top, API + run_path(account, flow_id, run_id))
        + _dag(top, depends, children, base, expand)
        + _gantt(run, top, children, base, expand)
        + _steps(top, children, base, expand)
        + _panel(steps.get(chosen), chosen)
        + analytics_section(run)
        + _notification(run.get("notification"), _recipients(run, frozen))
        + _history(run)
    )
    poll = API + run_path(account, flow_id, run_id) if run["status"] in ACTIVE_STATUSES else None
    # a big run's JSON is big: ask for it less often
    every = 2000 if len(run["steps"]) <= 100 else 10000
    return page(f"Run {run_id}", body, poll=poll, sig=run_signature(run), every_ms=every)


def _parent(sid: str, depends: Mapping[str, Any]) -> str | None:
    head, dot, _ = sid.rpartition(".")
    return head if dot and head in depends else None


def _header(run: Mapping[str, Any], frozen: Mapping[str, Any]) -> str:
    flow_link = f'<a href="{UI}/flows/{e(q(run["flow_id"]))}">{e(run["flow_id"])}</a>'
    paused = ' <span class="badge st-paused">paused</span>' if run.get("paused") else ""
    facts = [
        ("status", badge(run["status"]) + paused),
        ("flow", flow_link + f" ({e(run['flow_name'])})"),
        ("account", e(run["account"])),
        ("started (UTC)", e(when(run["started_at"]))),
        ("finished (UTC)", e(when(run["finished_at"]))),
        ("duration", e(duration(run["duration_seconds"]))),
        ("started by", actor(frozen.get("requested_by"))),
        ("generation", e(run["generation"])),
        ("params", f"<code>{e(run.get('params'))}</code>"),
    ]
    if run.get("parent"):
        parent = run["parent"]
        step = f" step {e(parent['step_id'])} attempt {e(parent['attempt'])}"
        facts.append(("sub-flow of", _run_link(parent) + step))
    if run.get("error"):
        facts.append(("error", f'<span class="error">{e(run["error"])}</span>'))
    if run["logs"].get("url"):
        facts.append(("logs", f'<a href="{e(run["logs"]["url"])}">Cloud Logging</a>'))
    items = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    return f'<dl class="facts" id="run" data-status="{e(run["status"])}">{items}</dl>'


def _button(action: str, label: str, endpoint: str, confirm: str, body: str = "{}") -> str:
    return (
        f'<button type="button" data-action="{e(action)}" data-url="{e(endpoint)}" '
        f"data-body='{e(body)}' data-confirm=\"{e(confirm)}\">{e(label)}</button>"
    )


def _actions(run: Mapping[str, Any], top: list[dict[str, Any]], api: str) -> str:
    status = run["status"]
    parts = []
    if status in ACTIVE_STATUSES:
        parts.append(_button("cancel", "Cancel", api + "/cancel", "Cancel this run?"))
        if run.get("paused"):
            parts.append(_button("resume", "Resume", api + "/resume", "Resume this run?"))
        else:
            parts.append(_button("pause", "Pause", api + "/pause", "Pause new dispatches?"))
    else:
        if status in FINISHED_RERUNNABLE:
            parts.append(
                _button(
                    "rerun",
                    "Rerun from failure",
                    api + "/rerun",
                    "Re-run the failed, cancelled and skipped steps?",
                )
            )
        options = "".join(f"<option>{e(s['id'])}</option>" for s in top)
        parts.append(
            f'<span class="group"><select id="from-step" aria-label="step">{options}</select>'
            + _button(
                "rerun-from",
                "Rerun from step",
                api + "/rerun",
                "Re-run this step and everything downstream of it?",
            )
            + "</span>"
        )
        parts.append(
            '<details class="replay"><summary>Replay with edited config</summary>'
            '<label>edits <textarea id="replay-set" rows="3" '
            'placeholder=\'{"load": {"mapping.room_type": "code"}}\'></textarea></label>'
            '<label>params <textarea id="replay-params" rows="2" placeholder=\'{"days": 3}\'>'
            "</textarea></label>"
            + _button("replay", "Replay", api + "/rerun", "Replay this run with these edits?")
            + "</details>"
        )
    return (
        '<section class="actions"><h2>Actions</h2>'
        + "".join(parts)
        + '<p id="action-result" role="status"></p></section>'
    )


def _dag(
    top: list[dict[str, Any]],
    depends: Mapping[str, list[str]],
    children: Mapping[str, list[dict[str, Any]]],
    base: str,
    expand: str,
) -> str:
    nodes = []
    for line in top:
        kids = children.get(line["id"])
        note = f"· {len(kids)} items" if kids else ""
        nodes.append(Node(line["id"], depends.get(line["id"], []), line["status"], note))
    svg = dag_svg(nodes, lambda sid: url(base, step=sid, expand=expand) + "#panel")
    return f'<section><h2>Steps</h2><div class="scroll">{svg}</div></section>'


def _bars(line: Mapping[str, Any], now: datetime) -> list[Bar]:
    bars = []
    for a in line.get("attempt_history") or []:
        if not a.get("dispatched_at"):
            continue
        start = datetime.fromisoformat(a["dispatched_at"])
        end = datetime.fromisoformat(a["finished_at"]) if a.get("finished_at") else now
        title = (
            f"{line['id']} attempt {a['attempt']} (generation {a['generation']}): "
            f"{a['status']}, {duration((end - start).total_seconds())}"
        )
        if a.get("error"):
            title += f" — {a['error'].get('message', '')}"
        bars.append(Bar(start, end, a["status"], title))
    return bars


def _gantt(
    run: Mapping[str, Any],
    top: list[dict[str, Any]],
    children: Mapping[str, list[dict[str, Any]]],
    base: str,
    expand: str,
) -> str:
    now = datetime.now(UTC)
    rows: list[Row] = []
    for line in top:
        href = url(base, step=line["id"], expand=expand) + "#panel"
        kids = children.get(line["id"])
        if not kids:
            rows.append(Row(line["id"], href, _bars(line, now)))
            continue
        spans = [b for kid in kids for b in _bars(kid, now)]
        if spans:
            first = min(b.start for b in spans)
            last = max(b.end for b in spans)
            title = f"{line['id']}: {len(kids)} items, {len(spans)} attempts"
            rows.append(
                Row(f"{line['id']} ×{len(kids)}", href, [Bar(first, last, line["status"], title)])
            )
        else:
            rows.append(Row(f"{line['id']} ×{len(kids)}", href, []))
        if line["id"] == expand:
            rows.extend(
                Row(k["id"], url(base, step=k["id"], expand=expand) + "#panel", _bars(k, now))
                for k in kids
            )
    starts = [b.start for r in rows for b in r.bars]
    ends = [b.end for r in rows for b in r.bars]
    if not starts:
        return '<section><h2>Timeline</h2><p class="empty">No attempt yet.</p></section>'
    svg = gantt_svg(rows, min(starts), max(ends))
    return f'<section><h2>Timeline</h2><div class="scroll">{svg}</div></section>'


def _steps(
    top: list[dict[str, Any]], children: Mapping[str, list[dict[str, Any]]], base: str, expand: str
) -> str:
    rows = []
    for line in top:
        rows.append(_step_row(line, base, expand, children.get(line["id"])))
        if line["id"] == expand:
            rows.extend(_step_row(k, base, expand, None, child=True) for k in children[expand])
    return (
        "<section><h2>Step table</h2>"
        + table(["step", "type", "status", "attempts", "duration", "error"], rows, "steps")
        + "</section>"
    )


def _step_row(
    line: Mapping[str, Any],
    base: str,
    expand: str,
    kids: list[dict[str, Any]] | None,
    child: bool = False,
) -> list[str]:
    sid = line["id"]
    link = f'<a href="{e(url(base, step=sid, expand=expand))}#panel">{e(sid)}</a>'
    if child:
        link = "↳ " + link
    if kids:
        counts = status_counts(Counter(k["status"] for k in kids))
        toggle = url(base, expand="" if expand == sid else sid, step=sid)
        word = "collapse" if expand == sid else "expand"
        link += f' <small>({len(kids)} items: {e(counts)}) <a href="{e(toggle)}">{word}</a></small>'
    error = (line.get("error") or {}).get("message") if line.get("error") else ""
    stuck = ' <span class="badge st-stuck">stuck</span>' if line.get("stuck") else ""
    if line.get("waiting_for_slot"):
        stuck += f" <small>waiting for slot {e(line['waiting_for_slot'])}</small>"
    return [
        link,
        e(line["type"]),
        badge(line["status"]) + stuck,
        e(line["attempts"]),
        e(duration(line.get("duration_seconds"))),
        f'<span class="error">{e(error)}</span>',
    ]


def _attempt_row(a: Mapping[str, Any]) -> list[str]:
    return [
        e(a["attempt"]),
        e(a["generation"]),
        badge(a["status"]),
        e(when(a["dispatched_at"])),
        e(duration(a.get("duration_seconds"))),
        e((a.get("error") or {}).get("message", "")),
    ]


def _panel(line: Mapping[str, Any] | None, chosen: str) -> str:
    if line is None:
        hint = f"No step {e(chosen)} in this run. " if chosen else ""
        return (
            f'<section id="panel"><h2>Step</h2><p class="empty">{hint}'
            "Pick a step in the graph, timeline or table.</p></section>"
        )
    attempts = [_attempt_row(a) for a in line.get("attempt_history") or []]
    artifacts = "".join(
        f'<li><a href="{e(_file_link(u))}">{e(u)}</a></li>' for u in line.get("artifacts") or []
    )
    logs = line.get("logs") or {}
    logs_html = (
        f'<a href="{e(logs["url"])}">Cloud Logging entries</a>'
        if logs.get("url")
        else "Cloud Logging query (no project set):"
    )
    parts = [
        f'<section id="panel" data-step="{e(line["id"])}"><h2>Step {e(line["id"])}</h2>',
        f"<p>{badge(line['status'])} {e(line['type'])}</p>",
    ]
    if line.get("error"):
        parts.append(f"<h3>Error</h3>{pretty(line['error'])}")
    if line.get("skip_reason"):
        parts.append(f"<p>Skipped: {e(line['skip_reason'])}</p>")
    parts.append(f"<h3>Config</h3>{pretty(line.get('config'))}")
    dead = line.get("dead_letter")
    if dead:
        message = dead.get("message") or {}
        parts.append(f"<h3>Rendered config (dead letter)</h3>{pretty(message.get('config'))}")
        if message.get("upstream"):
            parts.append(f"<h3>Upstream outputs it was given</h3>{pretty(message['upstream'])}")
    parts.append(f"<h3>Output</h3>{pretty(line.get('output'))}")
    children = line.get("sub_flows") or []
    if children:
        items = "".join(f"<li>attempt {e(c['attempt'])}: {_run_link(c)}</li>" for c in children)
        parts.append(f'<h3>Sub-flow runs</h3><ul class="sub-flows">{items}</ul>')
    parts.append(
        "<h3>Attempts</h3>"
        + table(
            ["#", "gen.", "status", "dispatched (UTC)", "duration", "error"], attempts, "attempts"
        )
    )
    parts.append(f"<h3>Artifacts</h3><ul>{artifacts or '<li>none</li>'}</ul>")
    parts.append(f"<h3>Logs</h3><p>{logs_html}</p><pre>{e(logs.get('query'))}</pre></section>")
    return "".join(parts)


def _run_link(ref: Mapping[str, Any]) -> str:
    """A link to another run's page (a sub-flow's parent or child): its id and flow."""
    href = UI + run_path(ref["account"], ref["flow_id"], ref["run_id"])
    return f'<a href="{e(href)}">{e(ref["run_id"])}</a> ({e(ref["flow_id"])})'


def _file_link(uri: str) -> str:
    if uri.startswith("gs://"):
        return "https://storage.cloud.google.com/" + uri.removeprefix("gs://")
    return uri


def _recipients(run: Mapping[str, Any], frozen: Mapping[str, Any]) -> str:
    """Who the flow notification of this run's outcome goes to (from the run's frozen flow)."""
    specs = (frozen.get("flow") or {}).get("notifications") or {}
    spec = specs.get("success" if run["status"] == "succeeded" else "fail") or {}
    who = spec.get("recipients")
    return ", ".join(who) if isinstance(who, list) else str(who or "")


def _notification(note: Mapping[str, Any] | None, recipients: str) -> str:
    if not note:
        return (
            '<section id="notification"><h2>Notification</h2><p class="empty">No flow '
            "notification for this run (none configured, or the run has not finished).</p>"
            "</section>"
        )
    error = (note.get("error") or {}).get("message") if note.get("error") else None
    attempts = note.get("attempts")
    count = len(attempts) if isinstance(attempts, list) else attempts
    return (
        '<section id="notification"><h2>Notification</h2>'
        f"<p>{badge(note.get('status'))} to "
        f"{e(recipients or '(no recipients)')}, "
        f"{e(count)} attempt(s)"
        + (f' <span class="error">{e(error)}</span>' if error else "")
        + "</p></section>"
    )


def _history(run: Mapping[str, Any]) -> str:
    reruns = [
        [
            e(r["generation"]),
            e(when(r["at"])),
            actor(r.get("by")),
            e(r["mode"]),
            e(", ".join(r["steps"])),
            e(r.get("reason")),
        ]
        for r in run.get("reruns") or []
    ]
    audit = [
        [e(when(a.get("at"))), e(a["action"]), actor(a.get("by")), e(a.get("detail") or "")]
        for a in run.get("audit") or []
    ]
    out = "<section><h2>Audit</h2>" + table(["at (UTC)", "action", "by", "detail"], audit, "audit")
    if reruns:
        out += "<h3>Reruns</h3>" + table(
            ["gen.", "at (UTC)", "by", "mode", "steps", "reason"], reruns, "reruns"
        )
    return out + "</section>"
