"""The controller: thin I/O around the pure engine. On start, on callback, on sweep.

Every write is a create-if-absent of one object; whoever creates a claim acts on it, everybody
else reads what won. A per-instance cache of run states keeps the cost of a callback independent
of the size of the flow: only the objects that can change the next decision are re-listed.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mhi.constants import (
    ACTIVE_PREFIX,
    CALLBACK_TOPIC,
    DONE_KEY,
    FLOW_KEY,
    MAX_OUTPUT_BYTES,
    RUN_GROUP,
    active_key,
    attempt_key,
    progress_key,
    run_prefix,
    skipped_key,
)
from mhi.engine import (
    DispatchStep,
    ExpandStep,
    FinishRun,
    RecordResult,
    SkipStep,
    decide,
)
from mhi.engine.actions import Action
from mhi.engine.summary import flow_notification
from mhi.errors import InvalidMessageError, UnknownRunError
from mhi.model.messages import CallbackMessage, CallbackStatus, StepMessage, encode
from mhi.model.run import JOIN_PREFIX, NOTIFY_STEP, RunState, StepState, join_group, parse_time
from mhi.ports import MessageBus, RunStore
from mhi.runtime.logs import bind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRef:
    """Names one run."""

    account: str
    flow_id: str
    run_id: str

    @property
    def prefix(self) -> str:
        """The run's object prefix."""
        return run_prefix(self.account, self.flow_id, self.run_id)


@dataclass
class _Cached:
    state: RunState
    known: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, default=str, separators=(",", ":")).encode()


def new_run_id(now: datetime) -> str:
    """A sortable, unique run id: `20260101T060000Z-1a2b3c4d`."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


class Controller:
    """Carries out `decide` for runs stored in a RunStore, publishing through a MessageBus."""

    def __init__(
        self,
        store: RunStore,
        bus: MessageBus,
        now: Callable[[], datetime],
        *,
        callback_topic: str = CALLBACK_TOPIC,
        cache_size: int = 512,
    ) -> None:
        self.store = store
        self.bus = bus
        self.now = now
        self.callback_topic = callback_topic
        self.cache_size = cache_size
        self.on_finish: list[Callable[[RunRef], None]] = []
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ---- run cache ----------------------------------------------------------------------

    def _read_json(self, key: str) -> dict[str, Any] | None:
        raw = self.store.read(key)
        return None if raw is None else json.loads(raw)

    def _load(self, ref: RunRef) -> _Cached | None:
        keys = self.store.list(ref.prefix)
        if ref.prefix + FLOW_KEY not in keys:
            return None
        frozen = self._read_json(ref.prefix + FLOW_KEY) or {}
        from mhi.model.flow import FlowDefinition

        flow = FlowDefinition.model_validate(frozen["flow"])
        state = RunState(
            flow, frozen["run_id"], frozen.get("params", {}), parse_time(frozen["started_at"])
        )
        cached = _Cached(state, {ref.prefix + FLOW_KEY})
        self._fold(ref, cached, keys)
        return cached

    def _fold(self, ref: RunRef, cached: _Cached, keys: list[str]) -> None:
        for key in keys:
            if key in cached.known:
                continue
            rel = key[len(ref.prefix) :]
            name = rel.rsplit("/", 1)[-1]
            if name.startswith(("started-", "reported-")) or "/claims/" in rel:
                cached.known.add(key)
                continue
            body = self._read_json(key)
            if body is not None:
                cached.state.apply(rel, body)
                cached.known.add(key)

    @contextmanager
    def _run(self, ref: RunRef) -> Iterator[_Cached]:
        with self._cache_lock:
            cached = self._cache.get(ref.prefix)
            if cached is not None:
                self._cache.move_to_end(ref.prefix)
        if cached is None:
            loaded = self._load(ref)
            if loaded is None:
                raise UnknownRunError(
                    f"no run {ref.run_id!r} of flow {ref.flow_id!r} for account {ref.account!r}"
                )
            with self._cache_lock:
                cached = self._cache.setdefault(ref.prefix, loaded)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        with cached.lock:
            yield cached

    def _refresh(self, ref: RunRef, cached: _Cached, rel_prefix: str = "") -> None:
        self._fold(ref, cached, self.store.list(ref.prefix + rel_prefix))

    def _refresh_step(self, ref: RunRef, cached: _Cached, sid: str) -> None:
        self._refresh(ref, cached, f"steps/{sid}/")

    def _refresh_group(self, ref: RunRef, cached: _Cached, group: str) -> None:
        state = cached.state
        if group == RUN_GROUP:
            self._refresh(ref, cached)
        elif group.startswith(JOIN_PREFIX):
            for dep in state.steps[group[len(JOIN_PREFIX) :]].spec.depends_on:
                if not state.is_terminal(state.steps[dep]):
                    self._refresh_step(ref, cached, dep)
        else:
            self._refresh(ref, cached, f"steps/{group}.")

    # ---- writes -------------------------------------------------------------------------

    def _create(self, ref: RunRef, cached: _Cached, rel: str, body: dict[str, Any]) -> bool:
        key = ref.prefix + rel
        created = self.store.create(key, _dump(body))
        if created:
            cached.state.apply(rel, body)
            cached.known.add(key)
        return created

    def _terminal_write(
        self, ref: RunRef, cached: _Cached, step: StepState, rel: str, body: dict[str, Any]
    ) -> None:
        state = cached.state
        was_terminal = state.is_terminal(step)
        if not self._create(ref, cached, rel, body):
            self._refresh_step(ref, cached, step.id)
            return
        if not was_terminal and state.is_terminal(step) and step.id != NOTIFY_STEP:
            self._count_finished(ref, cached, step)

    def _count_finished(self, ref: RunRef, cached: _Cached, step: StepState) -> None:
        """Claim one completion in every group `step` belongs to: the run (or its for_each
        parent) and each join it feeds. Whoever claims a group's last slot re-lists that group's
        members, so the next decision sees every member even if other instances finished them.
        One claim per edge: the cost of a step does not grow with the size of the flow."""
        state = cached.state
        self._claim_progress(ref, cached, step.parent or RUN_GROUP)
        if step.parent is not None:
            return
        for dependent in state.dependents[step.id]:
            if len(state.steps[dependent].spec.depends_on) > 1:
                self._claim_progress(ref, cached, join_group(dependent))

    def _claim_progress(self, ref: RunRef, cached: _Cached, group: str) -> None:
        """Count one more finished member of `group`; the last one re-lists the group."""
        state = cached.state
        size = state.group_size(group)
        if size is None:
            return
        count = state.progress.get(group, 0) + 1
        while count <= size:
            rel = progress_key(group, count)
            if self._create(ref, cached, rel, {"at": self.now().isoformat()}):
                if count == size:
                    self._refresh_group(ref, cached, group)
                return
            cached.known.add(ref.prefix + rel)
            state.progress[group] = count
            count += 1

    # ---- carrying out actions -----------------------------------------------------------

    def _execute(self, ref: RunRef, cached: _Cached, action: Action) -> None:
        state, now = cached.state, self.now()
        if isinstance(action, DispatchStep):
            self._dispatch(ref, cached, action, now)
        elif isinstance(action, RecordResult):
            body = {
                "status": action.status,
                "output": action.output,
                "error": action.error,
                "at": now.isoformat(),
                "source": "controller",
            }
            step = state.steps[action.step_id]
            self._terminal_write(
                ref, cached, step, attempt_key(step.id, action.attempt, "result.json"), body
            )
        elif isinstance(action, SkipStep):
            step = state.steps[action.step_id]
            logger.info("step %s skipped: %s", step.id, action.reason)
            self._terminal_write(
                ref,
                cached,
                step,
                skipped_key(step.id),
                {"reason": action.reason, "at": now.isoformat()},
            )
        elif isinstance(action, ExpandStep):
            state.expand(action.step_id, action.items)
        elif isinstance(action, FinishRun):
            self._finish(ref, cached, action, now)

    def _dispatch(self, ref: RunRef, cached: _Cached, action: DispatchStep, now: datetime) -> None:
        name = "dispatched.json" if action.turn == 0 else f"poll-{action.turn}.json"
        body = {"at": now.isoformat(), "deadline": action.deadline.isoformat(), "turn": action.turn}
        if not self._create(ref, cached, attempt_key(action.step_id, action.attempt, name), body):
            self._refresh_step(ref, cached, action.step_id)
            return
        state = cached.state
        message = StepMessage(
            run_id=ref.run_id,
            flow_id=ref.flow_id,
            account=ref.account,
            step_id=action.step_id,
            attempt=action.attempt,
            turn=action.turn,
            type=action.type,
            config=action.config,
            upstream=action.upstream,
            params=state.params,
            item=action.item,
            continuation=action.continuation,
            callback_topic=self.callback_topic,
            deadline=action.deadline,
        )
        attributes = {
            "run_id": ref.run_id,
            "step_id": action.step_id,
            "attempt": str(action.attempt),
            "kind": "step",
        }
        logger.info(
            "dispatch %s attempt %d turn %d (%s)",
            action.step_id,
            action.attempt,
            action.turn,
            action.type,
        )
        self.bus.publish(action.type, encode(message), attributes)

    def _finish(self, ref: RunRef, cached: _Cached, action: FinishRun, now: datetime) -> None:
        body = {
            "status": action.status.value,
            "at": now.isoformat(),
            "error": action.error,
            "failed_step": action.failed_step,
        }
        if not self._create(ref, cached, DONE_KEY, body):
            self._refresh(ref, cached, DONE_KEY)
            return
        logger.info("run %s finished: %s", ref.run_id, action.status.value)
        self._notify_and_close(ref, cached, now)
        for hook in self.on_finish:
            hook(ref)

    def _notify_and_close(self, ref: RunRef, cached: _Cached, now: datetime) -> None:
        note = flow_notification(cached.state)
        if note is not None:
            config, upstream = note
            from datetime import timedelta

            deadline = now + timedelta(seconds=600)
            self._dispatch(
                ref,
                cached,
                DispatchStep(
                    NOTIFY_STEP, 1, 0, "ms-notifications", config, upstream, None, None, deadline
                ),
                now,
            )
        self.store.delete(active_key(ref.account, ref.flow_id, ref.run_id))

    # ---- entry points -------------------------------------------------------------------

    def advance(self, ref: RunRef, *, full_refresh: bool = False) -> datetime | None:
        """Apply `decide` until nothing is left to do now; return when to look again."""
        with (
            bind(run_id=ref.run_id, flow_id=ref.flow_id, account=ref.account),
            self._run(ref) as cached,
        ):
            if full_refresh:
                self._refresh(ref, cached)
            return self._advance(ref, cached)

    def _advance(self, ref: RunRef, cached: _Cached) -> datetime | None:
        for _ in range(100_000):
            decision = decide(cached.state, self.now())
            if not decision.actions:
                return decision.wake_at
            for action in decision.actions:
                self._execute(ref, cached, action)
        raise RuntimeError(f"run {ref.run_id}: decide did not settle")  # a bug, never user input

    def on_callback(self, callback: CallbackMessage) -> datetime | None:
        """Record a step's report and move the run on. Duplicates and stale reports change nothing.

        Raises:
            UnknownRunError: no such run, or the run has no such step.
            InvalidMessageError: the callback names an attempt that was never dispatched.
        """
        size = len(json.dumps(callback.output, default=str))
        if size > MAX_OUTPUT_BYTES:
            raise InvalidMessageError(
                f"callback for step {callback.step_id!r}: output is {size} bytes, the limit is "
                f"{MAX_OUTPUT_BYTES}"
            )
        ref = RunRef(callback.account, callback.flow_id, callback.run_id)
        with (
            bind(
                run_id=ref.run_id,
                flow_id=ref.flow_id,
                step_id=callback.step_id,
                attempt=callback.attempt,
            ),
            self._run(ref) as cached,
        ):
            state = cached.state
            step = state.steps.get(callback.step_id) or (
                state.notify if callback.step_id == NOTIFY_STEP else None
            )
            if step is None and callback.step_id == NOTIFY_STEP:
                self._refresh_step(ref, cached, NOTIFY_STEP)
                step = state.notify
            if step is None:
                raise UnknownRunError(f"run {ref.run_id!r} has no step {callback.step_id!r}")
            attempt = step.attempts.get(callback.attempt)
            if attempt is None or attempt.turn < callback.turn:
                self._refresh_step(ref, cached, step.id)
                attempt = step.attempts.get(callback.attempt)
            if attempt is None or attempt.dispatched_at is None or attempt.turn < callback.turn:
                raise InvalidMessageError(
                    f"callback for step {callback.step_id!r} attempt {callback.attempt} turn "
                    f"{callback.turn}, which was never dispatched"
                )
            if (
                attempt.result is not None
                or attempt.turn != callback.turn
                or callback.turn in attempt.waits
            ):
                logger.info(
                    "duplicate or stale callback for %s attempt %d ignored",
                    step.id,
                    callback.attempt,
                )
                # Nothing to record, but re-applying decide is harmless and finishes the work of
                # an instance that crashed after recording this same callback.
                return self._advance(ref, cached)
            self._record(ref, cached, step, callback)
            return self._advance(ref, cached)

    def _record(self, ref: RunRef, cached: _Cached, step: StepState, cb: CallbackMessage) -> None:
        now = self.now()
        if cb.status == CallbackStatus.WAITING:
            poll_at = now.timestamp() + cb.poll_after_seconds
            body = {
                "at": now.isoformat(),
                "continuation": cb.continuation,
                "poll_at": datetime.fromtimestamp(poll_at, now.tzinfo).isoformat(),
            }
            if not self._create(
                ref, cached, attempt_key(step.id, cb.attempt, f"wait-{cb.turn}.json"), body
            ):
                self._refresh_step(ref, cached, step.id)
            return
        body = {
            "status": cb.status.value,
            "output": cb.output,
            "error": cb.error.model_dump() if cb.error else None,
            "at": now.isoformat(),
            "started_at": cb.started_at.isoformat() if cb.started_at else None,
            "finished_at": cb.finished_at.isoformat() if cb.finished_at else None,
            "metrics": cb.metrics,
            "source": "callback",
        }
        level = logging.INFO if cb.status == CallbackStatus.SUCCEEDED else logging.WARNING
        logger.log(level, "step %s attempt %d %s", step.id, cb.attempt, cb.status.value)
        self._terminal_write(
            ref, cached, step, attempt_key(step.id, cb.attempt, "result.json"), body
        )

    def state(self, ref: RunRef, *, refresh: bool = True) -> RunState:
        """Return the run's state (re-listed from the store unless `refresh` is False)."""
        with self._run(ref) as cached:
            if refresh:
                self._refresh(ref, cached)
            return cached.state

    def active_runs(self) -> list[RunRef]:
        """Runs started and not yet closed, from the active-run index."""
        refs = []
        for key in self.store.list(ACTIVE_PREFIX + "/"):
            parts = key.split("/")
            if len(parts) == 4:
                refs.append(RunRef(parts[1], parts[2], parts[3]))
        return refs

    def sweep(self) -> dict[RunRef, datetime | None]:
        """Apply `decide` to every active run with a full re-listing (timeouts, retries, polls,
        and repair after a crash between two writes). Returns each run's next wake-up time."""
        out: dict[RunRef, datetime | None] = {}
        for ref in self.active_runs():
            try:
                out[ref] = self.advance(ref, full_refresh=True)
                with self._run(ref) as cached:
                    if cached.state.done is not None:
                        self._notify_and_close(ref, cached, self.now())
            except UnknownRunError:
                logger.warning("active index names run %s with no flow.json; removed", ref.run_id)
                self.store.delete(active_key(ref.account, ref.flow_id, ref.run_id))
        return out
