"""Property tests: random DAGs, random outcomes, an adversarial bus, crashing processes.

`tests.unit.engine.sim` drives the real controller and the real step SDK: any create or publish
may be the last thing a process does, messages are duplicated, reordered and held back, handlers
die mid-run. Whatever happens, every run must end with every invariant below holding.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.constants import NOTIFY_STEP
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.run import RunStatus, StepStatus, parse_time
from mhi.model.validate import parse_flow
from mhi.runtime.controller import Controller
from mhi.runtime.start import StartRequest, start_run
from tests.unit.engine.helpers import T0, random_flow, should_skip
from tests.unit.engine.sim import GRACE, LEASE, Crash, Sim

OUTCOMES = ["ok", "ok", "ok", "retryable", "fatal", "died"]
# the simulator moves its clock by at most 10 s between sweeps; a crash may cost one more sweep
SWEEP_SLACK = 60
Plan = dict[tuple[str, int, int], str]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FlowDefinition, Plan, int, float]:
    n = draw(st.integers(1, 9))
    raw = random_flow(draw, n, timeout_seconds=180)
    limit = draw(st.integers(1, 2))
    for step in raw["flow_config"]["steps"]:
        if draw(st.integers(0, 2)) == 0:  # a third of the steps share one concurrency key
            step["concurrency"] = {"key": "pms", "limit": limit}
    if draw(st.booleans()):
        sla_notify = {"type": ["outbox"], "recipients": "ops@example.com"}
        raw["sla"] = {"within_seconds": draw(st.integers(1, 400)), "notify": sla_notify}
    if draw(st.booleans()):
        block = {"type": ["outbox"], "recipients": "team@example.com"}
        raw["notifications"] = {"success": block, "fail": block}
    flow = parse_flow(raw, frozenset({"ms-echo"}))
    # A turn that died is run again as the next turn of its attempt: that one answers.
    plan = {(f"s{i}", a, 0): draw(st.sampled_from(OUTCOMES)) for i in range(n) for a in (1, 2, 3)}
    plan[(NOTIFY_STEP, 1, 0)] = draw(st.sampled_from(["ok", "retryable", "died"]))
    return flow, plan, draw(st.integers(0, 2**32)), draw(st.sampled_from([0.0, 0.05, 0.2]))


def _check(sim: Sim, flow: FlowDefinition) -> None:
    ref = sim.run()
    sim.store.armed = False
    final = Controller(sim.store, sim, lambda: sim.now).state(ref)
    done = json.loads(sim.store.objects[ref.prefix + "done.json"])
    # exactly one terminal state, and the run left the active index
    assert done["status"] in {s.value for s in RunStatus if s != RunStatus.RUNNING}
    assert not sim.store.list("active/")
    # a turn's handler runs at most once: a second run of an attempt is a new turn, after the
    # lease of the first lapsed (its process died)
    assert all(count == 1 for count in sim.runs.values()), sim.runs
    failed_required = []
    handled = flow.handled()
    for spec in flow.steps:
        step = final.steps[spec.id]
        status = final.status(step)
        ran = [a for (sid, a, _t) in sim.runs if sid == spec.id]
        assert status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)
        assert max(ran, default=0) <= spec.retry.max_attempts
        assert max(step.attempts, default=0) <= spec.retry.max_attempts
        skip = should_skip(final, spec, handled.get(spec.id))
        assert (status == StepStatus.SKIPPED) == skip, (spec.id, status, skip)
        if spec.id in handled:
            # a compensating step runs exactly once per final failure of what it handles (its
            # first attempt ran, each turn once: checked above), and never without one
            ran_first = (spec.id, 1, 0) in sim.runs
            assert ran_first == (not skip), (spec.id, sorted(sim.runs))
        if status != StepStatus.SKIPPED:
            # every non-skipped step ran to a real result: none timed out without running
            last = step.last
            assert last is not None and (spec.id, last.number, last.turn) in sim.runs, spec.id
        if final.counts_as_failed(step):
            failed_required.append(spec.id)
    assert (done["status"] == "failed") == bool(failed_required)
    # a concurrency key never has more attempts in flight than its limit
    limits = {s.concurrency.key: s.concurrency.limit for s in flow.steps if s.concurrency}
    assert all(sim.peak[key] <= limit for key, limit in limits.items()), (sim.peak, limits)
    _check_sla(sim, flow, parse_time(done["at"]))
    # the flow notification is sent exactly once (retried until one delivery succeeds; never
    # twice, even when a process dies between the send and its report)
    if flow.notifications is None:
        assert sim.sends == 0 and final.notify is None
    else:
        assert final.notify is not None and final.is_terminal(final.notify)
        delivered = final.status(final.notify) == StepStatus.SUCCEEDED
        assert sim.sends == 1 if delivered else sim.sends <= 1, sim.runs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_run_ends_and_every_guarantee_holds(scenario: Any) -> None:
    flow, plan, seed, crash_rate = scenario
    _check(Sim(flow, plan, seed, crash_rate), flow)


def _chain(n: int, notify: bool = False) -> FlowDefinition:
    raw: dict[str, Any] = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {
            "steps": [
                {
                    "id": f"s{i}",
                    "type": "ms-echo",
                    "depends_on": [f"s{i - 1}"] if i else [],
                    "timeout_seconds": 180,
                    "retry": {"max_attempts": 1},
                }
                for i in range(n)
            ]
        },
    }
    if notify:
        block = {"type": ["outbox"], "recipients": "team@example.com"}
        raw["notifications"] = {"success": block, "fail": block}
    return parse_flow(raw, frozenset({"ms-echo"}))


def _check_sla(sim: Sim, flow: FlowDefinition, done_at: datetime) -> None:
    """One SLA notification for a late run (none for an on-time one), never two."""
    assert len(sim.sla_sends) <= 1, sim.sla_sends
    if flow.sla is None:
        assert sim.sla_sends == []
        return
    deadline = T0 + timedelta(seconds=flow.sla.within_seconds)
    if sim.sla_sends:
        assert done_at >= deadline  # sent only when the run was still running at the deadline
    if done_at < deadline:
        assert sim.sla_sends == []
    elif done_at > deadline + timedelta(seconds=SWEEP_SLACK):
        assert len(sim.sla_sends) == 1, (done_at, deadline)


def test_simulator_exercises_crashes_deaths_and_redelivery() -> None:
    """Guard against a simulator that silently stopped injecting faults."""
    flow = _chain(8, notify=True)
    plan = {("s2", 1, 0): "died", ("s4", 1, 0): "died", (NOTIFY_STEP, 1, 0): "died"}
    sim = Sim(flow, plan, seed=7, crash_rate=0.2)
    _check(sim, flow)
    assert sim.crashes > 0 and sim.deaths == 3
    # with max_attempts 1, a died turn was run again as turn 1 of the same attempt
    assert sim.runs[("s2", 1, 1)] == 1 and sim.runs[("s4", 1, 1)] == 1
    done = json.loads(sim.store.objects["runs/acme/f/run-1/done.json"])
    assert done["status"] == "succeeded"


def test_a_claim_whose_publish_failed_is_published_again_within_the_grace_period() -> None:
    flow = _chain(1)
    sim = Sim(flow, {}, seed=3, crash_rate=0.0)
    original = sim.publish

    def publish_once_failing(topic: str, data: bytes, attributes: Any) -> None:
        sim.publish = original  # type: ignore[method-assign]
        raise Crash("publish not confirmed")

    sim.publish = publish_once_failing  # type: ignore[method-assign]
    ref = RunRef("acme", "f", "run-1")
    with contextlib.suppress(Crash):  # the start message would be redelivered; not here
        start_run(sim.controller, StartRequest(flow, {}, "run-1"))
    assert sim.store.read(ref.key("steps/s0/1/dispatched.json")) is not None
    assert sim.pending == []
    sim.now += timedelta(seconds=GRACE - 1)
    sim.controller.sweep()
    assert sim.pending == []  # not yet: the step may simply be slow to start
    sim.now += timedelta(seconds=2)
    sim.controller.sweep()
    [(topic, _data)] = sim.pending
    assert topic == "ms-echo"
    _finish(sim, ref)


def test_a_step_whose_process_died_runs_again_after_its_lease_not_its_timeout() -> None:
    flow = _chain(1)  # timeout 180 s; lease 90 s
    sim = Sim(flow, {("s0", 1, 0): "died"}, seed=5, crash_rate=0.0)
    ref = RunRef("acme", "f", "run-1")
    start_run(sim.controller, StartRequest(flow, {}, "run-1"))
    [(topic, data)] = sim.pending
    sim.pending.clear()
    assert not sim.deliver(topic, data)  # the handler's process died mid-run
    sim.now += timedelta(seconds=LEASE - 1)
    sim.controller.sweep()
    assert sim.pending == []  # the lease still runs: the step may be working
    sim.now += timedelta(seconds=2)
    sim.controller.sweep()
    [(_topic, again)] = sim.pending
    assert json.loads(again)["turn"] == 1 and json.loads(again)["attempt"] == 1
    _finish(sim, ref)
    assert sim.runs == {("s0", 1, 0): 1, ("s0", 1, 1): 1}


def _finish(sim: Sim, ref: RunRef) -> None:
    while sim.pending:
        topic, data = sim.pending.pop(0)
        sim.deliver(topic, data)
    done = json.loads(sim.store.objects[ref.key("done.json")])
    assert done["status"] == "succeeded"


def test_simulator_exercises_concurrency_keys_under_crashes() -> None:
    """Guard: four parallel steps share a key of limit 2; under crashes, duplicates and three
    controller instances the key is used to its limit and never past it, and every step runs."""
    steps = [
        {"id": f"s{i}", "type": "ms-echo", "concurrency": {"key": "pms", "limit": 2}}
        for i in range(4)
    ]
    flow = parse_flow(
        {"flow_id": "f", "account": "acme", "flow_config": {"steps": steps}},
        frozenset({"ms-echo"}),
    )
    peaks = []
    for seed in range(5):
        sim = Sim(flow, {}, seed=seed, crash_rate=0.1)
        _check(sim, flow)  # never past the limit
        assert {sid for sid, _a, _t in sim.runs} == {"s0", "s1", "s2", "s3"}
        peaks.append(sim.peak["pms"])
    assert max(peaks) == 2, peaks  # and the limit was reached (not one at a time throughout)
