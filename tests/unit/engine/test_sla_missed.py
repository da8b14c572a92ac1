"""A run recorded for a slot nobody started (`missed`): the pure engine ends it at once, without
dispatching a step, sending the SLA notification once; a rerun of it runs normally. Also the
deadline rule read backwards (`latest_base_due`), which the SLA watch looks back from."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mhi.constants import SLA_STEP
from mhi.engine import DispatchStep, FinishRun, SkipStep, decide
from mhi.engine.rerun import plan_rerun
from mhi.engine.sla import deadline_after, latest_base_due
from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.run import RunState, RunStatus
from mhi.model.validate import parse_flow
from tests.unit.engine.helpers import T0, at, dispatched, flow

NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}
DEADLINE = T0 + timedelta(seconds=600)


def _missed_state(**extra: Any) -> RunState:
    f = flow(
        {"id": "a"},
        {"id": "b", "depends_on": ["a"]},
        {"id": "cleanup", "trigger_rule": "all_done", "depends_on": ["b"]},
        sla={"within_seconds": 600, "notify": NOTIFY},
        notifications={"fail": NOTIFY},
        **extra,
    )
    s = RunState(f, "scheduled-20260101T0600Z", {}, T0 + timedelta(seconds=900))
    s.logical_time = T0.isoformat()
    s.missed = {"reason": "the scheduler did not start it", "deadline": DEADLINE.isoformat()}
    return s


def _apply(s: RunState, actions: list[Any], when: datetime) -> None:
    """Fold in what the controller would write for each action."""
    for a in actions:
        if isinstance(a, DispatchStep):
            body = {"at": when.isoformat(), "deadline": a.deadline.isoformat(), "turn": 0}
            s.apply(keys.dispatch_key(a.step_id, a.attempt, 0), body)
        elif isinstance(a, SkipStep):
            s.apply(keys.skipped_key(a.step_id), {"reason": a.reason, "at": when.isoformat()})
        elif isinstance(a, FinishRun):
            s.apply(keys.DONE, {"status": a.status.value, "error": a.error, "at": when.isoformat()})


def test_a_missed_run_ends_at_once_with_one_sla_notice_and_no_step_dispatched() -> None:
    s = _missed_state()
    now = T0 + timedelta(seconds=900)
    actions = decide(s, now).actions
    why = f"not started by its SLA deadline {DEADLINE.isoformat()}: the scheduler did not start it"
    [note] = [a for a in actions if isinstance(a, DispatchStep)]
    assert note.step_id == SLA_STEP and note.config["event"] == "sla"
    late = note.upstream["_run"]["sla"]
    assert late["unfinished_steps"] == ["a", "b", "cleanup"] and late["running_steps"] == []
    assert late["not_started"] == why and late["deadline"] == DEADLINE.isoformat()
    assert actions.index(note) == 0  # before `done`: a finished run owes only claimed notices
    skips = [a for a in actions if isinstance(a, SkipStep)]
    assert [(a.step_id, a.reason) for a in skips] == [(x, why) for x in ("a", "b", "cleanup")]
    assert actions[-1] == FinishRun(RunStatus.FAILED, error=why)
    _apply(s, actions, now)
    # finished: the flow's fail notification follows; the SLA notice is never sent again
    after = decide(s, now + timedelta(seconds=1)).actions
    sends = [a for a in after if isinstance(a, DispatchStep)]
    assert [a.step_id for a in sends] == ["_notify"] and sends[0].config["event"] == "fail"


def test_a_missed_run_whose_notice_was_claimed_before_a_crash_does_not_send_it_again() -> None:
    s = _missed_state()
    now = T0 + timedelta(seconds=900)
    dispatched(s, SLA_STEP, when=900)
    actions = decide(s, now).actions
    assert not any(isinstance(a, DispatchStep) for a in actions)
    assert isinstance(actions[-1], FinishRun) and actions[-1].status == RunStatus.FAILED


def test_a_rerun_of_a_missed_run_runs_its_steps() -> None:
    first = _missed_state()
    now = T0 + timedelta(seconds=900)
    _apply(first, decide(first, now).actions, now)
    plan = plan_rerun(first)
    assert plan.top_level == ["a", "b", "cleanup"]  # every step was skipped: all run again
    # folded again as the run cache does: the rerun record first, then generation 0's objects
    s = _missed_state()
    s.apply(keys.generation_key(1), {"steps": plan.steps, "kept": plan.kept})
    _apply(s, decide(_missed_state(), now).actions, now)
    assert s.reruns.generation == 1
    actions = decide(s, now + timedelta(hours=1)).actions
    assert [a.step_id for a in actions if isinstance(a, DispatchStep)] == ["a"]


def _by_flow(by: str, zone: str, cron: str = "0 2 * * *") -> FlowDefinition:
    return flow(
        {"id": "a"},
        schedule={"cron": cron, "time_zone": zone},
        sla={"by": by, "time_zone": zone, "notify": NOTIFY},
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # 07:00 Madrid is 06:00 UTC in winter: due by 06:30 UTC are slots up to 06:00 UTC today
        (datetime(2026, 1, 10, 6, 30, tzinfo=UTC), datetime(2026, 1, 10, 6, 0, tzinfo=UTC)),
        # before today's 07:00: only slots up to yesterday's 07:00
        (datetime(2026, 1, 10, 5, 59, tzinfo=UTC), datetime(2026, 1, 9, 6, 0, tzinfo=UTC)),
        # summer time: 07:00 Madrid is 05:00 UTC
        (datetime(2026, 7, 10, 5, 0, tzinfo=UTC), datetime(2026, 7, 10, 5, 0, tzinfo=UTC)),
    ],
)
def test_latest_base_due_reads_the_time_of_day_deadline_backwards(
    moment: datetime, expected: datetime
) -> None:
    f = _by_flow("07:00", "Europe/Madrid")
    latest = latest_base_due(f, moment)
    assert latest == expected
    assert deadline_after(f, expected) is not None
    assert deadline_after(f, expected) <= moment  # type: ignore[operator]
    # a moment later, the deadline is the next 07:00: after `moment`
    later = deadline_after(f, expected + timedelta(minutes=1))
    assert later is not None and later > moment


def test_latest_base_due_for_within_seconds_and_without_sla() -> None:
    f = flow({"id": "a"}, sla={"within_seconds": 600, "notify": NOTIFY})
    assert latest_base_due(f, at(1000)) == at(400)
    assert latest_base_due(flow({"id": "a"}), at(1000)) is None


@pytest.mark.parametrize("seed", range(6))
def test_with_crashes_a_missed_run_sends_one_sla_notice_and_runs_no_step(seed: int) -> None:
    from dataclasses import replace

    from tests.unit.engine.sim import Sim

    raw = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {
            "steps": [
                {"id": "a", "type": "ms-echo"},
                {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
            ]
        },
        "sla": {"within_seconds": 60, "notify": NOTIFY},
        "notifications": {"fail": NOTIFY},
    }
    sim = Sim(parse_flow(raw, frozenset({"ms-echo"})), {}, seed, crash_rate=0.15)
    sim.now = T0 + timedelta(seconds=400)
    missed = {"reason": "the scheduler did not start it", "deadline": at(60).isoformat()}
    sim.start_request = replace(sim.start_request, logical_time=T0.isoformat(), missed=missed)
    ref = sim.run()
    assert len(sim.sla_sends) == 1 and sim.sends == 1  # one SLA notice, one fail notice
    assert sim.sla_sends[0]["unfinished_steps"] == ["a", "b"]
    assert {step for step, _a, _t in sim.runs} <= {SLA_STEP, "_notify"}  # no step ran
    done = json.loads(sim.store.objects[ref.prefix + keys.DONE])
    assert done["status"] == "failed" and done["error"].startswith("not started by its SLA")
