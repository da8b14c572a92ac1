"""The embedded runtime: the whole product in one process, no cloud.

An in-process bus with worker threads carries the same messages as Pub/Sub; the controller and
the step handlers are the same code the Cloud Functions run; run state lives in a local folder.
A timer thread plays Cloud Scheduler's sweep: it wakes runs when a retry, poll or timeout is due.

Each step attempt runs on a thread of its own, started as soon as its message is delivered, as
a Cloud Function instance is: an attempt never waits in a queue behind other attempts, so the
deadline it was dispatched with counts from when it really starts, and an attempt that outlives
its deadline (the controller has timed it out) holds no worker while its handler runs on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mhi.adapters.local.memory_bus import InMemoryBus
from mhi.catalog import load_kind
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from mhi.errors import InvalidMessageError, OrchestratorError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.messages import parse_step
from mhi.model.run import RunState
from mhi.ports import FlowSource
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.resume import resume
from mhi.runtime.router import Router
from mhi.runtime.start import FolderFlowSource, StartRequest, start_run
from mhi.services import Services
from mhi.steps.sdk import StepKind, handle_step_message

logger = logging.getLogger(__name__)

StepRunner = Callable[[str, bytes], None]


@dataclass
class _Attempt:
    label: str
    deadline: datetime
    thread: threading.Thread


class StepThreads:
    """Runs each step attempt on its own daemon thread, started at once.

    Delivery failures are retried as the bus retries them: a retryable or unexpected error runs
    the message again after a backoff, up to `max_deliveries`; a permanent one is logged and
    dropped. An attempt still running after its deadline is *abandoned*: nothing waits for it
    (not `wait_idle`, not the runtime's exit), and its late result is ignored: the timeout won.
    """

    def __init__(
        self,
        run: StepRunner,
        now: Callable[[], datetime],
        *,
        max_deliveries: int = 5,
        redelivery_delay: float = 0.05,
    ) -> None:
        self._run = run
        self._now = now
        self.max_deliveries = max_deliveries
        self.redelivery_delay = redelivery_delay
        self._attempts: dict[int, _Attempt] = {}
        self._changed = threading.Condition()

    def submit(self, step_type: str, data: bytes) -> None:
        """Start the attempt in `data` on a new thread (raise InvalidMessageError if malformed)."""
        message = parse_step(data)
        label = f"{message.step_id} attempt {message.attempt} turn {message.turn}"
        thread = threading.Thread(
            target=self._deliver, args=(step_type, data), name=f"mhi-step {label}", daemon=True
        )
        with self._changed:
            self._attempts[id(thread)] = _Attempt(label, message.deadline, thread)
        thread.start()

    def running(self) -> list[str]:
        """Attempts running within their deadline."""
        now = self._now()
        with self._changed:
            return [a.label for a in self._attempts.values() if a.deadline >= now]

    def abandoned(self) -> list[str]:
        """Attempts whose handler still runs past their deadline."""
        now = self._now()
        with self._changed:
            return [a.label for a in self._attempts.values() if a.deadline < now]

    def wait_idle(self, timeout: float) -> bool:
        """Block until no attempt runs within its deadline; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                now = self._now()
                live = [a.deadline for a in self._attempts.values() if a.deadline >= now]
                left = deadline - time.monotonic()
                if not live:
                    return True
                if left <= 0:
                    return False
                until_abandoned = (min(live) - now).total_seconds()
                self._changed.wait(min(left, max(0.01, until_abandoned)))

    def _deliver(self, step_type: str, data: bytes) -> None:
        try:
            self._deliver_with_retries(step_type, data)
        finally:
            with self._changed:
                attempt = self._attempts.pop(id(threading.current_thread()))
                self._changed.notify_all()
            late = (self._now() - attempt.deadline).total_seconds()
            if late > 0:
                logger.warning(
                    "step %s returned %.1fs after its deadline: it had been timed out, its "
                    "result is ignored",
                    attempt.label,
                    late,
                )

    def _deliver_with_retries(self, step_type: str, data: bytes) -> None:
        error: Exception | None = None
        for delivery in range(1, self.max_deliveries + 1):
            try:
                self._run(step_type, data)
                return
            except OrchestratorError as e:
                if not e.retryable:
                    logger.error("message on %s rejected: %s", step_type, e)
                    return
                error = e
            except Exception as e:
                logger.exception("handler for %s raised", step_type)
                error = e
            if delivery < self.max_deliveries:
                time.sleep(self.redelivery_delay * 2 ** (delivery - 1))
        logger.error(
            "message on %s dropped after %d deliveries: %s", step_type, self.max_deliveries, error
        )


class EmbeddedRuntime:
    """Runs flows end to end in this process. Use as a context manager.

    `workers` threads carry the bus's messages (starts, callbacks) and hand step messages to
    `StepThreads`; how many steps of a run execute at once is the flow's `max_parallel`.
    """

    def __init__(
        self,
        services: Services,
        *,
        workers: int = 4,
        extra_kinds: Mapping[str, StepKind[Any]] | None = None,
        sweep_interval: float = 30.0,
    ) -> None:
        self.services = services
        self.extra_kinds = dict(extra_kinds or {})
        self.bus = InMemoryBus(workers=workers)
        self.steps = StepThreads(
            self._run_step,
            services.clock.now,
            max_deliveries=self.bus.max_deliveries,
            redelivery_delay=self.bus.redelivery_delay,
        )
        services._cache["bus"] = self.bus
        services._cache["step_types"] = self.known_types()
        # the folder's flows (unless given), for `flow_ref` starts and sub-flow steps alike
        folder = FolderFlowSource(services.settings.flows_dir)
        self.flows: FlowSource = services._cache.setdefault("flows", folder)
        self.controller = Controller(
            services.run_store,
            self.bus,
            services.clock.now,
            dispatch_grace_seconds=services.settings.dispatch_grace_seconds,
            concurrency_limits=services.settings.concurrency_limits,
            step_concurrency=services.settings.step_concurrency,
        )
        self.sweep_interval = sweep_interval
        self._wake: dict[RunRef, datetime] = {}
        self._wake_lock = threading.Condition()
        self._stopping = False
        self._finished: dict[RunRef, threading.Event] = {}
        self._active: set[RunRef] = set()
        self.controller.on_finish.append(self._on_finish)
        self._timer: threading.Thread | None = None
        self.router = Router(
            lambda: self.controller,
            self.flows,
            self.known_types,
            accounts=services.settings.accounts,
        )
        self.bus.subscribe(CONTROLLER_TOPIC, self._on_controller_message)
        self.bus.subscribe(CALLBACK_TOPIC, self._on_controller_message)
        from mhi.catalog import step_types

        for step_type in step_types() | set(self.extra_kinds):
            self.bus.subscribe(step_type, self._step_handler(step_type))

    def known_types(self) -> frozenset[str]:
        """Step types this runtime can run."""
        from mhi.catalog import step_types

        return step_types() | frozenset(self.extra_kinds)

    def _resolve(self, step_type: str) -> StepKind[Any]:
        return (
            self.extra_kinds[step_type] if step_type in self.extra_kinds else load_kind(step_type)
        )

    def _step_handler(self, step_type: str) -> Callable[[bytes, Mapping[str, str]], None]:
        def hand_over(data: bytes, _attributes: Mapping[str, str]) -> None:
            self.steps.submit(step_type, data)

        return hand_over

    def _run_step(self, step_type: str, data: bytes) -> None:
        handle_step_message(data, self.services, step_type, self._resolve)

    # ---- controller side ----------------------------------------------------------------

    def _schedule(self, ref: RunRef, wake_at: datetime | None) -> None:
        """Look at `ref` again at `wake_at`, unless an earlier look is already booked.

        Wake times are computed under the run's lock but booked after it is released, so two
        threads may book out of order; keeping the earliest means a stale, later time never
        hides a due poll or retry. An early look costs one `advance` that finds nothing to do.
        """
        if wake_at is None:
            return
        with self._wake_lock:
            booked = self._wake.get(ref)
            if booked is None or wake_at < booked:
                self._wake[ref] = wake_at
                self._wake_lock.notify_all()

    def _on_controller_message(self, data: bytes, attributes: Mapping[str, str]) -> None:
        routed = self.router.route(PubSubMessage(data, dict(attributes)))
        for ref, wake_at in routed.wake.items():
            if routed.kind == "start":
                self._active.add(ref)
            self._schedule(ref, wake_at)

    def start(self, request: StartRequest) -> RunRef:
        """Start a run (idempotent on request.run_id) and return its reference."""
        ref, created = start_run(self.controller, request)
        self._active.add(ref)
        if not created:
            with self.controller.cache.run(ref) as cached:
                self.controller.cache.refresh(cached)
                for sid, _number, turn in resume(cached.state, self.services.clock.now()):
                    logger.warning(
                        "run %s: step %s turn %d was lost; run again", ref.run_id, sid, turn
                    )
        self._schedule(ref, self.controller.advance(ref))
        return ref

    def start_json(self, data: bytes | str | dict[str, Any]) -> RunRef:
        """Start a run from a start message (flow JSON or flow_ref)."""
        raw = data if isinstance(data, (bytes, str)) else json.dumps(data)
        message = PubSubMessage(raw.encode() if isinstance(raw, str) else raw)
        return self.start(self.router.start_request(message))

    def cancel(self, ref: RunRef, reason: str = "cancelled by user") -> None:
        """Request cancellation and apply it."""
        request_cancel(self.controller, ref, reason)
        self._schedule(ref, self.controller.advance(ref, full_refresh=True))

    def redrive(self, ref: RunRef) -> None:
        """Take a run up again from its stored objects (after a rerun or a resume)."""
        with self._wake_lock:
            self._finished.pop(ref, None)
        self._active.add(ref)
        self._schedule(ref, self.controller.advance(ref, full_refresh=True))

    def state(self, ref: RunRef) -> RunState:
        """The run's current state as this process knows it."""
        return self.controller.state(ref, refresh=False)

    def _on_finish(self, ref: RunRef) -> None:
        self._active.discard(ref)
        with self._wake_lock:
            self._wake.pop(ref, None)
        self._finished_event(ref).set()

    def _check_cancels(self) -> None:
        # `mhi runs cancel` in another process writes cancel.json; notice it within a second.
        for ref in list(self._active):
            cancel = keys.cancel_key(self.state(ref).reruns.generation)
            if self.controller.store.read(ref.key(cancel)) is not None:
                self._schedule(ref, self.controller.advance(ref, full_refresh=True))

    def _finished_event(self, ref: RunRef) -> threading.Event:
        with self._wake_lock:
            return self._finished.setdefault(ref, threading.Event())

    def wait(self, ref: RunRef, timeout: float = 600.0, poll: float = 0.5) -> RunState:
        """Block until the run is done; raise TimeoutError otherwise."""
        event = self._finished_event(ref)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The event fires when this process finishes the run; the poll catches runs finished
            # by another process sharing the store.
            event.wait(min(poll, max(0.0, deadline - time.monotonic())))
            state = self.state(ref)
            if state.done is not None:
                self.wait_idle(5.0)  # the flow's notification, dispatched as the run ended
                return state
        raise TimeoutError(f"run {ref.run_id} not finished after {timeout}s")

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no message is queued and no step attempt runs; False on timeout.

        Attempts past their deadline (abandoned) are not waited for.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            idle = self.bus.wait_idle(left) and self.steps.wait_idle(deadline - time.monotonic())
            # A step that just finished may have published a callback: both idle at once.
            if idle and self.bus.wait_idle(0) and not self.steps.running():
                return True
        return False

    # ---- timer (the sweep) --------------------------------------------------------------

    def _tick(self) -> None:
        last_sweep = last_cancel_check = time.monotonic()
        while not self._stopping:
            if time.monotonic() - last_cancel_check > 1.0:
                last_cancel_check = time.monotonic()
                self._check_cancels()
            if time.monotonic() - last_sweep > self.sweep_interval:
                last_sweep = time.monotonic()
                for ref, wake in self.controller.sweep().items():
                    self._schedule(ref, wake)
            now = self.services.clock.now()
            with self._wake_lock:
                due = [r for r, t in self._wake.items() if t <= now]
                for ref in due:
                    del self._wake[ref]
                if not due:
                    upcoming = [(t - now).total_seconds() for t in self._wake.values()]
                    wait = min([*upcoming, 1.0, self.sweep_interval])
                    self._wake_lock.wait(max(0.005, wait))
                    continue
            for ref in due:
                self._schedule(ref, self.controller.advance(ref))

    def __enter__(self) -> EmbeddedRuntime:
        self.bus.start()
        self._timer = threading.Thread(target=self._guarded_tick, name="mhi-timer", daemon=True)
        self._timer.start()
        return self

    def _guarded_tick(self) -> None:
        while not self._stopping:
            try:
                self._tick()
            except Exception:
                logger.exception("timer loop failed; restarting")
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        with self._wake_lock:
            self._wake_lock.notify_all()
        if self._timer is not None:
            self._timer.join(5.0)
        self.steps.wait_idle(5.0)  # attempts within their deadline finish; abandoned ones not
        self.bus.stop()


def request_cancel(controller: Controller, ref: RunRef, reason: str) -> bool:
    """Write `cancel.json` for a run; False if it was already requested.

    Raises:
        InvalidMessageError: the run does not exist.
    """
    import json

    if controller.store.read(ref.key(keys.FLOW)) is None:
        raise InvalidMessageError(f"no run {ref.run_id!r} of flow {ref.flow_id!r} ({ref.account})")
    body = {"at": controller.now().isoformat(), "reason": reason}
    cancel = keys.cancel_key(controller.state(ref).reruns.generation)
    return controller.store.create(ref.key(cancel), json.dumps(body).encode())
