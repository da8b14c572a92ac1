"""A per-instance cache of run states, folded from the run store's write-once objects.

The cost of a callback stays independent of the size of the flow: a cached run is re-listed only
where the next decision can change (one step's objects, one join's members), and every write is
folded in as it is made.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mhi.constants import DISPATCH_GRACE_SECONDS
from mhi.errors import UnknownRunError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.run import RunState, parse_time
from mhi.ports import RunStore


def dump(body: dict[str, Any]) -> bytes:
    """Serialise a run object (compact JSON)."""
    return json.dumps(body, default=str, separators=(",", ":")).encode()


@dataclass
class CachedRun:
    """One run's folded state, the keys already folded in, and the lock its writers share."""

    ref: RunRef
    state: RunState
    known: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)


class RunCache:
    """Loads, caches and refreshes run states; creates run objects and folds them in."""

    def __init__(
        self,
        store: RunStore,
        size: int = 512,
        grace: timedelta = timedelta(seconds=DISPATCH_GRACE_SECONDS),
    ) -> None:
        self.store = store
        self.size = size
        self.grace = grace
        self._runs: OrderedDict[str, CachedRun] = OrderedDict()
        self._lock = threading.Lock()

    def read_json(self, key: str) -> dict[str, Any] | None:
        """Read and decode one object (None if absent)."""
        raw = self.store.read(key)
        if raw is None:
            return None
        body: dict[str, Any] = json.loads(raw)
        return body

    @contextmanager
    def run(self, ref: RunRef) -> Iterator[CachedRun]:
        """Hold one run's lock and yield its cached state (loaded on first use).

        Raises:
            UnknownRunError: the run has no `flow.json`.
        """
        with self._lock:
            cached = self._runs.get(ref.prefix)
            if cached is not None:
                self._runs.move_to_end(ref.prefix)
        if cached is None:
            loaded = self._load(ref)
            with self._lock:
                cached = self._runs.setdefault(ref.prefix, loaded)
                while len(self._runs) > self.size:
                    self._runs.popitem(last=False)
        with cached.lock:
            yield cached

    def _load(self, ref: RunRef) -> CachedRun:
        listed = self.store.list(ref.prefix)
        frozen = self.read_json(ref.key(keys.FLOW)) if ref.key(keys.FLOW) in listed else None
        if frozen is None:
            raise UnknownRunError(
                f"no run {ref.run_id!r} of flow {ref.flow_id!r} for account {ref.account!r}"
            )
        from mhi.model.flow import FlowDefinition

        flow = FlowDefinition.model_validate(frozen["flow"])
        state = RunState(
            flow, frozen["run_id"], frozen.get("params", {}), parse_time(frozen["started_at"])
        )
        state.grace = self.grace
        state.logical_time = frozen.get("logical_time")
        state.missed = frozen.get("missed")
        state.parent_run = frozen.get("parent")
        cached = CachedRun(ref, state, {ref.key(keys.FLOW)})
        # Control records (reruns, pauses) first: they say how every other object counts.
        control = ref.key(keys.CONTROL_PREFIX)
        self.fold(cached, [k for k in listed if k.startswith(control)], reload=False)
        self.fold(cached, listed, reload=False)
        state.ended.clear()  # a whole listing: every group's members are known as they are
        return cached

    def _reload(self, cached: CachedRun) -> None:
        """Fold the run again from scratch: a rerun began after its state was folded."""
        fresh = self._load(cached.ref)
        cached.state, cached.known = fresh.state, fresh.known

    def fold(self, cached: CachedRun, listed: list[str], *, reload: bool = True) -> None:
        """Fold in every listed object not yet known (step-side records are only remembered).

        A rerun record (or an object of a generation this state has not seen) folded after
        other objects re-folds the whole run.
        """
        for key in listed:
            if key in cached.known:
                continue
            rel = key[len(cached.ref.prefix) :]
            parsed = keys.parse(rel)
            if parsed is None or parsed.kind in keys.STEP_SIDE:
                cached.known.add(key)
                continue
            body = self.read_json(key)
            if body is not None:
                cached.state.apply(rel, body)
                cached.known.add(key)
        if reload and cached.state.reruns.needs_reload:
            self._reload(cached)

    def refresh(self, cached: CachedRun, rel_prefix: str = "") -> None:
        """Re-list the run's objects under `rel_prefix` and fold in the new ones."""
        self.fold(cached, self.store.list(cached.ref.prefix + rel_prefix))
        if not rel_prefix:
            cached.state.ended.clear()  # a whole listing: no group needs a look

    def refresh_step(self, cached: CachedRun, step_id: str) -> None:
        """Re-list one step's objects."""
        self.refresh(cached, keys.step_prefix(step_id))

    def fold_key(self, cached: CachedRun, rel: str) -> bool:
        """Read one run object by its key (no listing) and fold it in; False if it is absent."""
        key = cached.ref.key(rel)
        if key in cached.known:
            return True
        body = self.read_json(key)
        if body is None:
            return False
        cached.state.apply(rel, body)
        cached.known.add(key)
        if cached.state.reruns.needs_reload:
            self._reload(cached)
        return True

    def fold_turn(self, cached: CachedRun, step_id: str, attempt: int, turn: int) -> bool:
        """Read one turn's dispatch claim and, when it exists, its attempt's result: what an
        instance lacks of a turn another one dispatched, without a listing. False when the
        claim is absent."""
        if not self.fold_key(cached, keys.dispatch_key(step_id, attempt, turn)):
            return False
        self.fold_key(cached, keys.result_key(step_id, attempt))
        return True

    def check_control(self, cached: CachedRun) -> None:
        """Fold in the pauses, resumes and reruns written since this state was folded.

        Control records are numbered in order (a pause, its resume, the next pause...; rerun
        n+1 after rerun n), so reading the next expected key of each series, until one is
        absent, finds them all with reads instead of a listing: usually two reads.
        """
        for _ in range(10_000):
            reruns = cached.state.reruns
            pending = keys.resume_key(reruns.pauses) if reruns.paused else None
            series = [pending or keys.pause_key(reruns.resumes + 1)]
            series.append(keys.generation_key(reruns.generation + 1))
            if not any([self.fold_key(cached, rel) for rel in series]):
                return

    def create(self, cached: CachedRun, rel: str, body: dict[str, Any]) -> bool:
        """Create one run object if absent; fold it in when this call created it."""
        key = cached.ref.key(rel)
        created = self.store.create(key, dump(body))
        if created:
            cached.state.apply(rel, body)
            cached.known.add(key)
        return created
