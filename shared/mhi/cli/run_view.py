"""Printing one run (`mhi runs show`, `mhi runs rerun`): steps, attempts, reruns, audit, logs."""

from __future__ import annotations

from typing import Any

from mhi.cli.common import seconds, table


def _note(step: dict[str, Any]) -> str:
    if step.get("stuck"):
        return "stuck: its process stopped renewing its lease; the turn is run again"
    if step.get("error"):
        return str(step["error"].get("message", ""))
    if step.get("skip_reason"):
        return str(step["skip_reason"])
    if step.get("waiting_for_slot"):
        return f"waiting for slot {step['waiting_for_slot']}"
    if step.get("items") is not None:
        return f"for_each over {step['items']} items"
    return ""


def print_steps(detail: dict[str, Any]) -> None:
    """The step table: status, attempts (all generations), duration, error or note."""
    rows = [
        (
            s["id"],
            s["type"],
            s["status"],
            s["attempts"],
            seconds(s["duration_seconds"]),
            _note(s)[:80],
        )
        for s in detail["steps"]
    ]
    print(table(rows, ["STEP", "TYPE", "STATUS", "ATTEMPTS", "DURATION", "ERROR / NOTE"]))


def print_notification(detail: dict[str, Any]) -> None:
    """One line when the flow notification did not (yet) go out."""
    note = detail.get("notification")
    if note and note["status"] != "succeeded":
        error = (note.get("error") or {}).get("message")
        where = note["recipients"] or "its channels"
        print(f"  notification to {where}: {note['status']}" + (f": {error}" if error else ""))


def print_run(detail: dict[str, Any]) -> None:
    """Everything `mhi runs show` prints."""
    head = f"run {detail['run_id']} of {detail['flow_id']} ({detail['account']})"
    print(f"{head}: {detail['status'].upper()}" + (" (paused)" if detail.get("paused") else ""))
    print(f"  started {detail['started_at']}, finished {detail.get('finished_at') or '-'}")
    if detail.get("logical_time"):
        print(f"  for slot {detail['logical_time']}")
    parent = detail.get("parent")
    if parent:
        print(
            f"  sub-flow of run {parent['run_id']} of {parent['flow_id']} ({parent['account']}), "
            f"step {parent['step_id']} attempt {parent['attempt']}"
        )
    if detail.get("error"):
        print(f"  {detail['error']}")
    print_notification(detail)
    print()
    print_steps(detail)
    _attempts(detail)
    _sub_flows(detail)
    _outputs(detail)
    _reruns(detail)
    _audit(detail)
    logs = detail.get("logs") or {}
    print("\nlogs: " + (logs.get("url") or "Cloud Logging query:\n  " + logs.get("query", "")))


def _attempts(detail: dict[str, Any]) -> None:
    rows = []
    for step in detail["steps"]:
        for a in step.get("attempt_history") or []:
            err = (a.get("error") or {}).get("message", "")
            rows.append(
                (
                    step["id"],
                    a["attempt"],
                    a["generation"],
                    a["status"],
                    a.get("dispatched_at") or "-",
                    seconds(a.get("duration_seconds")),
                    err[:60],
                )
            )
    if rows:
        print("\nattempts:")
        headers = ["STEP", "ATTEMPT", "GEN", "STATUS", "DISPATCHED", "DURATION", "ERROR"]
        print(table(rows, headers))


def _sub_flows(detail: dict[str, Any]) -> None:
    """The child runs of sub-flow steps, one line per attempt (`mhi runs show <child>`)."""
    rows = [
        (s["id"], c["attempt"], c["run_id"], c["flow_id"], c["account"])
        for s in detail["steps"]
        for c in s.get("sub_flows") or []
    ]
    if rows:
        print("\nsub-flow runs:")
        print(table(rows, ["STEP", "ATTEMPT", "RUN", "FLOW", "ACCOUNT"]))


def _outputs(detail: dict[str, Any]) -> None:
    for step in detail["steps"]:
        if step.get("artifacts"):
            print(f"\nartifacts of {step['id']}:")
            for uri in step["artifacts"]:
                print(f"  {uri}")
        dead = step.get("dead_letter")
        if dead:
            print(f"\ndead letter of {step['id']} (attempt {dead.get('attempt')}):")
            print(f"  error: {(dead.get('error') or {}).get('message')}")
            print(f"  config: {(dead.get('message') or {}).get('config')}")
            replay = f"mhi runs rerun {detail['run_id']} --set {step['id']}.config.KEY=VALUE"
            print(f"  replay: {replay}")


def _reruns(detail: dict[str, Any]) -> None:
    for r in detail.get("reruns") or []:
        by = (r.get("by") or {}).get("actor", "?")
        what = f"from {r['from_step']}" if r.get("from_step") else "from failure"
        steps = ", ".join(r["steps"])
        print(f"\nrerun {r['generation']} ({what}) by {by} at {r.get('at')}: {steps}")
        if r.get("edits"):
            print(f"  edits: {r['edits']}")


def _audit(detail: dict[str, Any]) -> None:
    rows = [
        (
            a.get("at") or "-",
            a["action"],
            (a.get("by") or {}).get("actor", "-"),
            (a.get("by") or {}).get("via", "-"),
            str(a.get("detail") or "")[:60],
        )
        for a in detail.get("audit") or []
    ]
    print("\naudit:")
    print(table(rows, ["AT", "ACTION", "BY", "VIA", "DETAIL"]))
