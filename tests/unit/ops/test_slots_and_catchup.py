"""Schedule slots, their run ids, and catch-up of missed slots when a schedule fires."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.model import keys
from mhi.model.slots import SlotError, logical_time, slot_of, slot_run_id, slots
from mhi.model.validate import parse_flow
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router, scheduled_run_id
from tests.fakes.bus import RecordingBus

TYPES = frozenset({"ms-echo"})


def _flow(schedule: dict[str, Any] | None) -> Any:
    raw: dict[str, Any] = {
        "flow_id": "nightly",
        "account": "acme",
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo"}]},
    }
    if schedule is not None:
        raw["schedule"] = schedule
    return parse_flow(raw, TYPES)


def test_slots_follow_the_cron_in_its_time_zone_and_daily_without_one() -> None:
    flow = _flow({"cron": "0 6 * * *", "time_zone": "Europe/Madrid"})
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, 23, 59, tzinfo=UTC)
    fired = list(slots(flow, start, end))
    assert [slot_run_id(f) for f in fired] == [
        "scheduled-20250101T0500Z",
        "scheduled-20250102T0500Z",
        "scheduled-20250103T0500Z",
    ]
    assert logical_time(flow, fired[0]) == "2025-01-01T06:00:00+01:00"
    assert slot_of("scheduled-20250102T0500Z") == fired[1] and slot_of("r1") is None
    daily = list(slots(_flow(None), start, end))
    assert [f.day for f in daily] == [1, 2, 3] and all(f.hour == 0 for f in daily)
    with pytest.raises(SlotError, match="before the start"):
        list(slots(flow, end, start))


def test_a_slot_run_id_is_the_schedulers_own() -> None:
    message = PubSubMessage(
        b"{}",
        {"mhi_trigger": "schedule", "mhi_cron": "0 6 * * *", "mhi_time_zone": "UTC"},
        "m1",
        publish_time=datetime(2025, 1, 2, 6, 0, 3, tzinfo=UTC),
    )
    assert scheduled_run_id(message) == slot_run_id(datetime(2025, 1, 2, 6, 0, tzinfo=UTC))


def _fire(router: Router, flow: Any, when: datetime) -> None:
    body = json.dumps({**flow.model_dump(mode="json", exclude_none=True)}).encode()
    attributes = {"mhi_trigger": "schedule", "mhi_cron": flow.schedule.cron}
    router.route(PubSubMessage(body, attributes, "m1", publish_time=when))


@pytest.mark.parametrize("catchup", [True, False])
def test_a_catchup_schedule_starts_the_slots_it_missed(catchup: bool) -> None:
    flow = _flow({"cron": "0 6 * * *", "catchup": catchup})
    store = MemoryRunStore()
    controller = Controller(store, RecordingBus(), lambda: datetime(2025, 1, 9, tzinfo=UTC))
    router = Router(lambda: controller, None, lambda: TYPES)
    _fire(router, flow, datetime(2025, 1, 2, 6, 0, 2, tzinfo=UTC))  # the last run before a gap
    _fire(router, flow, datetime(2025, 1, 6, 6, 0, 1, tzinfo=UTC))  # 3, 4 and 5 were missed
    runs = sorted(k.split("/")[3] for k in store.list("runs/") if k.endswith(keys.FLOW))
    missed = ["scheduled-20250103T0600Z", "scheduled-20250104T0600Z", "scheduled-20250105T0600Z"]
    expected = [
        "scheduled-20250102T0600Z",
        *(missed if catchup else []),
        "scheduled-20250106T0600Z",
    ]
    assert runs == expected
    if catchup:
        frozen = json.loads(store.read(f"runs/acme/nightly/{missed[0]}/{keys.FLOW}") or b"{}")
        assert frozen["requested_by"] == {"actor": "scheduler", "via": "catchup"}
        assert frozen["logical_time"] == "2025-01-03T06:00:00+00:00"
    _fire(router, flow, datetime(2025, 1, 6, 6, 0, 9, tzinfo=UTC))  # a redelivery: nothing new
    assert len([k for k in store.list("runs/") if k.endswith(keys.FLOW)]) == len(expected)


def test_a_first_catchup_fire_without_an_earlier_run_starts_only_itself() -> None:
    flow = _flow({"cron": "0 6 * * *", "catchup": True})
    store = MemoryRunStore()
    controller = Controller(store, RecordingBus(), lambda: datetime(2025, 1, 9, tzinfo=UTC))
    _fire(
        Router(lambda: controller, None, lambda: TYPES),
        flow,
        datetime(2025, 1, 6, 6, 0, 1, tzinfo=UTC),
    )
    assert [k.split("/")[3] for k in store.list("runs/") if k.endswith(keys.FLOW)] == [
        "scheduled-20250106T0600Z"
    ]
