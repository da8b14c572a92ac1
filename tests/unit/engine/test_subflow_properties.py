"""Property tests with sub-flows: the random flows of `test_properties` with some steps turned
into `ms-sub-flow` steps, whose child runs (a stored two-step flow with its own random outcomes)
run on the same crashing store and adversarial bus.

Every invariant of `test_properties` still holds for the parent run, and for sub-flows:
every run started ends and leaves the active index; each turn of every run ran once; an attempt
of a sub-flow step starts at most one child run (its id comes from the parent, step and attempt),
whose `flow.json` names that step and attempt; a sub-flow step succeeded exactly with the child of
its last attempt, and its output carries that child's id and final output; one that failed on
its child's outcome names a child that did not succeed.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.run import RunState, StepStatus
from mhi.model.subflows import SUB_FLOW_TYPE
from mhi.model.validate import parse_flow
from mhi.runtime.controller import Controller
from mhi.runtime.subflows import child_run_id
from tests.unit.engine.sim_subflows import PARENT_RUN, SubFlowSim
from tests.unit.engine.test_properties import OUTCOMES, Plan, _check, scenarios

TYPES = frozenset({"ms-echo", SUB_FLOW_TYPE})
CHILD = parse_flow(
    {
        "flow_id": "child",
        "account": "acme",
        "params": {"tag": {"default": ""}},
        "flow_config": {
            "steps": [
                {
                    "id": "c0",
                    "type": "ms-echo",
                    "timeout_seconds": 180,
                    "retry": {"max_attempts": 2, "initial_backoff_seconds": 5},
                },
                {
                    "id": "c1",
                    "type": "ms-echo",
                    "depends_on": ["c0"],
                    "timeout_seconds": 180,
                    "config": {"tag": "{{ params.tag }}"},
                    "retry": {"max_attempts": 2},
                },
            ]
        },
    },
    TYPES,
)
SUB_CONFIG = {"flow_ref": "child", "params": {"tag": "{{ run.id }}"}, "poll_seconds": 5}


@st.composite
def sub_flow_scenarios(draw: st.DrawFn) -> tuple[FlowDefinition, Plan, int, float]:
    flow, plan, seed, crash_rate = draw(scenarios())
    raw = flow.model_dump(mode="json", exclude_none=True)
    steps = raw["flow_config"]["steps"]
    chosen = draw(st.sets(st.integers(0, len(steps) - 1), min_size=1, max_size=3))
    for i in chosen:
        steps[i].update(type=SUB_FLOW_TYPE, config=SUB_CONFIG)
    for step in ("c0", "c1"):
        for attempt in (1, 2):
            plan[(step, attempt, 0)] = draw(st.sampled_from(OUTCOMES))
    return parse_flow(raw, TYPES), plan, seed, crash_rate


def _state(sim: SubFlowSim, ref: RunRef) -> RunState:
    return Controller(sim.store, sim, lambda: sim.now).state(ref)


def _check_sub_flows(sim: SubFlowSim, flow: FlowDefinition) -> None:
    parent = RunRef(flow.account, flow.flow_id, PARENT_RUN)
    assert not sim.store.list("active/")  # every child run ended too
    assert all(count == 1 for count in sim.turns.values()), sim.turns
    final = _state(sim, parent)
    started: dict[str, tuple[str, int]] = {}
    for spec in flow.steps:
        if spec.type != SUB_FLOW_TYPE:
            continue
        for number in final.steps[spec.id].attempts:
            started[child_run_id(parent, spec.id, number)] = (spec.id, number)
    children = _children(sim)
    assert children <= set(started), (children, started)  # at most one child per attempt
    for run_id in children:
        frozen = json.loads(sim.store.objects[f"runs/acme/child/{run_id}/flow.json"])
        step_id, number = started[run_id]
        assert frozen["parent"] == {
            "account": "acme",
            "flow_id": flow.flow_id,
            "run_id": PARENT_RUN,
            "step_id": step_id,
            "attempt": number,
        }
    for spec in flow.steps:
        if spec.type == SUB_FLOW_TYPE:
            _check_outcome(sim, final, spec.id, parent)


def _children(sim: SubFlowSim) -> set[str]:
    """The child runs that started. A retry cancels its previous attempt's child, which may not
    have started (its start never went out): that leaves only the cancel, no run."""
    keys = sim.store.list("runs/acme/child/")
    started = {k.split("/")[3] for k in keys if k.endswith("/flow.json")}
    assert all(k.split("/")[3] in started or k.endswith("/cancel.json") for k in keys), keys
    return started


def _check_outcome(sim: SubFlowSim, final: RunState, step_id: str, parent: RunRef) -> None:
    step = final.steps[step_id]
    last = step.last
    if last is None or last.result is None:
        return  # skipped
    child = RunRef("acme", "child", child_run_id(parent, step_id, last.number))
    done = sim.store.objects.get(child.key("done.json"))
    status = json.loads(done)["status"] if done is not None else None
    if final.status(step) == StepStatus.SUCCEEDED:
        assert status == "succeeded", (step_id, status)
        output = final.output(step_id)
        c1 = _state(sim, child).output("c1")
        assert output["run_id"] == child.run_id and output["outputs"] == {"c1": c1}
        assert c1 == {"by": "c1", "run": child.run_id}
    elif (last.result.get("error") or {}).get("kind") in ("sub_flow_failed", "sub_flow_cancelled"):
        assert status != "succeeded", (step_id, last.result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sub_flow_scenarios())
def test_sub_flows_keep_every_guarantee(scenario: Any) -> None:
    flow, plan, seed, crash_rate = scenario
    sim = SubFlowSim(flow, plan, seed, crash_rate, {"child": CHILD})
    _check(sim, flow)
    _check_sub_flows(sim, flow)


def test_the_sub_flow_simulator_runs_children_through_crashes() -> None:
    """Guard against a simulator whose sub-flows silently stopped running children."""
    raw: dict[str, Any] = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {
            "steps": [
                {"id": "s0", "type": "ms-echo", "timeout_seconds": 180},
                {
                    "id": "s1",
                    "type": SUB_FLOW_TYPE,
                    "depends_on": ["s0"],
                    "config": SUB_CONFIG,
                    "timeout_seconds": 180,
                    "retry": {"max_attempts": 3},
                },
            ]
        },
    }
    flow = parse_flow(raw, TYPES)
    # the first attempt fails at its first look at its child: the retry cancels that child and
    # starts a second one, which succeeds (c0's process dies once, c1 fails once, retryably)
    plan = {("s1", 1, 1): "retryable", ("c0", 1, 0): "died", ("c1", 1, 0): "retryable"}
    sim = SubFlowSim(flow, plan, seed=11, crash_rate=0.1, children={"child": CHILD})
    _check(sim, flow)
    _check_sub_flows(sim, flow)
    final = _state(sim, RunRef("acme", "f", PARENT_RUN))
    assert final.status(final.steps["s1"]) == StepStatus.SUCCEEDED
    assert len(_children(sim)) >= 2
    assert sim.crashes > 0 and sim.deaths >= 1


@st.composite
def timed_out_scenarios(draw: st.DrawFn) -> tuple[FlowDefinition, Plan, int, float]:
    flow, plan, seed, crash_rate = draw(sub_flow_scenarios())
    raw = flow.model_dump(mode="json", exclude_none=True)
    raw["timeout_seconds"] = draw(st.integers(20, 300))
    return parse_flow(raw, TYPES), plan, seed, crash_rate


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_out_scenarios())
def test_a_parent_that_times_out_leaves_no_child_running(scenario: Any) -> None:
    """With a flow timeout the parent may end while children run: every run still ends (the
    simulator returns only once no run is active), each turn ran once, and a child that was
    waited for when its parent timed out was cancelled with it (or had ended first)."""
    flow, plan, seed, crash_rate = scenario
    sim = SubFlowSim(flow, plan, seed, crash_rate, {"child": CHILD})
    parent = sim.run()
    sim.store.armed = False
    assert not sim.store.list("active/")
    assert all(count == 1 for count in sim.turns.values()), sim.turns
    done = json.loads(sim.store.objects[parent.key("done.json")])
    final = _state(sim, parent)
    if done["status"] != "timed_out":
        return
    for spec in flow.steps:
        last = final.steps[spec.id].last
        if spec.type != SUB_FLOW_TYPE or last is None or last.result is not None:
            continue
        child = RunRef("acme", "child", child_run_id(parent, spec.id, last.number))
        ended = sim.store.objects.get(child.key("done.json"))
        if ended is None:
            continue  # its start never went out (only its cancel may be there)
        child_done = json.loads(ended)
        assert child_done["status"] == "cancelled" or child_done["at"] <= done["at"], child_done
