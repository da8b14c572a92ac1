"""SLAs as a time of day in the flow's time zone ("ready by 07:00 Europe/Madrid"), DST-correct."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mhi.constants import SLA_STEP
from mhi.engine import DispatchStep, decide
from mhi.engine.sla import deadline_after, next_time_of_day, sla_deadline
from mhi.errors import FlowDefinitionError
from mhi.model.flow import FlowDefinition
from mhi.model.run import RunState
from tests.unit.engine.helpers import dispatched, flow, ran, slow_flow
from tests.unit.engine.sim import Sim

NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}
MADRID = ZoneInfo("Europe/Madrid")


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _by(by: str, **extra: Any) -> FlowDefinition:
    sla = {"by": by, "notify": NOTIFY, **extra.pop("sla", {})}
    return flow({"id": "a"}, {"id": "b", "depends_on": ["a"]}, sla=sla, **extra)


@pytest.mark.parametrize(
    ("base", "at", "expected"),
    [
        # winter (CET, +01:00) and summer (CEST, +02:00): 07:00 local is a different UTC hour
        (utc(2026, 1, 15, 2, 0), time(7), utc(2026, 1, 15, 6, 0)),
        (utc(2026, 7, 15, 2, 0), time(7), utc(2026, 7, 15, 5, 0)),
        # the slot is the night of the spring change: 07:00 is already summer time
        (utc(2026, 3, 28, 23, 30), time(7), utc(2026, 3, 29, 5, 0)),
        # the night of the autumn change: 07:00 is winter time again
        (utc(2026, 10, 24, 23, 30), time(7), utc(2026, 10, 25, 6, 0)),
        # after today's 07:00: tomorrow's; exactly at it: that one
        (utc(2026, 1, 15, 7, 0), time(7), utc(2026, 1, 16, 6, 0)),
        (utc(2026, 1, 15, 6, 0), time(7), utc(2026, 1, 15, 6, 0)),
        # 02:30 does not exist on the spring night: the moment the clocks jump to (03:30 CEST)
        (utc(2026, 3, 28, 23, 0), time(2, 30), utc(2026, 3, 29, 1, 30)),
        # 02:30 happens twice on the autumn night: the first one (still summer time)
        (utc(2026, 10, 24, 23, 0), time(2, 30), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_the_deadline_is_the_first_such_local_time_at_or_after_the_slot(
    base: datetime, at: time, expected: datetime
) -> None:
    assert next_time_of_day(base, at, MADRID) == expected


def test_the_zone_is_the_slas_own_else_the_schedules_else_utc() -> None:
    base = utc(2026, 7, 15, 2, 0)
    schedule = {"cron": "0 3 * * *", "time_zone": "Europe/Madrid"}
    assert deadline_after(_by("07:00"), base) == utc(2026, 7, 15, 7, 0)
    assert deadline_after(_by("07:00", schedule=schedule), base) == utc(2026, 7, 15, 5, 0)
    own = _by("07:00", schedule=schedule, sla={"time_zone": "America/New_York"})
    assert deadline_after(own, base) == utc(2026, 7, 15, 11, 0)


def test_a_scheduled_run_counts_from_its_slot_not_its_start() -> None:
    f = _by("07:00", sla={"time_zone": "Europe/Madrid"})
    s = RunState(f, "scheduled-20260329T0100Z", {}, utc(2026, 3, 29, 8, 0))
    s.logical_time = "2026-03-29T03:00:00+02:00"
    assert sla_deadline(s) == utc(2026, 3, 29, 5, 0)


def _sla_sends(actions: Sequence[object]) -> list[DispatchStep]:
    return [a for a in actions if isinstance(a, DispatchStep) and a.step_id == SLA_STEP]


def test_decide_sends_the_notice_at_the_local_deadline_across_the_spring_change() -> None:
    # slot 01:30 CET on the spring night; 07:00 CEST is 05:00 UTC, not 06:00
    f = _by("07:00", sla={"time_zone": "Europe/Madrid"})
    s = RunState(f, "r", {}, utc(2026, 3, 29, 0, 30))
    dispatched(s, "a")
    d = decide(s, utc(2026, 3, 29, 4, 59))
    assert _sla_sends(d.actions) == [] and d.wake_at == utc(2026, 3, 29, 5, 0)
    [note] = _sla_sends(decide(s, utc(2026, 3, 29, 5, 0, 1)).actions)
    late = note.upstream["_run"]["sla"]
    assert late["by"] == "07:00" and late["deadline"] == "2026-03-29T05:00:00+00:00"
    assert late["unfinished_steps"] == ["a", "b"] and "within_seconds" not in late


def test_an_on_time_run_with_a_time_of_day_sla_sends_nothing() -> None:
    f = _by("07:00", sla={"time_zone": "Europe/Madrid"})
    s = RunState(f, "r", {}, utc(2026, 10, 25, 0, 30))
    ran(s, "a")
    ran(s, "b")
    d = decide(s, utc(2026, 10, 25, 0, 40))
    assert _sla_sends(d.actions) == [] and d.actions


@pytest.mark.parametrize(
    ("sla", "path", "words"),
    [
        ({"by": "7:00"}, "$.sla.by", "HH:MM"),
        ({"by": "24:00"}, "$.sla.by", "HH:MM"),
        ({"by": "07:60"}, "$.sla.by", "HH:MM"),
        ({"by": "07:00", "within_seconds": 60}, "$.sla", "exactly one"),
        ({}, "$.sla", "exactly one"),
        ({"within_seconds": 60, "time_zone": "UTC"}, "$.sla", "time_zone goes with by"),
        ({"by": "07:00", "time_zone": "Europe/Madird"}, "$.sla.time_zone", "unknown time zone"),
    ],
)
def test_a_bad_time_of_day_sla_is_reported_with_its_path(
    sla: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(FlowDefinitionError) as e:
        flow({"id": "a"}, sla={**sla, "notify": NOTIFY})
    messages = [m for p, m in e.value.problems if p == path]
    assert messages and words in messages[0], e.value.problems


def _sim_flow(by: str) -> FlowDefinition:
    return slow_flow({"by": by, "time_zone": "Europe/Madrid"})


# 10 s before 02:00 CET on the spring night: the clocks then jump to 03:00 CEST, so "03:00"
# is 10 s away (01:00 UTC), not an hour and 10 s as wall-clock arithmetic would have it.
SPRING_NIGHT = utc(2026, 3, 29, 0, 59, 50)


@pytest.mark.parametrize("seed", range(4))
def test_with_a_fake_clock_a_run_late_across_the_dst_change_sends_one_notice(seed: int) -> None:
    # the first attempt fails: the retry waits 30 s, so the run cannot end within 10 s
    sim = Sim(_sim_flow("03:00"), {("slow", 1, 0): "retryable"}, seed, crash_rate=0.1)
    sim.now = SPRING_NIGHT
    sim.run()
    assert len(sim.sla_sends) == 1, sim.sla_sends
    assert sim.sla_sends[0]["deadline"] == "2026-03-29T01:00:00+00:00"
    assert sim.sla_sends[0]["unfinished_steps"] == ["slow", "after"]


@pytest.mark.parametrize("seed", range(4))
def test_with_a_fake_clock_an_on_time_run_across_the_dst_change_sends_none(seed: int) -> None:
    sim = Sim(_sim_flow("04:00"), {("slow", 1, 0): "retryable"}, seed, crash_rate=0.1)
    sim.now = SPRING_NIGHT
    sim.run()
    assert sim.sla_sends == []
