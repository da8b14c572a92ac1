"""`mhi validate` checks the generic steps' configs (each problem with its JSON path), `mhi steps
TYPE` documents their options, and the README's examples are valid configs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mhi.catalog import config_model
from mhi.cli.main import main
from mhi.model.validate import validate_flow
from tests.conftest import ROOT

GENERIC = ("ms-http-request", "ms-sql", "ms-data-quality", "ms-transform")


def _flow(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "flow_id": "f",
        "account": "acme",
        "params": {"year": {"default": 2016}, "url": {"default": "http://10.0.0.5/hook"}},
        "flow_config": {"steps": list(steps)},
    }


def test_every_bad_config_is_reported_with_its_path_in_one_pass() -> None:
    flow = _flow(
        {"id": "post", "type": "ms-http-request", "config": {"url": "https://169.254.169.254/"}},
        {"id": "hook", "type": "ms-http-request", "config": {"url": "{{ params.url }}"}},
        {"id": "sql", "type": "ms-sql", "config": {"sql": "SELECT @year; DROP TABLE t"}},
        {
            "id": "dq",
            "type": "ms-data-quality",
            "config": {"source": "kpi.t", "checks": [{"check": "unique"}]},
        },
        {"id": "tr", "type": "ms-transform", "config": {"source": "kpi.t", "filter": "row.a ="}},
    )
    _, problems = validate_flow(flow)
    found = dict(problems)
    assert "link-local address" in found["$.flow_config.steps[0].config.url"]
    # A template of a defaulted param is checked with the default.
    assert "private address" in found["$.flow_config.steps[1].config.url"]
    assert "one statement only" in found["$.flow_config.steps[2].config.sql"]
    assert "check unique needs columns" in found["$.flow_config.steps[3].config.checks[0]"]
    assert "filter 'row.a ='" in found["$.flow_config.steps[4].config.filter"]
    assert len(problems) == 5


def test_templates_of_upstream_outputs_are_checked_when_the_step_runs() -> None:
    flow = _flow(
        {"id": "a", "type": "ms-sql", "config": {"sql": "SELECT 1 AS n"}},
        {
            "id": "b",
            "type": "ms-data-quality",
            "depends_on": ["a"],
            "config": {
                "records": "{{ steps.a.output.records }}",
                "checks": [{"check": "row_count", "min": 1}],
            },
        },
    )
    assert validate_flow(flow)[1] == []


def test_mhi_validate_prints_the_problem_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.json"
    bad = {"id": "s", "type": "ms-sql", "config": {"sql": "SELECT * FROM t WHERE a = @a"}}
    path.write_text(json.dumps(_flow(bad)))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert "$.flow_config.steps[0].config" in out.out + out.err
    assert "uses @a: give them in params" in out.out + out.err
    assert "Traceback" not in out.out + out.err


@pytest.mark.parametrize("step_type", GENERIC)
def test_mhi_steps_documents_every_option(
    step_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["steps", step_type]) == 0
    text = capsys.readouterr().out
    for name in config_model(step_type).model_json_schema(by_alias=True)["properties"]:
        assert re.search(rf"^\s+{re.escape(name)}: ", text, re.MULTILINE), name


def _readme_steps() -> list[dict[str, Any]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    steps = []
    for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL):
        if re.search(r'"type": "(' + "|".join(GENERIC) + ')"', block):
            steps.append(json.loads(block))  # every generic step example is a whole step
    return steps


def test_the_readme_examples_are_valid_configs() -> None:
    steps = _readme_steps()
    assert sorted(s["type"] for s in steps) == sorted(GENERIC)
    for step in steps:
        config_model(step["type"]).model_validate(step["config"])
