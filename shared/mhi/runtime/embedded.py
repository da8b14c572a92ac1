"""The embedded runtime: the whole product in one process, no cloud.

An in-process bus with worker threads carries the same messages as Pub/Sub; the controller and
the step handlers are the same code the Cloud Functions run; run state lives in a local folder.
A timer thread plays Cloud Scheduler's sweep: it wakes runs when a retry, poll or timeout is due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mhi.adapters.local.memory_bus import InMemoryBus
from mhi.catalog import load_kind
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from mhi.errors import InvalidMessageError
from mhi.model.messages import parse_callback
from mhi.model.run import RunState
from mhi.runtime.controller import Controller, RunRef
from mhi.runtime.start import FolderFlowSource, StartRequest, parse_start, start_run
from mhi.services import Services
from mhi.steps.sdk import StepKind, handle_step_message

logger = logging.getLogger(__name__)


class EmbeddedRuntime:
    """Runs flows end to end in this process. Use as a context manager."""

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
        services._cache["bus"] = self.bus
        self.flows = FolderFlowSource(services.settings.flows_dir)
        self.controller = Controller(services.run_store, self.bus, services.clock.now)
        self.sweep_interval = sweep_interval
        self._wake: dict[RunRef, datetime] = {}
        self._wake_lock = threading.Condition()
        self._stopping = False
        self._finished: dict[RunRef, threading.Event] = {}
        self._active: set[RunRef] = set()
        self.controller.on_finish.append(self._on_finish)
        self._timer: threading.Thread | None = None
        self.bus.subscribe(CONTROLLER_TOPIC, self._on_start_message)
        self.bus.subscribe(CALLBACK_TOPIC, self._on_callback)
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
        def handle(data: bytes, _attributes: Mapping[str, str]) -> None:
            handle_step_message(data, self.services, step_type, self._resolve)

        return handle

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

    def _on_start_message(self, data: bytes, _attributes: Mapping[str, str]) -> None:
        self.start(parse_start(data, self.flows, self.known_types()))

    def _on_callback(self, data: bytes, _attributes: Mapping[str, str]) -> None:
        callback = parse_callback(data)
        ref = RunRef(callback.account, callback.flow_id, callback.run_id)
        self._schedule(ref, self.controller.on_callback(callback))

    def start(self, request: StartRequest) -> RunRef:
        """Start a run (idempotent on request.run_id) and return its reference."""
        ref, _created = start_run(self.controller, request)
        self._active.add(ref)
        self._schedule(ref, self.controller.advance(ref))
        return ref

    def start_json(self, data: bytes | str | dict[str, Any]) -> RunRef:
        """Start a run from a start message (flow JSON or flow_ref)."""
        return self.start(parse_start(data, self.flows, self.known_types()))

    def cancel(self, ref: RunRef, reason: str = "cancelled by user") -> None:
        """Request cancellation and apply it."""
        request_cancel(self.controller, ref, reason)
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
        from mhi.constants import CANCEL_KEY

        for ref in list(self._active):
            if self.controller.store.read(ref.prefix + CANCEL_KEY) is not None:
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
                self.bus.wait_idle(5.0)
                return state
        raise TimeoutError(f"run {ref.run_id} not finished after {timeout}s")

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
        self.bus.stop()


def request_cancel(controller: Controller, ref: RunRef, reason: str) -> bool:
    """Write `cancel.json` for a run; False if it was already requested.

    Raises:
        InvalidMessageError: the run does not exist.
    """
    import json

    from mhi.constants import CANCEL_KEY, FLOW_KEY

    if controller.store.read(ref.prefix + FLOW_KEY) is None:
        raise InvalidMessageError(f"no run {ref.run_id!r} of flow {ref.flow_id!r} ({ref.account})")
    body = {"at": controller.now().isoformat(), "reason": reason}
    return controller.store.create(ref.prefix + CANCEL_KEY, json.dumps(body).encode())
