"""The controller: thin I/O around the pure engine. On start, on callback, on sweep.

Every write is a create-if-absent of one object; whoever creates a claim acts on it, everybody
else reads what won. The run states live in a `RunCache` (only the objects that can change the
next decision are re-listed); a step's end is followed by `Completion`'s look at its groups.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mhi.constants import (
    CALLBACK_TOPIC,
    DISPATCH_GRACE_SECONDS,
    MAX_OUTPUT_BYTES,
    PSEUDO_STEPS,
    SLA_STEP,
)
from mhi.engine import DispatchStep, ExpandStep, FinishRun, RecordResult, SkipStep, decide
from mhi.engine.actions import AcquireSlot, Action, CheckStep, CloseRun, ReleaseSlot
from mhi.errors import InvalidMessageError, UnknownRunError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus, StepMessage, encode
from mhi.model.outcomes import outcome_record
from mhi.model.run import RunState, StepState
from mhi.ports import MessageBus, RunStore
from mhi.runtime.limits import SlotStore, acquire_slot, release_slot
from mhi.runtime.logs import bind
from mhi.runtime.progress import Completion
from mhi.runtime.records import publish_wake, record_finish, starts_attempts, step_digest
from mhi.runtime.run_cache import CachedRun, RunCache
from mhi.runtime.subflows import cancel_children, nudge_parent

logger = logging.getLogger(__name__)

__all__ = ["Controller", "RunRef", "new_run_id"]


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
        dispatch_grace_seconds: float = DISPATCH_GRACE_SECONDS,
        concurrency_limits: Sequence[tuple[str, int]] = (),
        step_concurrency: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.now = now
        self.callback_topic = callback_topic
        self.on_finish: list[Callable[[RunRef], None]] = []
        self.cache = RunCache(store, cache_size, timedelta(seconds=dispatch_grace_seconds))
        # concurrency slots shared across runs (mhi.runtime.limits); the deployment's limits
        self.slots = SlotStore(store, now, timedelta(seconds=dispatch_grace_seconds))
        self.concurrency_limits = tuple(concurrency_limits)
        self.step_concurrency = dict(step_concurrency or {})
        self.completion = Completion(self.cache)

    # ---- writes -------------------------------------------------------------------------

    def _terminal_write(
        self, cached: CachedRun, step: StepState, rel: str, body: dict[str, Any]
    ) -> None:
        if not self.cache.create(cached, rel, body):
            self.cache.refresh_step(cached, step.id)

    # ---- carrying out actions -----------------------------------------------------------

    def _execute(self, cached: CachedRun, action: Action) -> None:
        state, now = cached.state, self.now()
        if isinstance(action, DispatchStep):
            self._dispatch(cached, action, now)
        elif isinstance(action, RecordResult):
            body = {
                "status": action.status,
                "output": action.output,
                "error": action.error,
                "at": now.isoformat(),
                "source": "controller",
            }
            step = state.step(action.step_id)
            assert step is not None  # decide records results of known steps only
            number = state.reruns.absolute(step.id, action.attempt)
            self._terminal_write(cached, step, keys.result_key(step.id, number), body)
        elif isinstance(action, SkipStep):
            step = state.steps[action.step_id]
            logger.info("step %s skipped: %s", step.id, action.reason)
            body = {"reason": action.reason, "at": now.isoformat()}
            rel = keys.skipped_key(step.id, state.reruns.scope_of(step.id))
            self._terminal_write(cached, step, rel, body)
        elif isinstance(action, ExpandStep):
            state.expand(action.step_id, action.items)
        elif isinstance(action, FinishRun):
            self._finish(cached, action, now)
        elif isinstance(action, CheckStep):
            self._check(cached, action, now)
        elif isinstance(action, AcquireSlot):
            acquire_slot(self.slots, self.cache, cached, action, now)
        elif isinstance(action, ReleaseSlot):
            release_slot(self.slots, cached, action, self._wake)
        elif isinstance(action, CloseRun):
            self.store.delete(cached.ref.active_key)
            state.closed = True

    def _dispatch(self, cached: CachedRun, action: DispatchStep, now: datetime) -> None:
        number = cached.state.reruns.absolute(action.step_id, action.attempt)  # store numbering
        if action.republish:
            logger.warning(
                "step %s attempt %d turn %d not seen starting: published again",
                action.step_id,
                action.attempt,
                action.turn,
            )
        else:
            body: dict[str, Any] = {
                "at": now.isoformat(),
                "deadline": action.deadline.isoformat(),
                "turn": action.turn,
                "continuation": action.continuation,
            }
            if action.reason:
                body["reason"] = action.reason
                logger.warning("step %s: %s", action.step_id, action.reason)
            if cached.state.reruns.generation:
                body["generation"] = cached.state.reruns.generation
            if action.slot is not None:
                body["slot"] = action.slot
            claim = keys.dispatch_key(action.step_id, number, action.turn)
            # A read first (a twelfth of a create's price): an instance whose cache lags behind
            # the others' (a late duplicate, a cold start) learns the turn went out without a
            # create that fails.
            went_out = self.cache.fold_turn(cached, action.step_id, number, action.turn)
            if went_out or not self.cache.create(cached, claim, body):
                if action.slot is not None:  # another instance dispatched it with its own slot
                    self.slots.release(action.slot)
                    cached.state.limits.drop_grant((action.step_id, action.attempt))
                if not went_out:  # lost the race to create it: read what won
                    self.cache.fold_turn(cached, action.step_id, number, action.turn)
                return
        ref = cached.ref
        message = StepMessage(
            run_id=ref.run_id,
            flow_id=ref.flow_id,
            account=ref.account,
            step_id=action.step_id,
            attempt=number,
            turn=action.turn,
            type=action.type,
            config=action.config,
            upstream=action.upstream,
            params=cached.state.params,
            item=action.item,
            continuation=action.continuation,
            callback_topic=self.callback_topic,
            deadline=action.deadline,
            templates=action.templates,
        )
        attributes = {
            "run_id": ref.run_id,
            "step_id": action.step_id,
            "attempt": str(number),
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
        cached.state.note_published(action.step_id, action.attempt, action.turn, now)

    def _check(self, cached: CachedRun, action: CheckStep, now: datetime) -> None:
        """Re-list a step whose turn was not seen starting or renewing its lease. A turn that
        ended but whose callback never arrived left its outcome record: it is folded now."""
        state = cached.state
        step = state.step(action.step_id)
        was_terminal = step is not None and state.is_terminal(step)
        self.cache.refresh_step(cached, action.step_id)
        if step is not None and not was_terminal and state.is_terminal(step):
            logger.warning("step %s: its lost callback was recovered", step.id)
        state.note_checked(action.step_id, action.attempt, action.turn, now)

    def _finish(self, cached: CachedRun, action: FinishRun, now: datetime) -> None:
        body: dict[str, Any] = {
            "status": action.status.value,
            "at": now.isoformat(),
            "error": action.error,
            "failed_step": action.failed_step,
            "generation": cached.state.reruns.generation,
            "steps": step_digest(cached.state),
        }
        state = cached.state
        generation = state.reruns.generation
        record_finish(self.store, cached.ref, state.started_at, action.status.value, generation)
        # Before `done`: a crash in between repeats the (idempotent) cancels of its sub-flows.
        cancel_children(self.store, self.bus, cached.ref, state, action.error or "", now)
        done = keys.done_key(generation)
        if not self.cache.create(cached, done, body):
            self.cache.refresh(cached, done)
            return
        logger.info("run %s finished: %s", cached.ref.run_id, action.status.value)
        nudge_parent(self.store, self.bus, cached.ref, state.parent_run, now)
        for hook in self.on_finish:
            hook(cached.ref)

    # ---- entry points -------------------------------------------------------------------

    def advance(self, ref: RunRef, *, full_refresh: bool = False) -> datetime | None:
        """Apply `decide` until nothing is left to do now; return when to look again."""
        with (
            bind(run_id=ref.run_id, flow_id=ref.flow_id, account=ref.account),
            self.cache.run(ref) as cached,
        ):
            if full_refresh:
                self.cache.refresh(cached)
                cached.state.limits.recheck()  # a wake or sweep: waiting steps look again
            return self._advance(cached)

    def _advance(self, cached: CachedRun) -> datetime | None:
        checked = False
        cached.state.limits.deployment = self.concurrency_limits
        cached.state.limits.by_type = self.step_concurrency
        for _ in range(100_000):
            self.completion.look_at_ended(cached)
            decision = decide(cached.state, self.now())
            if not decision.actions:
                return decision.wake_at
            if not checked and starts_attempts(decision.actions):
                # A pause (or rerun) written since this state was folded holds new attempts back.
                checked = True
                self.cache.check_control(cached)
                if any(
                    isinstance(a, DispatchStep) and a.step_id == SLA_STEP for a in decision.actions
                ):
                    # "late" is said once and for good: not from a cache other instances may
                    # have moved past (the run may have ended before the deadline)
                    self.cache.refresh(cached)
                continue
            for action in decision.actions:
                self._execute(cached, action)
        raise RuntimeError(f"run {cached.ref.run_id}: decide did not settle")  # a bug, never input

    def on_callback(self, callback: CallbackMessage) -> datetime | None:
        """Record a step's report and move the run on. Duplicates and stale reports change nothing.

        Raises:
            UnknownRunError: no such run, or the run has no such step.
            InvalidMessageError: the callback names an attempt that was never dispatched, or its
                output is over the size limit.
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
            self.cache.run(ref) as cached,
        ):
            step = self._reported_step(cached, callback)
            if self._is_news(cached, step, callback):
                step = self._reported_step(cached, callback)  # the run may have been re-folded
                self._record(cached, step, callback)
            else:
                logger.info(
                    "duplicate or stale callback for %s attempt %d ignored",
                    step.id,
                    callback.attempt,
                )
            # Re-applying decide after a duplicate is harmless and finishes the work of an
            # instance that crashed after recording this same callback.
            return self._advance(cached)

    def _reported_step(self, cached: CachedRun, callback: CallbackMessage) -> StepState:
        state = cached.state
        if callback.step_id in PSEUDO_STEPS and state.step(callback.step_id) is None:
            # the notification or SLA step of a run this instance knew only running: the run's
            # end (or lateness) comes with it, so re-list the whole run
            self.cache.refresh(cached)
        elif state.step(callback.step_id) is None:
            # a for_each child whose parent this instance has not seen fan out (another
            # instance did): folding its objects makes it known
            self.cache.refresh_step(cached, callback.step_id)
        state = cached.state  # (a re-listing may have re-folded the run)
        step = state.step(callback.step_id)
        if step is None:
            raise UnknownRunError(f"run {cached.ref.run_id!r} has no step {callback.step_id!r}")
        return step

    def _is_news(self, cached: CachedRun, step: StepState, callback: CallbackMessage) -> bool:
        number = cached.state.reruns.local(step.id, callback.attempt)
        attempt = step.attempts.get(number)
        if attempt is None or attempt.turn < callback.turn:
            self._learn_turn(cached, step, callback)
            step = self._reported_step(cached, callback)  # a refresh may re-fold the run
            number = cached.state.reruns.local(step.id, callback.attempt)
            if number < 1 and callback.attempt in step.history:
                return False  # an attempt of an earlier generation reporting late
            attempt = step.attempts.get(number)
        if attempt is None or attempt.dispatched_at is None or attempt.turn < callback.turn:
            raise InvalidMessageError(
                f"callback for step {callback.step_id!r} attempt {callback.attempt} turn "
                f"{callback.turn}, which was never dispatched"
            )
        return not (
            attempt.result is not None
            or attempt.turn != callback.turn
            or callback.turn in attempt.waits
        )

    def _learn_turn(self, cached: CachedRun, step: StepState, callback: CallbackMessage) -> None:
        """Fold the reported turn, dispatched by another instance: two reads (its dispatch
        claim and the attempt's result) when this instance knows the attempts before it, else
        a listing of the step."""
        local = cached.state.reruns.local(step.id, callback.attempt)
        if not (
            local >= 1
            and all(n in step.attempts for n in range(1, local))
            and self.cache.fold_turn(cached, step.id, callback.attempt, callback.turn)
        ):
            self.cache.refresh_step(cached, step.id)

    def _record(self, cached: CachedRun, step: StepState, cb: CallbackMessage) -> None:
        state = cached.state
        if cb.status != CallbackStatus.WAITING:
            level = logging.INFO if cb.status == CallbackStatus.SUCCEEDED else logging.WARNING
            logger.log(level, "step %s attempt %d %s", step.id, cb.attempt, cb.status.value)
        if cb.recorded and cb.finished_at is not None:
            # The step function stored this outcome before it reported: fold it, write nothing.
            rel, body = outcome_record(cb, cb.finished_at)
            state.apply(rel, body)
            cached.known.add(cached.ref.key(rel))
        else:
            rel, body = outcome_record(cb, self.now())
            if not self.cache.create(cached, rel, body):
                self.cache.refresh_step(cached, step.id)

    def _wake(self, ref: RunRef) -> None:
        """Ask the controller (any instance) to look at a run again now: a slot it waits for
        was given back."""
        publish_wake(self.bus, ref)

    def state(self, ref: RunRef, *, refresh: bool = True) -> RunState:
        """Return the run's state (re-listed from the store unless `refresh` is False)."""
        with self.cache.run(ref) as cached:
            if refresh:
                self.cache.refresh(cached)
            return cached.state

    def active_runs(self) -> list[RunRef]:
        """Runs started and not yet closed, from the active-run index."""
        found = (keys.split_active_key(k) for k in self.store.list(keys.ACTIVE_PREFIX + "/"))
        return [ref for ref in found if ref is not None]

    def sweep(self) -> dict[RunRef, datetime | None]:
        """Apply `decide` to every active run with a full re-listing (timeouts, retries, polls,
        and repair after a crash between two writes). Returns each run's next wake-up time."""
        out: dict[RunRef, datetime | None] = {}
        for ref in self.active_runs():
            try:
                out[ref] = self.advance(ref, full_refresh=True)
            except UnknownRunError:
                logger.warning("active index names run %s with no flow.json; removed", ref.run_id)
                self.store.delete(ref.active_key)
        return out
