"""The default SLA notification says it is about the SLA: the deadline, what is late, and, for a
slot nobody started, that it never started."""

from __future__ import annotations

from typing import Any

from mhi.notify.render import default_subject, default_text


def _context(**sla: Any) -> dict[str, Any]:
    run = {
        "flow_name": "Nightly KPIs",
        "flow_id": "nightly",
        "account": "acme",
        "id": "scheduled-20250109T0100Z",
        "status": "running",
        "event": "sla",
        "sla": {"deadline": "2025-01-09T06:00:00+00:00", **sla},
    }
    return {"run": run, "steps": {}}


def test_a_late_run_notice_names_the_deadline_and_the_late_steps() -> None:
    context = _context(running_steps=["extract"], waiting_steps=["report"])
    assert default_subject(context) == (
        "[MHI] Nightly KPIs: LATE for its SLA deadline 2025-01-09T06:00:00+00:00 (acme)"
    )
    text = default_text(context)
    assert "SLA deadline: 2025-01-09T06:00:00+00:00" in text
    assert "Still running: extract" in text and "Waiting: report" in text
    assert "Step: " not in text  # not a step's own notification


def test_a_missed_slot_notice_says_it_never_started() -> None:
    context = _context(not_started="not started by its SLA deadline 07:00", waiting_steps=["a"])
    assert default_subject(context).startswith("[MHI] Nightly KPIs: NOT STARTED for its SLA")
    assert "Not started: not started by its SLA deadline 07:00" in default_text(context)


def test_other_notifications_keep_their_subjects() -> None:
    context = _context()
    context["run"] = {**context["run"], "event": "info", "step_id": "notify"}
    assert default_subject(context) == "[MHI] Nightly KPIs: notification from step notify (acme)"
