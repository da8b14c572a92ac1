"""The SLA watch in the minute sweep, on a fake clock: a schedule slot nobody started by its SLA
deadline becomes one missed run that sends one SLA notice, however often and by however many
routers it is swept; a slot that started, a flow without SLA, or a flow that never ran get none."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.constants import SLA_STEP
from mhi.errors import RetryableError
from mhi.model import keys
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router
from mhi.runtime.sla_watch import due_slots
from mhi.runtime.start import FolderFlowSource
from tests.fakes.bus import RecordingBus

TYPES = frozenset({"ms-echo"})
NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}
SWEEP = PubSubMessage(b'{"kind": "sweep"}', {}, "s1")
JAN9 = "scheduled-20250109T0200Z"


def _flow(cron: str = "0 2 * * *", sla: dict[str, Any] | None = None, **extra: Any) -> Any:
    raw: dict[str, Any] = {
        "flow_id": "nightly",
        "account": "acme",
        "schedule": {"cron": cron},
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo"}, {"id": "b", "type": "ms-echo"}]},
        **extra,
    }
    if sla is not None:
        raw["sla"] = {**sla, "notify": NOTIFY}
    return raw


BY_SEVEN = {"by": "07:00", "time_zone": "UTC"}


class World:
    """Flows in a folder, one run store, a fake clock, and routers sharing them."""

    def __init__(self, tmp_path: Path, flow: dict[str, Any], when: datetime) -> None:
        (tmp_path / f"{flow['flow_id']}.json").write_text(json.dumps(flow))
        self.flows = FolderFlowSource(tmp_path)
        self.store = MemoryRunStore()
        self.bus = RecordingBus()
        self.clock = [when]

    def router(self, **kw: Any) -> Router:
        """A router with its own controller (its own cache), as another instance has."""
        now: Callable[[], datetime] = lambda: self.clock[0]  # noqa: E731
        controller = Controller(self.store, self.bus, now)
        return Router(lambda: controller, self.flows, lambda: TYPES, **kw)

    def fire(self, router: Router, published: datetime, cron: str = "0 2 * * *") -> None:
        """Cloud Scheduler's start of the slot fired at `published`."""
        body = json.dumps({"flow_ref": "nightly", "params": {}}).encode()
        attributes = {"mhi_trigger": "schedule", "mhi_cron": cron}
        router.route(PubSubMessage(body, attributes, "m1", publish_time=published))

    def runs(self) -> dict[str, dict[str, Any]]:
        """`account/run_id` -> frozen flow.json of every run."""
        out = {}
        for key in self.store.list("runs/"):
            if key.endswith("/" + keys.FLOW):
                parts = key.split("/")
                out[f"{parts[1]}/{parts[3]}"] = json.loads(self.store.read(key) or b"{}")
        return out

    def missed(self) -> list[str]:
        return sorted(name for name, frozen in self.runs().items() if frozen.get("missed"))

    def sla_notices(self, *run_ids: str) -> list[str]:
        """`account/run_id` of every SLA notification published for these runs (the earlier
        runs, never finished here, are late too and send their own)."""
        return [
            f"{m.account}/{m.run_id}"
            for m in self.bus.steps()
            if m.step_id == SLA_STEP and m.run_id in run_ids
        ]

    def done(self, account: str, run_id: str) -> dict[str, Any]:
        raw = self.store.read(f"runs/{account}/nightly/{run_id}/{keys.DONE}")
        body: dict[str, Any] = json.loads(raw or b"{}")
        return body


def _utc(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def test_a_slot_never_started_gets_one_missed_run_and_one_notice_however_often_swept(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, _flow(sla=BY_SEVEN), _utc(8, 2))
    first, second = world.router(), world.router()
    world.fire(first, _utc(8, 2, 0))  # the last slot the scheduler started
    world.clock[0] = _utc(9, 7, 2)  # past 07:00, within the start grace: not yet
    first.route(SWEEP)
    assert world.missed() == []
    world.clock[0] = _utc(9, 7, 6)
    first.route(SWEEP)
    second.route(SWEEP)  # another instance, its own cache
    first.route(SWEEP)
    assert world.missed() == [f"acme/{JAN9}"]
    assert world.sla_notices(JAN9) == [f"acme/{JAN9}"]
    frozen = world.runs()[f"acme/{JAN9}"]
    assert frozen["missed"]["deadline"] == "2025-01-09T07:00:00+00:00"
    assert frozen["logical_time"] == "2025-01-09T02:00:00+00:00"
    assert frozen["requested_by"] == {"actor": "controller", "via": "sla-watch"}
    done = world.done("acme", JAN9)
    assert done["status"] == "failed"
    assert done["error"].startswith("not started by its SLA deadline 2025-01-09T07:00:00+00:00")
    # no step of the missed run was dispatched
    assert not [m for m in world.bus.steps() if m.run_id == JAN9 and m.step_id != SLA_STEP]


def test_a_late_scheduler_start_of_a_missed_slot_runs_nothing(tmp_path: Path) -> None:
    world = World(tmp_path, _flow(sla=BY_SEVEN), _utc(8, 2))
    router = world.router()
    world.fire(router, _utc(8, 2, 0))
    world.clock[0] = _utc(9, 7, 30)
    router.route(SWEEP)
    world.fire(router, _utc(9, 2, 0))  # the slot's own start, delivered very late
    assert world.missed() == [f"acme/{JAN9}"]
    assert not [m for m in world.bus.steps() if m.run_id == JAN9 and m.step_id != SLA_STEP]
    assert world.sla_notices(JAN9) == [f"acme/{JAN9}"]


def test_a_slot_started_on_time_is_not_recorded_as_missed(tmp_path: Path) -> None:
    world = World(tmp_path, _flow(sla=BY_SEVEN), _utc(8, 2))
    router = world.router()
    world.fire(router, _utc(8, 2, 0))
    world.clock[0] = _utc(9, 2)
    world.fire(router, _utc(9, 2, 0))
    world.clock[0] = _utc(9, 7, 30)
    router.route(SWEEP)
    assert world.missed() == []
    assert sorted(world.runs()) == ["acme/scheduled-20250108T0200Z", f"acme/{JAN9}"]


def test_a_flow_without_sla_or_never_run_gets_no_missed_run(tmp_path: Path) -> None:
    without = World(tmp_path / "a", _mkdir(tmp_path / "a", _flow()), _utc(8, 2))
    router = without.router()
    without.fire(router, _utc(8, 2, 0))
    without.clock[0] = _utc(9, 23)
    router.route(SWEEP)
    assert list(without.runs()) == ["acme/scheduled-20250108T0200Z"]
    never = World(tmp_path / "b", _mkdir(tmp_path / "b", _flow(sla=BY_SEVEN)), _utc(9, 23))
    never.router().route(SWEEP)  # no slot before ever ran: no schedule to have missed
    assert never.runs() == {}


def _mkdir(path: Path, flow: dict[str, Any]) -> dict[str, Any]:
    path.mkdir()
    return flow


def test_a_gap_of_several_slots_is_recorded_whole_oldest_first(tmp_path: Path) -> None:
    hourly = "0 * * * *"
    world = World(tmp_path, _flow(hourly, {"within_seconds": 600}), _utc(9, 5))
    router = world.router()
    world.fire(router, _utc(9, 5, 0), hourly)
    world.clock[0] = _utc(9, 8, 20)  # 06:00, 07:00 and 08:00 missed (due 06:10 ... 08:10)
    router.route(SWEEP)
    ids = [f"scheduled-20250109T{h:02d}00Z" for h in (6, 7, 8)]
    assert world.missed() == [f"acme/{i}" for i in ids]
    assert sorted(world.sla_notices(*ids)) == [f"acme/{i}" for i in ids]


def test_schedule_accounts_get_one_missed_run_per_served_account(tmp_path: Path) -> None:
    flow = _flow(sla=BY_SEVEN, params={"hotel": {"required": True}})
    flow["account"] = "{{ params.hotel }}"
    flow["schedule"]["accounts"] = ["hotel-a", "hotel-b", "hotel-c"]
    world = World(tmp_path, flow, _utc(8, 2))
    world.fire(world.router(), _utc(8, 2, 0))  # one run per account
    world.clock[0] = _utc(9, 8)
    world.router(accounts=frozenset({"hotel-a", "hotel-b"})).route(SWEEP)
    expected = [f"hotel-a/{JAN9}", f"hotel-b/{JAN9}"]  # hotel-c: another deployment's
    assert world.missed() == expected
    assert sorted(world.sla_notices(JAN9)) == expected


def test_a_bad_stored_flow_does_not_stop_the_watch_of_the_others(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text(
        json.dumps({"flow_id": "broken", "schedule": {"cron": "0 2 * * *"}, "sla": {}})
    )
    world = World(tmp_path, _flow(sla=BY_SEVEN), _utc(8, 2))
    router = world.router()
    world.fire(router, _utc(8, 2, 0))
    world.clock[0] = _utc(9, 8)
    router.route(SWEEP)
    assert world.missed() == [f"acme/{JAN9}"]


def test_due_slots_are_bounded_and_only_those_past_their_deadline() -> None:
    from mhi.model.validate import parse_flow

    hourly = parse_flow(_flow("0 * * * *", {"within_seconds": 600}), TYPES)
    assert due_slots(hourly, _utc(9, 8, 20)) == [_utc(9, 6), _utc(9, 7), _utc(9, 8)]
    assert due_slots(hourly, _utc(9, 8, 14)) == [_utc(9, 5), _utc(9, 6), _utc(9, 7)]
    daily = parse_flow(_flow(sla=BY_SEVEN), TYPES)
    assert due_slots(daily, _utc(9, 7, 6)) == [_utc(9, 2)]  # yesterday's deadline: > 24 h ago
    assert due_slots(daily, _utc(9, 6, 0)) == [_utc(8, 2)]
    assert due_slots(parse_flow(_flow(), TYPES), _utc(9, 8)) == []


def test_a_catchup_schedule_reruns_the_slot_recorded_as_missed(tmp_path: Path) -> None:
    flow = _flow(sla=BY_SEVEN)
    flow["schedule"]["catchup"] = True
    world = World(tmp_path, flow, _utc(8, 2))
    router = world.router()
    world.fire(router, _utc(8, 2, 0))
    world.clock[0] = _utc(9, 7, 30)
    router.route(SWEEP)
    assert world.missed() == [f"acme/{JAN9}"]
    world.clock[0] = _utc(10, 2)
    world.fire(router, _utc(10, 2, 0))  # the scheduler is back: catch-up fills the gap
    rerun = world.store.read(f"runs/acme/nightly/{JAN9}/{keys.generation_key(1)}")
    assert rerun is not None
    assert json.loads(rerun)["by"] == {"actor": "scheduler", "via": "catchup"}
    assert [m.step_id for m in world.bus.steps() if m.run_id == JAN9] == [SLA_STEP, "a", "b"]
    world.fire(router, _utc(10, 2, 0))  # a redelivery: nothing reruns twice
    assert world.store.read(f"runs/acme/nightly/{JAN9}/{keys.generation_key(2)}") is None
    assert world.sla_notices(JAN9) == [f"acme/{JAN9}"]


class _DownFlows:
    """A flow bucket that cannot be listed right now."""

    def get(self, flow_id: str) -> bytes | None:
        return None

    def list_ids(self) -> list[str]:
        raise RetryableError("flows bucket: 503 Service Unavailable")


def test_a_flow_bucket_that_cannot_be_listed_leaves_the_sweep_done(tmp_path: Path) -> None:
    world = World(tmp_path, _flow(sla=BY_SEVEN), _utc(8, 2))
    world.fire(world.router(), _utc(8, 2, 0))
    world.clock[0] = _utc(9, 8)
    controller = Controller(world.store, world.bus, lambda: world.clock[0])
    routed = Router(lambda: controller, _DownFlows(), lambda: TYPES).route(SWEEP)
    assert world.missed() == []
    # the active run was still advanced: it is late, and said so
    assert list(routed.wake) and world.sla_notices("scheduled-20250108T0200Z")
