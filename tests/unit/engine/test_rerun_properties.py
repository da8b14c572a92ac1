"""Property tests of reruns: random flows run, fail, and are re-run; every invariant still holds.

A deterministic simulator drives the real controller over an in-memory run store, delivering
messages in random order, duplicated and delayed, with controller crashes between any two
writes (a crash loses the cache; the message is redelivered). Each run finishes, is re-run from
failure (or from a random step when nothing failed) with a fresh plan of outcomes, and must
finish again: a second done, no attempt dispatched twice in either generation, kept steps never
dispatched again, retries bounded per generation, skips exactly where the join rule (or an
error handler's) says so.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.constants import CALLBACK_TOPIC, NOTIFY_STEP
from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus, ErrorInfo, parse_step
from mhi.model.run import RunState, RunStatus, StepStatus
from mhi.model.validate import parse_flow
from mhi.ops.control import rerun
from mhi.runtime.controller import Controller
from mhi.runtime.start import StartRequest, start_run
from tests.unit.engine.helpers import T0, random_flow, should_skip
from tests.unit.engine.sim import Crash, CrashingStore

OUTCOMES = ["ok", "ok", "ok", "retryable", "fatal", "lost"]
REF = RunRef("acme", "f", "run-1")
BY = {"actor": "tester", "via": "test"}


class Sim:
    """One run through its generations: the bus, the steps (per plan) and crashing controllers."""

    def __init__(self, flow: FlowDefinition, seed: int, crash_rate: float) -> None:
        self.rng = random.Random(seed)
        self.flow = flow
        self.now = T0
        self.store = CrashingStore(random.Random(seed + 1), crash_rate)
        self.plan: dict[tuple[str, int], str] = {}
        self.pending: list[tuple[str, bytes]] = []
        self.delayed: list[tuple[str, bytes]] = []
        self.published: Counter[tuple[str, int, int]] = Counter()
        self.controller = self._controller()

    def _controller(self) -> Controller:
        return Controller(self.store, self, lambda: self.now)

    def publish(self, topic: str, data: bytes, attributes: Any) -> None:
        self.pending.append((topic, data))

    def guarded(self, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
            return True
        except Crash:
            self.controller = self._controller()
            return False

    def answer(self, data: bytes) -> None:
        m = parse_step(data)
        # As the step SDK does: the first delivery of a turn takes its lease (here one that
        # outlives the test); a duplicate, or a message published again because its turn was
        # not seen starting in time, finds it and runs nothing. `published` counts turns run.
        lease = {"at": self.now.isoformat(), "lease_until": (self.now + timedelta(days=30))}
        rel = keys.turn_key(m.step_id, m.attempt, m.turn, "started")
        body = json.dumps(lease, default=str).encode()
        if not MemoryRunStore.create(self.store, REF.key(rel), body):
            return
        self.published[(m.step_id, m.attempt, m.turn)] += 1
        outcome = self.plan.get((m.step_id, m.attempt), "ok")
        if outcome == "lost":
            return
        ok = outcome == "ok"
        error = None if ok else ErrorInfo(kind="x", message=outcome, retryable=outcome != "fatal")
        cb = CallbackMessage(
            run_id=m.run_id,
            flow_id=m.flow_id,
            account=m.account,
            step_id=m.step_id,
            attempt=m.attempt,
            status=CallbackStatus.SUCCEEDED if ok else CallbackStatus.FAILED,
            error=error,
            output={"by": m.step_id, "attempt": m.attempt},
        )
        self.pending.append((CALLBACK_TOPIC, cb.model_dump_json().encode()))

    def settle(self, done: str) -> None:
        for _ in range(20_000):
            if self.pending:
                self._one_message()
            elif self.store.read(REF.key(done)) is not None and not self.delayed:
                return
            else:
                self.now += timedelta(seconds=self.rng.choice([1, 5, 30, 90]))
                self.pending += self.delayed
                self.delayed = []
                self.guarded(self.controller.sweep)
        raise AssertionError(f"{done} never written")

    def _one_message(self) -> None:
        i = self.rng.randrange(len(self.pending))
        roll = self.rng.random()
        if roll < 0.1:
            self.delayed.append(self.pending.pop(i))
            return
        topic, data = self.pending[i]
        if topic != CALLBACK_TOPIC:
            self.answer(data)
            delivered = True
        else:
            cb = CallbackMessage.model_validate_json(data)
            delivered = self.guarded(self.controller.on_callback, cb)
        if delivered and roll > 0.2:
            self.pending.pop(i)

    def start(self) -> None:
        self.store.armed = True
        while not self.guarded(start_run, self.controller, StartRequest(self.flow, {}, "run-1")):
            pass
        self.settle(keys.DONE)

    def state(self) -> RunState:
        armed, self.store.armed = self.store.armed, False
        try:
            return Controller(self.store, self, lambda: self.now).state(REF)
        finally:
            self.store.armed = armed

    def rerun(self, from_step: str | None) -> dict[str, int]:
        self.store.armed = False
        plan = rerun(self.store, REF, BY, self.now, from_step=from_step)
        self.store.armed = True
        # the operations service wakes the run; a crash is redelivered like any message
        while not self.guarded(lambda: self.controller.advance(REF, full_refresh=True)):
            pass
        self.settle(keys.done_key(plan.generation))
        return plan.steps


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FlowDefinition, int, float, list[str], list[str]]:
    n = draw(st.integers(1, 8))
    raw = random_flow(draw, n, timeout_seconds=60)
    flow = parse_flow(raw, frozenset({"ms-echo"}))
    first = draw(st.lists(st.sampled_from(OUTCOMES), min_size=3 * n, max_size=3 * n))
    second = draw(st.lists(st.sampled_from(OUTCOMES), min_size=3 * n, max_size=3 * n))
    return flow, draw(st.integers(0, 2**32)), draw(st.sampled_from([0.0, 0.05, 0.2])), first, second


def _plan(flow: FlowDefinition, outcomes: list[str], bases: dict[str, int]) -> dict[Any, str]:
    plan = {}
    for i, spec in enumerate(flow.steps):
        for k in range(3):
            plan[(spec.id, bases.get(spec.id, 1) + k)] = outcomes[3 * i + k]
    return plan


def _check_generation(sim: Sim, flow: FlowDefinition, generation: int, run: set[str]) -> None:
    final = sim.state()
    assert final.reruns.generation == generation
    done = json.loads(sim.store.objects[REF.key(keys.done_key(generation))])
    assert done["status"] in {s.value for s in RunStatus if s != RunStatus.RUNNING}
    assert all(count == 1 for count in sim.published.values()), sim.published
    failed_required = []
    for spec in flow.steps:
        step = final.steps[spec.id]
        status = final.status(step)
        assert status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)
        # retries never exceed the policy within one generation
        assert max(step.attempts, default=0) <= spec.retry.max_attempts
        skip = should_skip(final, spec, flow.handled().get(spec.id))
        assert (status == StepStatus.SKIPPED) == skip, (spec.id, status, skip)
        if spec.id in run and status != StepStatus.SKIPPED:
            assert step.attempts, spec.id
        if final.counts_as_failed(step):
            failed_required.append(spec.id)
    assert (done["status"] == "failed") == bool(failed_required)
    assert not sim.store.list("active/")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_rerun_keeps_what_succeeded_and_every_invariant_holds(scenario: Any) -> None:
    flow, seed, crash_rate, first, second = scenario
    sim = Sim(flow, seed, crash_rate)
    sim.plan = _plan(flow, first, {})
    sim.start()
    _check_generation(sim, flow, 0, {s.id for s in flow.steps})
    before = sim.state()
    succeeded = {s.id for s in before.top_level() if before.status(s) == StepStatus.SUCCEEDED}
    outputs = {sid: before.output(sid) for sid in succeeded}
    dispatched_before = set(sim.published)
    from_step = None if len(succeeded) < len(flow.steps) else flow.steps[seed % len(flow.steps)].id

    bases = {s.id: 1 + max(before.steps[s.id].attempts, default=0) for s in flow.steps}
    sim.plan.update(_plan(flow, second, bases))
    reset = sim.rerun(from_step)
    top_reset = {s for s in reset if s != NOTIFY_STEP}
    _check_generation(sim, flow, 1, top_reset)

    after = sim.state()
    new = set(sim.published) - dispatched_before
    for spec in flow.steps:
        step = after.steps[spec.id]
        if spec.id not in top_reset:
            # kept: not dispatched again, same status and output as before the rerun
            assert not any(sid == spec.id for sid, _a, _t in new), spec.id
            assert after.status(step) == before.status(before.steps[spec.id])
            if spec.id in succeeded:
                assert after.output(spec.id) == outputs[spec.id]
        else:
            # re-run: new attempts are numbered past every earlier one; the old ones are history
            numbers = [a for sid, a, _t in new if sid == spec.id]
            assert all(a >= reset[spec.id] for a in numbers), (spec.id, numbers)
            assert set(step.history) == set(before.steps[spec.id].attempts)
    if from_step is None:
        # what did not succeed, and what ran on its outcome (handlers, join rules) downstream
        not_succeeded = {s.id for s in flow.steps} - succeeded
        assert top_reset >= not_succeeded
        ups = flow.upstreams()
        assert all(set(ups[sid]) & top_reset for sid in top_reset - not_succeeded), top_reset
    # the first generation's objects are all still there, unchanged
    assert sim.store.read(REF.key(keys.DONE)) is not None


def test_rerun_of_a_run_that_needs_it_is_exercised() -> None:
    """A chain whose middle step fails is re-run from failure: only the failed part runs."""
    steps = [
        {"id": f"s{i}", "type": "ms-echo", "depends_on": [f"s{i - 1}"] if i else []}
        for i in range(4)
    ]
    for s in steps:
        s["retry"] = {"max_attempts": 1}
    flow = parse_flow(
        {"flow_id": "f", "account": "acme", "flow_config": {"steps": steps}},
        frozenset({"ms-echo"}),
    )
    sim = Sim(flow, seed=3, crash_rate=0.2)
    sim.plan = {("s1", 1): "fatal"}
    sim.start()
    assert sim.state().done == json.loads(sim.store.objects[REF.key(keys.DONE)])
    reset = sim.rerun(None)
    assert set(reset) == {"s1", "s2", "s3", NOTIFY_STEP}
    after = sim.state()
    assert after.done is not None and after.done["status"] == "succeeded"
    assert [a for sid, a, _t in sim.published if sid == "s0"] == [1]
    assert sim.published[("s1", 2, 0)] == 1 and "s1" in after.steps and after.steps["s1"].history
