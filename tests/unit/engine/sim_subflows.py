"""The simulator with sub-flows: `ms-sub-flow` steps start child runs of stored flows on the same
crashing store and adversarial bus, through the controller topic, as in a deployment.

The real `ms-sub-flow` handler runs (after the planned fault of its turn, if any); the child
runs' steps follow the same plan by (step, attempt, turn). `runs` counts the parent run's turns
only (the invariants of `test_properties` read it); `turns` counts every run's.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from mhi.constants import CONTROLLER_TOPIC
from mhi.errors import PermanentError
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.subflows import SUB_FLOW_TYPE
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind, Wait, handle_step_message
from mhi.steps.subflow import SUB_FLOW, SubFlowConfig
from tests.unit.engine.sim import AnyConfig, Died, Sim, _Clock

PARENT_RUN = "run-1"


class _Flows:
    """The stored flows sub-flow steps may run (a `FlowSource` over a dict)."""

    def __init__(self, flows: dict[str, FlowDefinition]) -> None:
        self.flows = flows

    def get(self, flow_id: str) -> bytes | None:
        flow = self.flows.get(flow_id)
        return None if flow is None else flow.model_dump_json(exclude_none=True).encode()


class SubFlowSim(Sim):
    """A `Sim` whose flow may run `children` (stored flows by id) as sub-flows."""

    def __init__(
        self,
        flow: FlowDefinition,
        plan: dict[tuple[str, int, int], str],
        seed: int,
        crash_rate: float,
        children: dict[str, FlowDefinition],
    ) -> None:
        super().__init__(flow, plan, seed, crash_rate)
        self.turns: Counter[tuple[str, str, int, int]] = Counter()
        types = frozenset({"ms-echo", SUB_FLOW_TYPE})
        flows = _Flows(children)
        self.services = Services(
            self.services.settings,
            run_store=self.store,
            bus=self,
            clock=_Clock(self),
            flows=flows,
            step_types=types,
        )
        self.sub_flow = StepKind(SUB_FLOW_TYPE, SubFlowConfig, self._sub_flow)
        self.router = Router(lambda: self.controller, flows, lambda: types)

    def _counted(self, ctx: StepContext) -> bool:
        """Count a turn of any run; True when it is the parent run's (the base counts it)."""
        m = ctx.message
        self.turns[(m.run_id, m.step_id, m.attempt, m.turn)] += 1
        return m.run_id == PARENT_RUN

    def _handler(self, ctx: StepContext, config: AnyConfig) -> dict[str, Any]:
        if self._counted(ctx):
            return super()._handler(ctx, config)
        m = ctx.message
        self._fault(m.step_id, self.plan.get((m.step_id, m.attempt, m.turn), "ok"))
        return {"by": m.step_id, "run": m.run_id}

    def _sub_flow(self, ctx: StepContext, config: SubFlowConfig) -> dict[str, Any] | Wait:
        """The real handler, after the planned fault of the turn."""
        m = ctx.message
        key = (m.step_id, m.attempt, m.turn)
        if self._counted(ctx):
            self.runs[key] += 1
        self._fault(m.step_id, self.plan.get(key, "ok"))
        return SUB_FLOW.handler(ctx, config)

    def _fault(self, step_id: str, outcome: str) -> None:
        from mhi.errors import StepExecutionError, UpstreamUnavailableError

        if outcome == "died":
            self.deaths += 1
            raise Died(step_id)
        if outcome == "retryable":
            raise UpstreamUnavailableError("the source is down")
        if outcome == "fatal":
            raise StepExecutionError("bad data")

    def _step(self, data: bytes) -> None:
        kinds = {SUB_FLOW_TYPE: self.sub_flow}
        handle_step_message(data, self.services, None, lambda t: kinds.get(t, self.kind))

    def _route(self, data: bytes) -> None:
        with contextlib.suppress(PermanentError):  # acknowledged without effect, as in the
            self.router.route(PubSubMessage(data))  # controller function

    def deliver(self, topic: str, data: bytes) -> bool:
        """Starts and wake-ups on the controller topic go to the router; the rest as before."""
        if topic == CONTROLLER_TOPIC:
            return self.guarded(self._route, data)
        return super().deliver(topic, data)

    def _closed(self, ref: RunRef) -> bool:
        """The run is closed, and so is every run it started (no run is left active)."""
        return super()._closed(ref) and not self.store.list("active/")
