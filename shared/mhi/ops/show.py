"""One run in full: steps with every attempt (earlier generations too), errors, outputs, the
files they wrote, dead letters, reruns and edits, the audit trail and Cloud Logging links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from mhi.engine.summary import run_summary
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.run import Attempt, RunState, StepState, parse_time
from mhi.ops.control import load_state
from mhi.ops.index import read_json
from mhi.ports import RunStore
from mhi.runtime.subflows import children

_URI_SCHEMES = ("gs://", "file://", "s3://", "bq://")
LOGS_URL = "https://console.cloud.google.com/logs/query"


def artifacts(output: Any) -> list[str]:
    """Every file URI a step reported in its output (nested anywhere), in order, once each."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith(_URI_SCHEMES) and value not in found:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(output)
    return found


def logs_link(
    ref: RunRef, project: str | None, state: RunState, step_id: str | None = None
) -> dict[str, Any]:
    """The Cloud Logging query for a run's (or one step's) entries, and its console URL."""
    lines = [f'labels.run_id="{ref.run_id}"', f'labels.flow_id="{ref.flow_id}"']
    if step_id is not None:
        lines.append(f'labels.step_id="{step_id}"')
    since = state.started_at - timedelta(minutes=1)
    lines.append(f'timestamp>="{since.isoformat()}"')
    query = "\n".join(lines)
    url = None
    if project:
        url = f"{LOGS_URL};query={quote(query, safe='')}?project={quote(project, safe='')}"
    return {"query": query, "url": url}


def _attempt(number: int, generation: int, attempt: Attempt) -> dict[str, Any]:
    result = attempt.result or {}
    error = result.get("error") if result.get("status") == "failed" else None
    duration = None
    if attempt.dispatched_at is not None and result.get("at"):
        duration = round((parse_time(result["at"]) - attempt.dispatched_at).total_seconds(), 3)
    return {
        "attempt": number,
        "generation": generation,
        "status": result.get("status") or ("running" if attempt.dispatched_at else "pending"),
        "dispatched_at": attempt.dispatched_at.isoformat() if attempt.dispatched_at else None,
        "finished_at": result.get("at"),
        "duration_seconds": duration,
        "error": error,
        "metrics": result.get("metrics"),
    }


def _generation_of(state: RunState, sid: str, number: int) -> int:
    """The generation an attempt number belongs to (by the first attempts reruns gave)."""
    generation = 0
    for g, record in sorted(state.reruns.records.items()):
        base = (record.get("steps") or {}).get(sid)
        if base is not None and number >= int(base):
            generation = g
    return generation


def step_attempts(state: RunState, step: StepState) -> list[dict[str, Any]]:
    """Every attempt of a step, oldest first, with the generation it belongs to."""
    return [
        _attempt(n, _generation_of(state, step.id, n), a)
        for n, a in state.reruns.attempts_of(step)
        if a.dispatched_at is not None or a.result is not None
    ]


def describe(store: RunStore, ref: RunRef, project: str | None = None) -> dict[str, Any]:
    """Everything `mhi runs show` and `GET /api/v1/runs/...` tell about a run.

    Raises:
        NotFound: the run does not exist.
    """
    state = load_state(store, ref)
    # `now` only marks a step whose lease lapsed as stuck: a view, not a decision
    summary = run_summary(state, with_children=True, now=datetime.now(UTC))
    summary["generation"] = state.reruns.generation
    summary["paused"] = state.reruns.paused
    summary["logical_time"] = state.logical_time
    summary["missed"] = state.missed  # a slot nobody started, recorded by the SLA watch
    summary["params"] = state.params
    summary["parent"] = (read_json(store, ref.key(keys.FLOW)) or {}).get("parent")
    for line in summary["steps"]:
        step = state.steps[line["id"]]
        line["attempt_history"] = step_attempts(state, step)
        line["attempts"] = len(line["attempt_history"]) if not step.is_parent else 0
        line["artifacts"] = artifacts(line["output"])
        line["logs"] = logs_link(ref, project, state, step.id)
        line["dead_letter"] = _dead_letter(store, ref, state, step)
        line["config"] = step.spec.config
        line["sub_flows"] = children(store, ref, state, step)
    summary["reruns"] = [_rerun(g, r) for g, r in sorted(state.reruns.records.items())]
    summary["audit"] = audit(store, ref, state)
    summary["logs"] = logs_link(ref, project, state)
    summary["notification"] = _notification(state)
    return summary


def _dead_letter(
    store: RunStore, ref: RunRef, state: RunState, step: StepState
) -> dict[str, Any] | None:
    last = step.last
    failed = last is not None and (last.result or {}).get("status") == "failed"
    if not failed or last is None or state.status(step).value != "failed":
        return None
    number = state.reruns.absolute(step.id, last.number)
    return read_json(store, ref.key(keys.dead_letter_key(step.id, number)))


def _rerun(generation: int, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "generation": generation,
        "at": record.get("at"),
        "by": record.get("by"),
        "mode": record.get("mode"),
        "from_step": record.get("from_step"),
        "steps": sorted(s for s in record.get("steps") or {} if "." not in s and s[:1] != "_"),
        "edits": record.get("edits") or {},
        "reason": record.get("reason"),
    }


def _notification(state: RunState) -> dict[str, Any] | None:
    notify = state.notify
    if notify is None:
        return None
    return {
        "status": state.status(notify).value,
        "attempts": step_attempts(state, notify),
    }


def audit(store: RunStore, ref: RunRef, state: RunState) -> list[dict[str, Any]]:
    """Who asked for what, oldest first: start, cancels, pauses, resumes, reruns."""
    frozen = read_json(store, ref.key(keys.FLOW)) or {}
    by = frozen.get("requested_by") or {"actor": "unknown", "via": "unknown"}
    trail = [{"action": "start", "at": frozen.get("started_at"), "by": by}]
    names = [ref.key(keys.cancel_key(g)) for g in range(state.reruns.generation + 1)]
    names += store.list(ref.key(keys.CONTROL_PREFIX))
    for key in names:
        parsed = keys.parse(key[len(ref.prefix) :])
        body = read_json(store, key) if parsed is not None else None
        if parsed is None or body is None:
            continue
        action = {"generation": "rerun"}.get(parsed.kind, parsed.kind)
        line: dict[str, Any] = {"action": action, "at": body.get("at"), "by": body.get("by")}
        if parsed.kind == "generation":
            line["detail"] = {"generation": parsed.generation, "mode": body.get("mode")}
            if body.get("edits"):
                line["detail"]["edits"] = body["edits"]
        elif parsed.kind == "cancel" and body.get("reason"):
            line["detail"] = {"reason": body["reason"]}
        trail.append(line)
    trail.sort(key=lambda t: str(t.get("at") or ""))
    return trail
