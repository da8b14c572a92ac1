"""Concurrency slots in the run store, shared by every run and controller instance on it.

A slot of a key is held by creating its next *tenancy* object and given back by creating that
tenancy's end record; both are written once (`limits/<key>/<slot>/<tenancy>.json` and
`...-end.json`, see `mhi.model.keys`), so racing controllers cannot both take one slot and no
object is ever rewritten. Only the latest tenancy of a slot counts: older ones are deleted by
whoever takes the slot next, which keeps a key's listing small however many holds it has had.

A holder whose attempt has ended (its result exists), whose run generation is done, or that
never dispatched its attempt within the grace period (its controller died between the claim
and the dispatch) is dead: the next claimer ends its tenancy ("recovered") and takes the slot.

A run that finds every slot taken leaves a waiter marker (`limits/<key>/waiting/...`) and looks
again; whoever gives a slot back wakes every waiting run with a controller `wake` message, so a
release in one run starts the next waiting step of any other at once. A wake that is lost costs
only time: a waiting step also looks again every `RECHECK_SECONDS` and at every sweep.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mhi.engine.actions import AcquireSlot, ReleaseSlot
from mhi.model import keys, slot_keys
from mhi.model.keys import RunRef
from mhi.model.limits import RECHECK_SECONDS
from mhi.model.states import parse_time
from mhi.ports import RunStore
from mhi.runtime.run_cache import CachedRun, RunCache, dump

logger = logging.getLogger(__name__)

Top = tuple[int, bool]  # (latest tenancy of a slot, whether it has ended)


class SlotStore:
    """Claims, releases and recovers the slots of concurrency keys in a RunStore."""

    def __init__(self, store: RunStore, now: Callable[[], datetime], grace: timedelta) -> None:
        self.store = store
        self.now = now
        self.grace = grace

    def acquire(self, key: str, limit: int, holder: dict[str, Any]) -> dict[str, Any] | None:
        """Take one of slots 0..limit-1 of `key` for `holder`; None when every one is held.

        `holder` names the attempt (account, flow_id, run_id, step, attempt, generation), so a
        later claimer can tell whether it is still alive. Returns the slot record
        `{"key", "slot", "tenancy"}` a dispatch claim carries.
        """
        listed = self.store.list(slot_keys.limit_prefix(key))
        tops = _tops(key, listed)
        for slot in range(limit):
            top = tops.get(slot)
            if top is None or top[1]:
                taken = self._take(key, slot, (top[0] if top else 0) + 1, holder, listed)
                if taken is not None:
                    return taken
        for slot in range(limit):
            top = tops.get(slot)
            if top is not None and not top[1] and self.holder_gone(key, slot, top[0]):
                self.end(key, slot, top[0], "recovered: its holder ended or never started")
                taken = self._take(key, slot, top[0] + 1, holder, listed)
                if taken is not None:
                    return taken
        return None

    def _take(
        self, key: str, slot: int, tenancy: int, holder: dict[str, Any], listed: list[str]
    ) -> dict[str, Any] | None:
        body = {**holder, "at": self.now().isoformat()}
        if not self.store.create(slot_keys.slot_key(key, slot, tenancy), dump(body)):
            return None  # another claimer took it first
        # A claimer that listed long ago may re-create a tenancy already pruned: the slot's own
        # listing shows a later tenancy then, and this stale hold is given up at once.
        here = self.store.list(slot_keys.limit_prefix(key, str(slot)))
        if any((p := slot_keys.parse_slot_key(key, k)) and p[1] > tenancy for k in here):
            self.end(key, slot, tenancy, "superseded: a later tenancy exists")
            return None
        for old in listed:
            parsed = slot_keys.parse_slot_key(key, old)
            if parsed is not None and parsed[0] == slot and parsed[1] <= tenancy - 2:
                self.store.delete(old)
        return {"key": key, "slot": slot, "tenancy": tenancy}

    def end(self, key: str, slot: int, tenancy: int, why: str) -> bool:
        """Write a tenancy's end record; False when it had already ended."""
        body = {"why": why, "at": self.now().isoformat()}
        return self.store.create(slot_keys.slot_key(key, slot, tenancy, end=True), dump(body))

    def release(self, record: dict[str, Any]) -> bool:
        """Give back the slot a `{"key", "slot", "tenancy"}` record names (idempotent)."""
        return self.end(record["key"], int(record["slot"]), int(record["tenancy"]), "released")

    def holder_gone(self, key: str, slot: int, tenancy: int) -> bool:
        """Whether a tenancy's holder will never give its slot back itself."""
        raw = self.store.read(slot_keys.slot_key(key, slot, tenancy))
        if raw is None:
            return False  # the latest tenancy is never deleted: a listing raced a claim
        holder = json.loads(raw)
        if self.now() < parse_time(holder["at"]) + self.grace:
            return False
        ref = RunRef(holder["account"], holder["flow_id"], holder["run_id"])
        step, number = holder["step"], int(holder["attempt"])
        objects = self.store.list(ref.key(keys.attempt_key(step, number, "")))
        if ref.key(keys.result_key(step, number)) in objects:
            return True
        if self.store.read(ref.key(keys.done_key(int(holder.get("generation", 0))))):
            return True
        return ref.key(keys.dispatch_key(step, number, 0)) not in objects

    def register_waiter(self, key: str, ref: RunRef) -> None:
        """Leave a marker that `ref` waits for a slot of `key` (one per wait, never rewritten)."""
        token = f"{self.now():%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"
        self.store.create(
            slot_keys.waiter_key(key, ref, token), dump({"at": self.now().isoformat()})
        )

    def wake_waiters(self, key: str, wake: Callable[[RunRef], None]) -> list[RunRef]:
        """Wake each run waiting for a slot of `key` once, and drop its markers."""
        woken: list[RunRef] = []
        for marker in self.store.list(slot_keys.limit_prefix(key, "waiting")):
            ref = slot_keys.parse_waiter_key(key, marker)
            if ref is not None and ref not in woken:
                wake(ref)
                woken.append(ref)
            self.store.delete(marker)
        return woken


def describe_key(store: RunStore, key: str) -> dict[str, Any]:
    """Who holds each slot of a concurrency key, and which runs wait for one (`mhi limits`)."""
    listed = store.list(slot_keys.limit_prefix(key))
    slots = []
    for slot, (tenancy, ended) in sorted(_tops(key, listed).items()):
        raw = None if ended else store.read(slot_keys.slot_key(key, slot, tenancy))
        holder = json.loads(raw) if raw else None
        slots.append({"slot": slot, "tenancy": tenancy, "holder": holder})
    refs = (slot_keys.parse_waiter_key(key, k) for k in listed)
    waiting = sorted({f"{r.account}/{r.flow_id}/{r.run_id}" for r in refs if r is not None})
    return {"key": key, "slots": slots, "waiting": waiting}


def _tops(key: str, listed: list[str]) -> dict[int, Top]:
    """Per slot, its latest tenancy and whether that one ended."""
    latest: dict[int, int] = {}
    ended: set[tuple[int, int]] = set()
    for k in listed:
        parsed = slot_keys.parse_slot_key(key, k)
        if parsed is None:
            continue
        slot, tenancy, is_end = parsed
        latest[slot] = max(latest.get(slot, 0), tenancy)
        if is_end:
            ended.add((slot, tenancy))
    return {slot: (t, (slot, t) in ended) for slot, t in latest.items()}


def acquire_slot(
    slots: SlotStore, cache: RunCache, cached: CachedRun, action: AcquireSlot, now: datetime
) -> None:
    """Carry out `AcquireSlot`: note the slot granted, or the wait (shown in the run)."""
    state, ref = cached.state, cached.ref
    number = state.reruns.absolute(action.step_id, action.attempt)
    attempt = (action.step_id, action.attempt)
    full_until = state.limits.full.get(action.key)
    if full_until is not None and now < full_until:
        # Found full a moment ago in this same look (the other for_each children of a step):
        # nothing was given back since, or the release would have cleared the mark.
        _wait(cache, cached, action, number, full_until, now)
        return
    holder = {
        "account": ref.account,
        "flow_id": ref.flow_id,
        "run_id": ref.run_id,
        "step": action.step_id,
        "attempt": number,
        "generation": state.reruns.generation,
    }
    slot = slots.acquire(action.key, action.limit, holder)
    if slot is None:
        # Register first, then look again: a release between the two looks wakes this run.
        slots.register_waiter(action.key, ref)
        slot = slots.acquire(action.key, action.limit, holder)
    if slot is not None:
        state.limits.grant(attempt, slot)
        return
    until = now + timedelta(seconds=RECHECK_SECONDS)
    state.limits.full[action.key] = until
    _wait(cache, cached, action, number, until, now)


def _wait(
    cache: RunCache,
    cached: CachedRun,
    action: AcquireSlot,
    number: int,
    until: datetime,
    now: datetime,
) -> None:
    """Note that an attempt waits for a slot, and record it in the run the first time."""
    state = cached.state
    state.limits.wait((action.step_id, action.attempt), action.key, until)
    shown = state.limits.shown.get(action.step_id)
    if shown is None or shown[0] < number:
        logger.info(
            "step %s waits for a slot of %s (limit %d)", action.step_id, action.key, action.limit
        )
        body = {"key": action.key, "limit": action.limit, "at": now.isoformat()}
        cache.create(cached, keys.slot_wait_key(action.step_id, number), body)


def release_slot(
    slots: SlotStore, cached: CachedRun, action: ReleaseSlot, wake: Callable[[RunRef], None]
) -> None:
    """Carry out `ReleaseSlot`: end the tenancy and wake the runs waiting for the key."""
    key = str(action.slot["key"])
    if slots.release(action.slot):
        logger.info("step %s gave back its slot of %s", action.step_id, key)
        slots.wake_waiters(key, wake)
    cached.state.limits.release((action.step_id, action.attempt))
    cached.state.limits.recheck(key)  # this run's own waiting steps look again at once
