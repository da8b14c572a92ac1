"""`validate_flow`: every problem of a document in one pass, each with its JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.errors import FlowDefinitionError
from mhi.model.validate import parse_flow, validate_flow


def _many_mistakes() -> dict[str, Any]:
    return {
        "flow_id": "many-mistakes",
        "account": "acme",
        "colour": "blue",  # 1 unknown field
        "params": {"day": {"default": "2026-01-01"}, "limit": {"default": "ten"}},
        "schedule": {"cron": "0 0 6 * * *", "time_zone": "Mars/Olympus"},  # 2, 3
        "notifications": {"fail": {"type": ["pigeon"], "recipients": "a@b.c"}},  # 4
        "flow_config": {
            "steps": [
                {"id": "a", "type": "ms-echo", "config": {"sleep_seconds": "soon"}},  # 5
                {"id": "a", "type": "ms-echo"},  # 6 duplicate id
                {"id": "b", "type": "ms-ecko", "depends_on": ["nowhere"]},  # 7, 8
                {"id": "c", "type": "ms-echo", "config": {"x": "{{ steps.b.output.x }}"}},  # 9
                {"id": "bad id!", "type": "ms-echo"},  # 10 schema error in one step
                {
                    "id": "d",
                    "type": "ms-echo",
                    "config": {"sleep_seconds": "{{ params.limit }}"},  # 11 default is a str
                },
            ]
        },
    }


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    flow, problems = validate_flow(_many_mistakes())
    assert flow is None
    paths = [p for p, _ in problems]
    expected = [
        "$.colour",
        "$.flow_config.steps[4].id",
        "$.flow_config.steps[1].id",
        "$.flow_config.steps[2].type",
        "$.flow_config.steps[2].depends_on[0]",
        "$.flow_config.steps[3].config.x",
        "$.flow_config.steps[0].config.sleep_seconds",
        "$.flow_config.steps[5].config.sleep_seconds",
    ]
    for path in expected:
        assert path in paths, (path, problems)
    messages = dict(problems)
    assert "did you mean 'ms-echo'" in messages["$.flow_config.steps[2].type"]
    assert "not upstream of 'c'" in messages["$.flow_config.steps[3].config.x"]


def test_a_flow_whose_schema_is_right_gets_every_other_check_in_one_pass() -> None:
    raw = _many_mistakes()
    del raw["colour"]
    raw["flow_config"]["steps"].pop(4)
    _, problems = validate_flow(raw)
    paths = {p for p, _ in problems}
    assert {
        "$.schedule.cron",
        "$.schedule.time_zone",
        "$.notifications.fail.type[0]",
        "$.flow_config.steps[0].config.sleep_seconds",
        "$.flow_config.steps[1].id",
        "$.flow_config.steps[2].type",
        "$.flow_config.steps[2].depends_on[0]",
        "$.flow_config.steps[3].config.x",
        "$.flow_config.steps[4].config.sleep_seconds",
    } <= paths, problems
    cron = dict(problems)["$.schedule.cron"]
    assert "5-field" in cron


@pytest.mark.parametrize("cron", ["0 6 * * *", "*/15 * * * 1-5", "0 0 1 * *"])
def test_five_field_crons_are_accepted(cron: str) -> None:
    raw = {
        "flow_id": "f",
        "account": "a",
        "schedule": {"cron": cron},
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo"}]},
    }
    assert validate_flow(raw)[1] == []


@pytest.mark.parametrize("cron", ["0 0 6 * * *", "@daily", "0 6 * *", "61 * * * *"])
def test_other_crons_are_refused(cron: str) -> None:
    raw = {
        "flow_id": "f",
        "account": "a",
        "schedule": {"cron": cron},
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo"}]},
    }
    assert [p for p, _ in validate_flow(raw)[1]] == ["$.schedule.cron"]


def test_a_template_of_params_with_defaults_is_type_checked() -> None:
    raw = {
        "flow_id": "f",
        "account": "a",
        "params": {"wait": {"default": 2}, "later": {"required": True}},
        "flow_config": {
            "steps": [
                {"id": "ok", "type": "ms-echo", "config": {"sleep_seconds": "{{ params.wait }}"}},
                {
                    "id": "unknown",
                    "type": "ms-echo",
                    "config": {"sleep_seconds": "{{ params.later }}"},
                },
            ]
        },
    }
    assert validate_flow(raw)[1] == []


def test_parse_flow_raises_with_every_problem() -> None:
    with pytest.raises(FlowDefinitionError) as e:
        parse_flow(_many_mistakes())
    assert len(e.value.problems) >= 8
    assert e.value.context == {"flow": "many-mistakes"}
    assert "$.flow_config.steps[2].type" in str(e.value)
