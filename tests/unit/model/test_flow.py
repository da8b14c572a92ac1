"""The flow format: the seed parses unchanged; every problem is reported with its JSON path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mhi.errors import FlowDefinitionError
from mhi.model.validate import parse_flow
from tests.conftest import ROOT

SEED = json.loads((ROOT / "flows" / "daily-avalon-extract.json").read_text())
TYPES = frozenset({"ms-echo", "ms-extractor-avalon", "ms-data-modeling", "ms-kpi-engine"})


def _flow(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"flow_id": "f", "account": "acme", "flow_config": {"steps": list(steps)}, **extra}


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(FlowDefinitionError) as info:
        parse_flow(raw, TYPES)
    return info.value.problems


def test_seed_flow_parses_unchanged() -> None:
    flow = parse_flow(copy.deepcopy(SEED))
    assert flow.flow_id == "daily-avalon-extract"
    assert flow.account == "hotel-fergus"
    assert [s.id for s in flow.steps] == ["extract-reservations", "model-data", "calculate-kpis"]
    assert flow.steps[0].config == {
        "_m_account": "hotel-fergus",
        "datasets": ["Reservations"],
        "incremental": True,
    }
    assert flow.steps[2].depends_on == ["model-data"]
    assert flow.notifications is not None and flow.notifications.fail is not None
    assert flow.notifications.success.type == ["email"]  # type: ignore[union-attr]
    assert flow.notifications.fail.recipients == ["alerts@example.com"]


def test_seed_round_trips_through_frozen_json() -> None:
    flow = parse_flow(copy.deepcopy(SEED))
    again = parse_flow(json.loads(json.dumps(flow.model_dump(mode="json", exclude_none=True))))
    assert again == flow


@pytest.mark.parametrize(
    ("field", "value"),
    [("flow_id", "daily/extract"), ("account", "../other"), ("flow_id", "a b"), ("account", "")],
)
def test_unsafe_ids_are_rejected_with_the_rule(field: str, value: str) -> None:
    raw = _flow({"id": "a", "type": "ms-echo"})
    raw[field] = value
    problems = _problems(raw)
    assert problems[0][0] == f"$.{field}"
    assert "letters, digits" in problems[0][1]


def test_unsafe_step_id_names_its_path() -> None:
    problems = _problems(_flow({"id": "a.b", "type": "ms-echo"}))
    assert problems == [("$.flow_config.steps[0].id", problems[0][1])]
    assert "'a.b' is not allowed" in problems[0][1]


def test_every_problem_is_reported_at_once() -> None:
    raw = _flow(
        {"id": "a", "type": "ms-echo"},
        {"id": "a", "type": "ms-echoo"},
        {"id": "c", "type": "ms-echo", "depends_on": ["nope"]},
        schedule={"cron": "61 * * * *", "time_zone": "Mars/Olympus"},
    )
    problems = dict(_problems(raw))
    assert "duplicate step id 'a'" in problems["$.flow_config.steps[1].id"]
    assert "did you mean 'ms-echo'" in problems["$.flow_config.steps[1].type"]
    assert problems["$.flow_config.steps[2].depends_on[0]"] == "unknown step 'nope'"
    assert "bad cron" in problems["$.schedule.cron"]
    assert "unknown time zone" in problems["$.schedule.time_zone"]


def test_cycle_is_named_step_by_step() -> None:
    raw = _flow(
        {"id": "a", "type": "ms-echo", "depends_on": ["c"]},
        {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
        {"id": "c", "type": "ms-echo", "depends_on": ["b"]},
    )
    [(path, msg)] = _problems(raw)
    assert path == "$.flow_config.steps"
    cycle = msg.removeprefix("dependency cycle: ").split(" → ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"} and len(cycle) == 4


def test_self_dependency() -> None:
    assert _problems(_flow({"id": "a", "type": "ms-echo", "depends_on": ["a"]}))[0][1] == (
        "a step cannot depend on itself"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"x": "{{ steps.b.output.rows }}"}, "not upstream of 'a'"),
        ({"x": "{{ steps.zz.output.rows }}"}, "no such step"),
        ({"x": "{{ params.nope }}"}, "no such flow param"),
        ({"x": "{{ item }}"}, "only defined inside a for_each"),
        ({"x": "{{ steps.b.outputs }}"}, "not upstream of 'a'"),
        ({"x": "{{ os.system }}"}, "unknown name 'os'"),
        ({"x": "{{ steps.b.output.rows + 1 }}"}, "bad expression"),
    ],
)
def test_bad_references_are_caught_before_running(config: dict[str, Any], message: str) -> None:
    raw = _flow({"id": "a", "type": "ms-echo", "config": config}, {"id": "b", "type": "ms-echo"})
    problems = _problems(raw)
    assert problems[0][0] == "$.flow_config.steps[0].config.x"
    assert message in problems[0][1]


def test_upstream_reference_must_name_output_or_status() -> None:
    raw = _flow(
        {"id": "a", "type": "ms-echo"},
        {
            "id": "b",
            "type": "ms-echo",
            "depends_on": ["a"],
            "config": {"x": "{{ steps.a.outputs }}"},
        },
    )
    [(path, msg)] = _problems(raw)
    assert path == "$.flow_config.steps[1].config.x"
    assert "use steps.<id>.output.<path> or steps.<id>.status" in msg


def test_valid_extensions_parse() -> None:
    raw = _flow(
        {"id": "list", "type": "ms-echo", "config": {"hotels": ["a", "b"]}},
        {
            "id": "each",
            "type": "ms-echo",
            "depends_on": ["list"],
            "for_each": "{{ steps.list.output.hotels }}",
            "when": "params.run_it and item != 'b'",
            "config": {"hotel": "{{ item }}", "day": "{{ params.day }}"},
            "retry": {"max_attempts": 5, "initial_backoff_seconds": 1},
            "timeout_seconds": 30,
            "optional": True,
        },
        params={"day": {"default": "2024-01-01"}, "run_it": {"default": True}},
        schedule={"cron": "0 6 * * *", "time_zone": "Europe/Madrid"},
        timeout_seconds=3600,
        max_parallel=4,
    )
    flow = parse_flow(raw, TYPES)
    assert flow.steps[1].retry.max_attempts == 5
    assert flow.max_parallel == 4


def test_when_syntax_error_names_the_path() -> None:
    raw = _flow({"id": "a", "type": "ms-echo", "when": "params.x =="}, params={"x": {}})
    [(path, msg)] = _problems(raw)
    assert path == "$.flow_config.steps[0].when"
    assert "bad expression" in msg


def test_unknown_fields_are_errors_not_ignored() -> None:
    raw = _flow({"id": "a", "type": "ms-echo", "depend_on": ["x"]})
    assert _problems(raw) == [("$.flow_config.steps[0].depend_on", "unknown field")]


def test_not_an_object() -> None:
    with pytest.raises(FlowDefinitionError, match="must be a JSON object"):
        parse_flow([1, 2], TYPES)
