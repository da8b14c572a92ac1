"""`mhi step TYPE` renders its config exactly as a run would, so `ms-echo` tries templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.main import main

UPSTREAM_OUTPUT = {"rows": 3, "hotels": ["City Hotel", "Resort Hotel"], "ok": True}
TEMPLATED = {
    "n": "{{ steps.a.output.rows }}",
    "first": "{{ steps.a.output.hotels[0] }}",
    "hotels": "{{ steps.a.output.hotels }}",
    "status": "{{ steps.a.status }}",
    "day": "{{ params.day }}",
    "limit": "{{ params.limit }}",
    "mixed": "rows={{ steps.a.output.rows }} ok={{ steps.a.output.ok }} on {{ params.day }}",
    "run": "{{ run.id }}/{{ run.flow_id }}/{{ run.account }}",
    "nested": {"list": ["{{ params.day }}", "{{ steps.a.output.rows }}"]},
}
PER_ITEM = {"hotel": "{{ item }}", "label": "{{ item }} in {{ run.id }}"}

FLOW: dict[str, Any] = {
    "flow_id": "tpl",
    "account": "acme",
    "params": {"day": {"required": True}, "limit": {"default": 10}},
    "flow_config": {
        "steps": [
            {"id": "a", "type": "ms-echo", "config": UPSTREAM_OUTPUT},
            {"id": "b", "type": "ms-echo", "depends_on": ["a"], "config": TEMPLATED},
            {
                "id": "c",
                "type": "ms-echo",
                "depends_on": ["a"],
                "for_each": "{{ steps.a.output.hotels }}",
                "config": PER_ITEM,
            },
        ]
    },
}


def _step(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["step", "ms-echo", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else {}, err


def test_step_renders_like_the_run_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(FLOW))
    assert main(["run", str(path), "--run-id", "t-1", "-q", "-p", "day=2017-08-01"]) == 0
    capsys.readouterr()
    assert main(["runs", "show", "t-1", "--json"]) == 0
    steps = {s["id"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    ids = ["--run-id", "t-1", "--flow-id", "tpl", "--account", "acme"]
    upstream = ["--upstream", json.dumps({"a": UPSTREAM_OUTPUT})]

    code, body, _ = _step(
        capsys, "--config", json.dumps(TEMPLATED), *upstream, *ids,
        "--params", '{"limit": 10}', "--param", "day=2017-08-01",
    )  # fmt: skip
    assert code == 0
    assert body["output"] == steps["b"]["output"]
    assert body["output"]["n"] == 3 and body["output"]["mixed"] == "rows=3 ok=true on 2017-08-01"
    assert body["config"] == body["output"]  # the rendered config is shown too

    for index, hotel in enumerate(UPSTREAM_OUTPUT["hotels"]):
        code, body, _ = _step(
            capsys, "--config", json.dumps(PER_ITEM), *upstream, *ids, "--item", json.dumps(hotel)
        )
        assert code == 0
        assert body["output"] == steps[f"c.{index}"]["output"]


def test_param_repeats_and_wins_over_params(capsys: pytest.CaptureFixture[str]) -> None:
    config = json.dumps({"a": "{{ params.a }}", "b": "{{ params.b }}", "c": "{{ params.c }}"})
    code, body, _ = _step(
        capsys, "--config", config, "--params", '{"a": 1, "b": 2}', "-p", "b=[1, 2]", "-p", "c=x"
    )
    assert code == 0
    assert body["output"] == {"a": 1, "b": [1, 2], "c": "x"}


def test_template_errors_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    config = json.dumps({"deep": {"n": "{{ steps.a.output.rowz }}"}})
    code, _, err = _step(capsys, "--config", config, "--upstream", '{"a": {"rows": 3}}')
    assert code == 2
    assert err.startswith("error: template error in --config: config.deep.n: ")
    assert "has no 'rowz' (available: rows)" in err and "Traceback" not in err

    code, body, _ = _step(capsys, "--config", '{"x": "{{ params.day"}', "-p", "day=1")
    assert (code, body["output"]) == (
        0,
        {"x": "{{ params.day"},
    )  # unclosed: plain text, as in a run
    code, _, err = _step(capsys, "--config", '{"x": "{{ params. }}"}')
    assert code == 2 and "config.x: '{{ params. }}'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "[1]"], "--config must be a JSON object, not list"),
        (["--upstream", '{"a": 5}'], "--upstream: the output of step 'a' must be a JSON object"),
        (["--params", '"x"'], "--params must be a JSON object, not str"),
        (["-p", "novalue"], "--param 'novalue': expected NAME=VALUE"),
        (["--run-id", "bad id"], "--run-id 'bad id' is not a valid id"),
        (["--account", "a/b"], "--account 'a/b' is not a valid id"),
    ],
)
def test_bad_inputs_name_the_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["step", "ms-echo", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
