"""Sub-flow references seen statically: plain refs are followed, cycles are found."""

from __future__ import annotations

from mhi.model.flow import FlowDefinition
from mhi.model.subflows import find_cycle, literal_refs


def _flow(*refs: str) -> FlowDefinition:
    steps = [
        {"id": f"s{i}", "type": "ms-sub-flow", "config": {"flow_ref": ref}}
        for i, ref in enumerate(refs)
    ]
    steps.append({"id": "other", "type": "ms-echo", "config": {"flow_ref": "not-a-sub-flow"}})
    return FlowDefinition.model_validate(
        {"flow_id": "f", "account": "a", "flow_config": {"steps": steps}}
    )


def test_only_plain_refs_of_sub_flow_steps_are_followed() -> None:
    assert literal_refs(_flow("ingest", "{{ params.which }}", "clean")) == [
        (0, "ingest"),
        (2, "clean"),
    ]


GRAPH = {"report": ["ingest"], "ingest": ["clean"], "clean": ["report"], "leaf": []}


def test_a_path_back_to_the_flow_is_the_cycle() -> None:
    assert find_cycle("report", "ingest", GRAPH.get) == ["report", "ingest", "clean", "report"]
    assert find_cycle("report", "report", GRAPH.get) == ["report", "report"]


def test_no_cycle_through_leaves_unknown_flows_or_loops_elsewhere() -> None:
    graph = {"a": ["b"], "b": ["c", "b"], "c": ["missing"]}
    assert find_cycle("a", "b", graph.get) is None
    assert find_cycle("report", "leaf", GRAPH.get) is None
