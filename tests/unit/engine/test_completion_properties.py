"""Property test: joins, fan-outs and the run's end are found without the sweep.

Several controller instances share a run, each with its own cache, and callbacks arrive in any
order, some twice. After each step ends, the instance that handled it looks at its groups (a
join's dependencies, a for_each step's children, the run's sinks): whoever handles the last end
must find the group complete by reading the store, so the run ends while the clock stands still
(the simulator sweeps only when no message is left, moving its clock). No completion claim is
written: a step transition costs its three creates and nothing more.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.model.flow import FlowDefinition
from mhi.model.validate import parse_flow
from tests.unit.engine.sim import Sim


@st.composite
def dags(draw: st.DrawFn) -> tuple[FlowDefinition, int]:
    n = draw(st.integers(2, 10))
    steps: list[dict[str, Any]] = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=4))) if i else []
        step: dict[str, Any] = {
            "id": f"s{i}",
            "type": "ms-echo",
            "depends_on": [f"s{d}" for d in deps],
        }
        if draw(st.integers(0, 3)) == 0:
            step["for_each"] = list(range(draw(st.integers(1, 4))))
        steps.append(step)
    raw = {"flow_id": "f", "account": "acme", "flow_config": {"steps": steps}}
    return parse_flow(raw, frozenset({"ms-echo"})), draw(st.integers(0, 2**32))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_racing_instances_find_every_group_complete_without_the_sweep(scenario: Any) -> None:
    flow, seed = scenario
    sim = Sim(flow, {}, seed, crash_rate=0.0, hold_back=0.0)
    ref = sim.run()
    assert sim.sweeps == 0  # ended on messages alone: no join or run end waited for the sweep
    kinds = Counter(key.rsplit("/", 1)[-1].split("-")[0] for key in sim.store.objects)
    runs = [k for k in sim.store.objects if k.startswith(ref.prefix)]
    assert not any("/progress/" in k for k in runs)
    # every transition: dispatched, started, result (a for_each parent adds its own result)
    transitions = sum(1 for key in sim.runs)
    parents = sum(1 for s in flow.steps if s.for_each is not None)
    assert kinds["dispatched.json"] == transitions
    assert kinds["started"] == transitions
    assert kinds["result.json"] == transitions + parents
