"""Concurrency slots in the run store: claim, release, recover a dead holder, wake waiters."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.model import keys, slot_keys
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus
from mhi.runtime.controller import Controller
from mhi.runtime.limits import SlotStore
from mhi.runtime.start import parse_start, start_run
from tests.fakes.bus import RecordingBus

T0 = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)
RUN = RunRef("acme", "f", "run-1")


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


def _slots() -> tuple[MemoryRunStore, Clock, SlotStore]:
    store, clock = MemoryRunStore(), Clock()
    return store, clock, SlotStore(store, clock.now, GRACE)


def _holder(step: str, attempt: int = 1, ref: RunRef = RUN) -> dict[str, Any]:
    return {
        "account": ref.account,
        "flow_id": ref.flow_id,
        "run_id": ref.run_id,
        "step": step,
        "attempt": attempt,
        "generation": 0,
    }


def _write(store: MemoryRunStore, key: str, body: dict[str, Any] | None = None) -> None:
    assert store.create(key, json.dumps(body or {"at": T0.isoformat()}).encode())


def test_a_key_gives_out_at_most_limit_slots_until_one_is_given_back() -> None:
    _store, _clock, slots = _slots()
    first = slots.acquire("k", 2, _holder("a"))
    second = slots.acquire("k", 2, _holder("b"))
    assert first == {"key": "k", "slot": 0, "tenancy": 1}
    assert second == {"key": "k", "slot": 1, "tenancy": 1}
    assert slots.acquire("k", 2, _holder("c")) is None
    assert slots.release(first) and not slots.release(first)  # a second release is a no-op
    assert slots.acquire("k", 2, _holder("c")) == {"key": "k", "slot": 0, "tenancy": 2}


def test_a_holder_still_running_keeps_its_slot_past_the_grace_period() -> None:
    store, clock, slots = _slots()
    slots.acquire("k", 1, _holder("a"))
    _write(store, RUN.key(keys.dispatch_key("a", 1, 0)))
    clock.at += timedelta(hours=1)
    assert slots.acquire("k", 1, _holder("b")) is None


def test_a_holder_whose_attempt_ended_without_giving_back_is_recovered() -> None:
    store, clock, slots = _slots()
    slots.acquire("k", 1, _holder("a"))
    _write(store, RUN.key(keys.dispatch_key("a", 1, 0)))
    _write(store, RUN.key(keys.result_key("a", 1)))  # then its controller crashed
    assert slots.acquire("k", 1, _holder("b")) is None  # within the grace period: not yet
    clock.at += GRACE + timedelta(seconds=1)
    assert slots.acquire("k", 1, _holder("b")) == {"key": "k", "slot": 0, "tenancy": 2}
    end = json.loads(store.read(slot_keys.slot_key("k", 0, 1, end=True)) or b"{}")
    assert end["why"].startswith("recovered")


def test_a_holder_that_crashed_before_dispatching_is_recovered_after_the_grace_period() -> None:
    _store, clock, slots = _slots()
    slots.acquire("k", 1, _holder("a"))  # its controller died before dispatched.json
    clock.at += GRACE / 2
    assert slots.acquire("k", 1, _holder("b")) is None
    clock.at += GRACE
    assert slots.acquire("k", 1, _holder("b")) == {"key": "k", "slot": 0, "tenancy": 2}


def test_a_holder_whose_run_is_done_is_recovered() -> None:
    store, clock, slots = _slots()
    slots.acquire("k", 1, _holder("a"))
    _write(store, RUN.key(keys.dispatch_key("a", 1, 0)))
    _write(store, RUN.key(keys.done_key(0)), {"status": "cancelled"})
    clock.at += GRACE * 2
    assert slots.acquire("k", 1, _holder("b")) is not None


def test_old_tenancies_are_pruned_so_a_keys_listing_stays_small() -> None:
    store, _clock, slots = _slots()
    for i in range(10):
        held = slots.acquire("k", 1, _holder(f"s{i}"))
        assert held is not None and held["tenancy"] == i + 1
        slots.release(held)
    assert len(store.list(slot_keys.limit_prefix("k"))) <= 4


def test_a_stale_claim_of_a_pruned_tenancy_is_given_up() -> None:
    store, _clock, slots = _slots()
    for i in range(3):  # tenancies 1 and 2 ended, 3 held; 1 was pruned by the claim of 3
        held = slots.acquire("k", 1, _holder(f"s{i}"))
        assert held is not None
        if i < 2:
            slots.release(held)
    assert store.read(slot_keys.slot_key("k", 0, 1)) is None
    # a claimer that listed before tenancy 2 existed re-creates tenancy 1
    assert slots._take("k", 0, 1, _holder("late"), []) is None
    assert store.read(slot_keys.slot_key("k", 0, 1, end=True)) is not None


def test_every_waiting_run_is_woken_once_and_its_markers_dropped() -> None:
    store, clock, slots = _slots()
    other = RunRef("acme", "f", "run-2")
    slots.register_waiter("k", RUN)
    clock.at += timedelta(seconds=1)
    slots.register_waiter("k", RUN)
    slots.register_waiter("k", other)
    woken: list[RunRef] = []
    assert slots.wake_waiters("k", woken.append) == [RUN, other]
    assert woken == [RUN, other]
    assert store.list(slot_keys.limit_prefix("k")) == []


LIMITED_FLOW = {
    "flow_id": "f",
    "account": "acme",
    "run_id": "run-1",
    "flow_config": {
        "steps": [
            {"id": "root", "type": "ms-echo"},
            {
                "id": "a",
                "type": "ms-echo",
                "depends_on": ["root"],
                "concurrency": {"key": "k", "limit": 2},
            },
        ]
    },
}


def _done(ref: RunRef, step: str, attempt: int = 1) -> CallbackMessage:
    return CallbackMessage(
        run_id=ref.run_id,
        flow_id=ref.flow_id,
        account=ref.account,
        step_id=step,
        attempt=attempt,
        status=CallbackStatus.SUCCEEDED,
    )


def test_a_controller_that_loses_the_dispatch_race_gives_its_own_slot_back_at_once() -> None:
    store, bus = MemoryRunStore(), RecordingBus()
    first = Controller(store, bus, lambda: T0)
    second = Controller(store, bus, lambda: T0)
    ref, _ = start_run(first, parse_start(LIMITED_FLOW, None, frozenset({"ms-echo"})))
    first.advance(ref)  # dispatches root
    second.state(ref)  # loaded while root runs: its view of `a` goes stale
    first.on_callback(_done(ref, "root"))  # `a` takes slot 0 and is dispatched
    second.on_callback(_done(ref, "root"))  # a duplicate: takes slot 1, loses the dispatch claim

    assert [m.step_id for m in bus.steps()].count("a") == 1
    assert store.read(slot_keys.slot_key("k", 1, 1, end=True)) is not None  # given back at once
    assert store.read(slot_keys.slot_key("k", 0, 1, end=True)) is None  # the winner's: still held
    second.on_callback(_done(ref, "a"))  # the loser records the result and gives back slot 0
    end = json.loads(store.read(slot_keys.slot_key("k", 0, 1, end=True)) or b"{}")
    assert end["why"] == "released"
    assert second.state(ref).done is not None


def test_racing_claimers_on_one_folder_never_hold_more_than_the_limit(tmp_path: Path) -> None:
    """Six threads, each a controller instance with its own view, take and give back slots of
    one key on the local store (O_EXCL creates, as GCS preconditions) while tenancies are
    pruned under them: at no moment do more than `limit` hold a slot."""
    store, limit, rounds = FsRunStore(tmp_path), 2, 15
    holding, most, lock = [0], [0], threading.Lock()
    clock = Clock()

    def instance(n: int) -> None:
        slots = SlotStore(store, clock.now, GRACE)
        for i in range(rounds):
            held = None
            while held is None:
                held = slots.acquire("k", limit, _holder(f"s{n}-{i}"))
            with lock:
                holding[0] += 1
                most[0] = max(most[0], holding[0])
            time.sleep(0.002)  # hold a moment: let the others try to take a slot meanwhile
            with lock:
                holding[0] -= 1
            assert slots.release(held)

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert 1 <= most[0] <= limit
    ends = [k for k in store.list(slot_keys.limit_prefix("k")) if k.endswith("-end.json")]
    assert ends and len(store.list(slot_keys.limit_prefix("k"))) <= 4 * limit  # pruned as it went


class CountingStore(MemoryRunStore):
    """Counts the listings of concurrency keys."""

    def __init__(self) -> None:
        super().__init__()
        self.limit_lists = 0

    def list(self, prefix: str) -> list[str]:
        self.limit_lists += prefix.startswith(slot_keys.LIMITS_PREFIX + "/")
        return super().list(prefix)


def test_once_a_key_is_found_full_its_other_waiting_steps_wait_without_looking_again() -> None:
    store, bus = CountingStore(), RecordingBus()
    controller = Controller(store, bus, lambda: T0)
    concurrency = {"key": "k", "limit": 1}
    steps = [{"id": f"s{i}", "type": "ms-echo", "concurrency": concurrency} for i in range(6)]
    raw = {"flow_id": "f", "account": "acme", "run_id": "r", "flow_config": {"steps": steps}}
    ref, _ = start_run(controller, parse_start(raw, None, frozenset({"ms-echo"})))
    controller.advance(ref)
    assert [m.step_id for m in bus.steps()] == ["s0"]
    assert store.limit_lists <= 4  # s0 takes the slot, s1 finds it full, s2-s5 look no more
    state = controller.state(ref, refresh=False)
    assert {sid for sid, _ in state.limits.waiting} == {f"s{i}" for i in range(1, 6)}
