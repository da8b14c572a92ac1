"""`mhi stats` reports SLA hits and misses per flow, from runs the real controller ran in a store
on a fake clock (a time-of-day SLA in Europe/Madrid, across the spring DST change)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mhi.cli.main import main
from mhi.config import Settings
from mhi.constants import CALLBACK_TOPIC
from mhi.model.messages import parse_callback
from mhi.ops import stats
from mhi.ports import RunStore
from mhi.runtime.controller import Controller
from mhi.runtime.start import parse_start, start_run
from mhi.services import Services
from mhi.steps.sdk import handle_step_message

NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}
SLA_FLOW: dict[str, Any] = {
    "flow_id": "kpis",
    "account": "hotel-fergus",
    "schedule": {"cron": "0 3 * * *", "time_zone": "Europe/Madrid"},
    "sla": {"by": "07:00", "notify": NOTIFY},  # in the schedule's zone
    "flow_config": {"steps": [{"id": "a", "type": "ms-echo", "timeout_seconds": 86400}]},
}
PLAIN_FLOW: dict[str, Any] = {
    "flow_id": "plain",
    "account": "hotel-fergus",
    "flow_config": {"steps": [{"id": "a", "type": "ms-echo", "timeout_seconds": 86400}]},
}


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class _Bus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, topic: str, data: bytes, attributes: object) -> None:
        self.messages.append((topic, data))


def _run(
    store: RunStore, tmp: Any, raw: dict[str, Any], run_id: str, start: datetime, end: datetime
) -> None:
    """Start a run at `start`; unless `end` is before it, run its steps and finish it at `end`."""
    clock, bus = _Clock(start), _Bus()
    controller = Controller(store, bus, clock.now)
    services = Services(Settings(home=tmp), run_store=store, bus=bus, clock=clock)
    start_run(controller, parse_start({**raw, "run_id": run_id}, None))
    if end < start:
        return  # still running
    clock.at = end
    while bus.messages:
        topic, data = bus.messages.pop(0)
        if topic == CALLBACK_TOPIC:
            controller.on_callback(parse_callback(data))
        else:
            handle_step_message(data, services)


@pytest.fixture
def store(tmp_path: Any) -> RunStore:
    """Runs of an SLA flow and of a flow without one, in the test's own local store."""
    runs = Services(Settings.from_env()).run_store
    # slot 03:00 CET (02:00 UTC); 07:00 CET is 06:00 UTC: done at 05:30 UTC, met
    _run(runs, tmp_path, SLA_FLOW, "scheduled-20260328T0200Z", utc(28, 2), utc(28, 5, 30))
    # the spring night: 07:00 is summer time, 05:00 UTC: done at 05:30 UTC, 30 minutes late
    _run(runs, tmp_path, SLA_FLOW, "scheduled-20260329T0100Z", utc(29, 1), utc(29, 5, 30))
    # still running long after the 30th's 07:00 CEST: missed, by 23 hours at `NOW`
    _run(runs, tmp_path, SLA_FLOW, "scheduled-20260330T0100Z", utc(30, 1), utc(1, 0))
    # still running before the 31st's 07:00: pending
    _run(runs, tmp_path, SLA_FLOW, "scheduled-20260331T0100Z", utc(31, 1), utc(1, 0))
    _run(runs, tmp_path, PLAIN_FLOW, "p1", utc(29, 1), utc(29, 9))
    return runs


NOW = utc(31, 4)


def test_stats_count_sla_hits_misses_and_pending_runs_per_flow(store: RunStore) -> None:
    figures = stats.compute(store, since=utc(1, 0), now=NOW)
    sla = figures["flows"]["kpis"]["sla"]
    assert sla == {
        "runs": 4,
        "met": 1,
        "missed": 2,
        "pending": 1,
        "hit_rate": round(1 / 3, 4),
        "worst_late_seconds": 23 * 3600.0,
    }
    assert figures["flows"]["plain"]["sla"] is None  # no SLA: not counted for one
    assert figures["runs"]["sla"] == sla  # the only flow with an SLA
    assert figures["flows"]["kpis"]["count"] == 4 and figures["flows"]["kpis"]["finished"] == 2


def test_without_a_clock_a_running_run_is_pending_not_missed(store: RunStore) -> None:
    sla = stats.compute(store, flow_id="kpis", since=utc(1, 0))["flows"]["kpis"]["sla"]
    assert (sla["met"], sla["missed"], sla["pending"]) == (1, 1, 2)
    assert sla["worst_late_seconds"] == 1800.0


def test_mhi_stats_prints_the_sla_table(
    store: RunStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--since", "2026-03-01"]) == 0
    out = capsys.readouterr().out
    section = out.split("SLA per flow")[1].split("per step type")[0]
    rows = [
        line.split() for line in section.splitlines() if line.split()[:1] in (["kpis"], ["plain"])
    ]
    # the clock is the real one, long after March: both running runs have missed their SLA
    assert [r[:6] for r in rows] == [["kpis", "4", "1", "3", "0", "25.0%"]]
