"""Property tests: random DAGs, random failures, an adversarial bus and crashing controllers.

A deterministic simulator drives the real controller over an in-memory run store. Messages are
delivered in random order, some twice, some dropped and redelivered later; the controller
crashes between writes (its cache is lost and the message it was handling is redelivered, as
Pub/Sub does when a function fails). Steps succeed, fail (retryably or not) or never answer.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.constants import CALLBACK_TOPIC
from mhi.model.flow import FlowDefinition
from mhi.model.messages import CallbackMessage, CallbackStatus, ErrorInfo, parse_step
from mhi.model.run import RunStatus, StepStatus
from mhi.model.validate import parse_flow
from mhi.model.keys import RunRef
from mhi.runtime.controller import Controller
from mhi.runtime.start import StartRequest, start_run
from tests.unit.engine.helpers import T0

OUTCOMES = ["ok", "ok", "ok", "retryable", "fatal", "lost"]


class Crash(Exception):
    """The controller process died."""


class CrashingStore(MemoryRunStore):
    """Dies before a create with some probability (so between any two writes)."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        super().__init__()
        self.rng, self.rate, self.armed = rng, rate, False

    def create(self, key: str, data: bytes) -> bool:
        if self.armed and self.rng.random() < self.rate:
            raise Crash(key)
        return super().create(key, data)


class Sim:
    def __init__(
        self, flow: FlowDefinition, plan: dict[tuple[str, int], str], seed: int, crash_rate: float
    ):
        self.rng = random.Random(seed)
        self.flow, self.plan = flow, plan
        self.now = T0
        self.store = CrashingStore(random.Random(seed + 1), crash_rate)
        self.pending: list[tuple[str, bytes]] = []
        self.delayed: list[tuple[str, bytes]] = []
        self.published: Counter[tuple[str, int, int]] = Counter()
        self.crashes = 0
        self.controller = self._controller()

    def _controller(self) -> Controller:
        return Controller(self.store, self, lambda: self.now)

    def publish(self, topic: str, data: bytes, attributes: Any) -> None:
        if topic != CALLBACK_TOPIC:
            m = parse_step(data)
            self.published[(m.step_id, m.attempt, m.turn)] += 1
        self.pending.append((topic, data))

    def guarded(self, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
            return True
        except Crash:
            self.crashes += 1
            self.controller = self._controller()  # a new instance: empty cache
            return False

    def step(self, data: bytes) -> None:
        m = parse_step(data)
        outcome = self.plan.get((m.step_id, m.attempt), "ok")
        if outcome == "lost":
            return
        status = CallbackStatus.SUCCEEDED if outcome == "ok" else CallbackStatus.FAILED
        error = (
            None
            if outcome == "ok"
            else ErrorInfo(kind="x", message=outcome, retryable=outcome == "retryable")
        )
        cb = CallbackMessage(
            run_id=m.run_id,
            flow_id=m.flow_id,
            account=m.account,
            step_id=m.step_id,
            attempt=m.attempt,
            status=status,
            error=error,
            output={"by": m.step_id},
        )
        self.pending.append((CALLBACK_TOPIC, cb.model_dump_json().encode()))

    def deliver(self, topic: str, data: bytes) -> bool:
        if topic != CALLBACK_TOPIC:
            self.step(data)
            return True
        cb = CallbackMessage.model_validate_json(data)
        return self.guarded(self.controller.on_callback, cb)

    def run(self) -> RunRef:
        request = StartRequest(self.flow, {}, "run-1")
        self.store.armed = True
        while not self.guarded(start_run, self.controller, request):
            pass  # the start message is redelivered until it goes through
        ref = RunRef("acme", "f", "run-1")
        for _ in range(20_000):
            if self.pending:
                self._one_message()
            elif self.store.read(ref.prefix + "done.json") is not None and not self.delayed:
                return ref
            else:
                self.now += timedelta(seconds=self.rng.choice([1, 5, 30, 90]))
                self.pending += self.delayed
                self.delayed = []
                self.guarded(self.controller.sweep)
        raise AssertionError("the run never finished")

    def _one_message(self) -> None:
        i = self.rng.randrange(len(self.pending))
        roll = self.rng.random()
        if roll < 0.1:
            self.delayed.append(self.pending.pop(i))  # dropped, redelivered later
            return
        topic, data = self.pending[i]
        done = self.deliver(topic, data)
        if done and roll > 0.2:  # 10% of deliveries are duplicated (kept for another delivery)
            self.pending.pop(i)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FlowDefinition, dict[tuple[str, int], str], int, float]:
    n = draw(st.integers(1, 9))
    steps = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        steps.append(
            {
                "id": f"s{i}",
                "type": "ms-echo",
                "depends_on": [f"s{d}" for d in deps],
                "optional": draw(st.booleans()),
                "timeout_seconds": 60,
                "retry": {"max_attempts": draw(st.integers(1, 3)), "initial_backoff_seconds": 5},
            }
        )
    raw = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {"steps": steps},
        "max_parallel": draw(st.one_of(st.none(), st.integers(1, 3))),
    }
    flow = parse_flow(raw, frozenset({"ms-echo"}))
    plan = {(f"s{i}", a): draw(st.sampled_from(OUTCOMES)) for i in range(n) for a in (1, 2, 3)}
    return flow, plan, draw(st.integers(0, 2**32)), draw(st.sampled_from([0.0, 0.05, 0.2]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_run_ends_once_and_never_double_dispatches(scenario: Any) -> None:
    flow, plan, seed, crash_rate = scenario
    sim = Sim(flow, plan, seed, crash_rate)
    ref = sim.run()
    sim.store.armed = False
    final = Controller(sim.store, sim, lambda: sim.now).state(ref)

    # exactly one terminal state
    done = json.loads(sim.store.objects[ref.prefix + "done.json"])
    assert done["status"] in {s.value for s in RunStatus if s != RunStatus.RUNNING}
    # no attempt (or turn) is dispatched twice
    assert all(count == 1 for count in sim.published.values()), sim.published
    failed_required = []
    for spec in flow.steps:
        step = final.steps[spec.id]
        status = final.status(step)
        attempts = [a for (sid, a, _t) in sim.published if sid == spec.id]
        # every step ends in a terminal status; retries never exceed the policy
        assert status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED), (
            spec.id,
            status,
        )
        assert max(attempts, default=0) <= spec.retry.max_attempts
        # skip propagation: skipped exactly when a dependency failed (required) or was skipped
        upstream_bad = any(
            final.counts_as_failed(final.steps[d])
            or final.status(final.steps[d]) == StepStatus.SKIPPED
            for d in spec.depends_on
        )
        assert (status == StepStatus.SKIPPED) == upstream_bad, (spec.id, status, upstream_bad)
        # every non-skipped step ran at least once
        if status != StepStatus.SKIPPED:
            assert attempts, spec.id
        if final.counts_as_failed(step):
            failed_required.append(spec.id)
    assert (done["status"] == "failed") == bool(failed_required)
    assert not sim.store.list("active/")


def test_simulator_exercises_crashes_and_redelivery() -> None:
    """Guard against a simulator that silently stopped injecting faults."""
    flow = parse_flow(
        {
            "flow_id": "f",
            "account": "acme",
            "flow_config": {
                "steps": [
                    {
                        "id": f"s{i}",
                        "type": "ms-echo",
                        "depends_on": [f"s{i - 1}"] if i else [],
                        "timeout_seconds": 60,
                        "retry": {"max_attempts": 3, "initial_backoff_seconds": 5},
                    }
                    for i in range(8)
                ]
            },
        },
        frozenset({"ms-echo"}),
    )
    plan = {("s2", 1): "lost", ("s4", 1): "retryable"}
    sim = Sim(flow, plan, seed=7, crash_rate=0.2)
    ref = sim.run()
    assert sim.crashes > 0
    assert json.loads(sim.store.objects[ref.prefix + "done.json"])["status"] == "succeeded"
    assert sim.published[("s2", 2, 0)] == 1 and sim.published[("s4", 2, 0)] == 1
    assert isinstance(sim.now, datetime)
