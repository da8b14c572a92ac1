"""SLAs: a late run sends one `sla` notification (what is late, and why), an on-time run none."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.constants import SLA_STEP
from mhi.engine import DispatchStep, FinishRun, decide
from mhi.errors import FlowDefinitionError
from mhi.model import keys
from mhi.model.flow import FlowDefinition
from tests.unit.engine.helpers import at, dispatched, flow, ran, slow_flow, state
from tests.unit.engine.sim import Sim

NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}


def _sla_flow(within: int, **step: Any) -> FlowDefinition:
    return flow(
        {"id": "a", **step},
        {"id": "b", "depends_on": ["a"]},
        sla={"within_seconds": within, "notify": NOTIFY},
    )


def _sla_actions(actions: list[object]) -> list[DispatchStep]:
    return [a for a in actions if isinstance(a, DispatchStep) and a.step_id == SLA_STEP]


def test_before_the_deadline_the_run_only_wakes_up_at_it() -> None:
    s = state(_sla_flow(60))
    dispatched(s, "a")
    d = decide(s, at(30))
    assert _sla_actions(d.actions) == [] and d.wake_at == at(60)


def test_a_late_run_sends_the_sla_notification_once_saying_what_is_late() -> None:
    s = state(_sla_flow(60))
    dispatched(s, "a")
    [note] = _sla_actions(decide(s, at(61)).actions)
    assert note.type == "ms-notifications" and note.config["event"] == "sla"
    late = note.upstream["_run"]["sla"]
    assert late["unfinished_steps"] == ["a", "b"]
    assert late["running_steps"] == ["a"] and late["waiting_steps"] == ["b"]
    assert late["deadline"] == at(60).isoformat()
    dispatched(s, SLA_STEP)
    assert _sla_actions(decide(s, at(62)).actions) == []  # claimed: never twice
    ran(s, "a")
    assert _sla_actions(decide(s, at(500)).actions) == []


def test_an_on_time_run_finishes_without_any_sla_notification() -> None:
    s = state(_sla_flow(60))
    ran(s, "a")
    ran(s, "b")
    [finish] = decide(s, at(59)).actions
    assert isinstance(finish, FinishRun)


def test_a_bad_sla_is_reported_with_its_path() -> None:
    for sla, path in (
        ({"within_seconds": 0, "notify": NOTIFY}, "$.sla.within_seconds"),
        ({"within_seconds": 60, "notify": {"type": ["pigeon"]}}, "$.sla.notify.type[0]"),
        ({"within_seconds": 60}, "$.sla.notify"),
    ):
        with pytest.raises(FlowDefinitionError) as e:
            flow({"id": "a"}, sla=sla)
        assert path in {p for p, _m in e.value.problems}, e.value.problems


def _sim_flow(within: int) -> FlowDefinition:
    return slow_flow({"within_seconds": within})


@pytest.mark.parametrize("seed", range(5))
def test_with_a_fake_clock_a_late_run_sends_one_sla_notification(seed: int) -> None:
    # the first attempt fails: the retry waits 30 s, so the run cannot end within 10 s
    sim = Sim(_sim_flow(10), {("slow", 1, 0): "retryable"}, seed, crash_rate=0.1)
    sim.run()
    assert len(sim.sla_sends) == 1, sim.sla_sends
    assert sim.sla_sends[0]["unfinished_steps"] == ["slow", "after"]
    assert sim.sla_sends[0]["waiting_steps"] == ["after"]


@pytest.mark.parametrize("seed", range(5))
def test_with_a_fake_clock_an_on_time_run_sends_none(seed: int) -> None:
    sim = Sim(_sim_flow(3600), {("slow", 1, 0): "retryable"}, seed, crash_rate=0.1)
    sim.run()
    assert sim.sla_sends == []


def test_a_rerun_sends_no_sla_notification() -> None:
    s = state(_sla_flow(60))
    s.apply(keys.generation_key(1), {"steps": {"a": 2, "b": 1}, "kept": []})
    assert s.reruns.generation == 1
    d = decide(s, at(3600))
    assert _sla_actions(d.actions) == [] and d.wake_at is None
