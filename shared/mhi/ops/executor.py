"""How the operations service makes runs move: in this process, or through the controller topic.

`EmbeddedExecutor` hands starts and wake-ups to an `EmbeddedRuntime` (`mhi runs rerun`,
`mhi serve` on the local store). `BusExecutor` publishes them to `ms-flows-controller`, where the
controller function takes them (the `api` function, and `mhi` against a deployed environment):
a start is `{"flow_ref", "params", "run_id"}` with the requester in the `mhi_requested_by`
attribute, a wake-up is the timer message `{"kind": "wake", ...}`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Protocol

from mhi.constants import CONTROLLER_TOPIC
from mhi.model.keys import RunRef
from mhi.ports import MessageBus

if TYPE_CHECKING:
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.runtime.start import StartRequest


class Executor(Protocol):
    """Starts runs and wakes them after a control record was written."""

    pace_seconds: float

    def start(self, request: StartRequest) -> RunRef:
        """Start a run (idempotent on its run id) and return its reference."""
        ...

    def wake(self, ref: RunRef) -> None:
        """Make the controller look at a run again now (after a rerun, resume or cancel)."""
        ...


class EmbeddedExecutor:
    """Runs in this process, on an embedded runtime the caller keeps open."""

    pace_seconds = 0.0

    def __init__(self, runtime: EmbeddedRuntime) -> None:
        self.runtime = runtime

    def start(self, request: StartRequest) -> RunRef:
        """Start the run on the runtime."""
        return self.runtime.start(request)

    def wake(self, ref: RunRef) -> None:
        """Take the run up again on the runtime."""
        self.runtime.redrive(ref)


class BusExecutor:
    """Publishes starts and wake-ups to the controller topic; backfills are paced."""

    def __init__(self, bus: MessageBus, pace_seconds: float = 0.2) -> None:
        self.bus = bus
        self.pace_seconds = pace_seconds
        self._last = 0.0

    def start(self, request: StartRequest) -> RunRef:
        """Publish a start by flow reference (the controller reads the flow from FLOWS_BUCKET)."""
        if request.run_id is None:
            raise ValueError("a published start needs its run id")
        self._pace()
        flow = request.flow
        body = {"flow_ref": flow.flow_id, "params": request.params, "run_id": request.run_id}
        attributes = {"kind": "start", "run_id": request.run_id}
        if request.requested_by:
            attributes["mhi_requested_by"] = json.dumps(request.requested_by)
        self.bus.publish(CONTROLLER_TOPIC, json.dumps(body).encode(), attributes)
        return RunRef(flow.account, flow.flow_id, request.run_id)

    def wake(self, ref: RunRef) -> None:
        """Publish the wake-up of one run."""
        from mhi.runtime.records import publish_wake

        publish_wake(self.bus, ref)

    def _pace(self) -> None:
        wait = self._last + self.pace_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
