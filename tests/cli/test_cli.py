"""The `mhi` command line, driven as a user would (in-process, through `main`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.main import main


def _write(path: Path, flow: dict[str, Any]) -> str:
    path.write_text(json.dumps(flow))
    return str(path)


FLOW = {
    "flow_id": "cli",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "a", "type": "ms-echo", "config": {"rows": 3}},
            {
                "id": "b",
                "type": "ms-echo",
                "depends_on": ["a"],
                "config": {"n": "{{ steps.a.output.rows }}"},
            },
        ]
    },
}


def test_run_shows_progress_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", _write(tmp_path / "f.json", FLOW), "--run-id", "cli-1"]) == 0
    out = capsys.readouterr().out
    assert "run cli-1 of cli (acme) started" in out
    assert "✓ b" in out and "n=3" in out
    assert "run cli-1 of cli: SUCCEEDED" in out

    assert main(["runs", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:4] for row in rows] == [["cli-1", "cli", "acme", "succeeded"]]
    assert main(["runs", "show", "cli-1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["status"] for s in shown["steps"]] == ["succeeded", "succeeded"]
    assert shown["steps"][1]["output"] == {"n": 3}


def test_failed_run_exits_1_with_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = {
        **FLOW,
        "flow_config": {
            "steps": [
                {
                    "id": "a",
                    "type": "ms-echo",
                    "config": {"fail_permanently": True, "fail_message": "no ledger"},
                }
            ]
        },
    }
    assert main(["run", _write(tmp_path / "f.json", flow), "-q"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "no ledger" in out


def test_run_params(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = {
        **FLOW,
        "params": {"day": {"required": True}},
        "flow_config": {
            "steps": [{"id": "a", "type": "ms-echo", "config": {"day": "{{ params.day }}"}}]
        },
    }
    path = _write(tmp_path / "f.json", flow)
    assert main(["run", path, "-q"]) == 2
    assert "$.params.day: required param not given" in capsys.readouterr().err
    assert main(["run", path, "-q", "-p", "day=2017-08-01", "--run-id", "p1"]) == 0
    capsys.readouterr()
    main(["runs", "show", "p1", "--json"])
    assert json.loads(capsys.readouterr().out)["steps"][0]["output"] == {"day": "2017-08-01"}


def test_validate_reports_every_problem_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "good.json", FLOW)
    bad = _write(
        tmp_path / "bad.json",
        {
            **FLOW,
            "flow_config": {
                "steps": [
                    {"id": "a", "type": "ms-echo", "depends_on": ["b"]},
                    {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
                    {"id": "c", "type": "ms-echo", "config": {"sleep_seconds": "long"}},
                ]
            },
        },
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"flow_id": ')
    assert main(["validate", good, bad, str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert "$.flow_config.steps: dependency cycle: " in out
    assert "not valid JSON" in out and "line 1" in out


def test_validate_checks_step_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(
        tmp_path / "bad.json",
        {
            **FLOW,
            "flow_config": {
                "steps": [
                    {"id": "a", "type": "ms-echo", "config": {"sleep_seconds": "long"}},
                    {
                        "id": "b",
                        "type": "ms-echo",
                        "depends_on": ["a"],
                        "config": {"sleep_seconds": "{{ steps.a.output.s }}"},
                    },
                ]
            },
        },
    )
    assert main(["validate", bad]) == 1
    out = capsys.readouterr().out
    assert "$.flow_config.steps[0].config.sleep_seconds:" in out
    assert "steps[1]" not in out  # a templated value is only known at run time


def test_step_runs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["step", "ms-echo", "--config", '{"hello": "world"}']) == 0
    assert json.loads(capsys.readouterr().out)["output"] == {"hello": "world"}
    assert main(["step", "ms-echo", "--config", '{"fail_permanently": true}']) == 1
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "step_failed"
    assert main(["step", "ms-nope"]) == 2
    assert "unknown step type 'ms-nope'" in capsys.readouterr().err
    assert main(["step", "ms-echo", "--config", "{bad"]) == 2
    assert "--config is not valid JSON" in capsys.readouterr().err


def test_steps_lists_types_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["steps", "ms-echo"]) == 0
    out = capsys.readouterr().out
    assert "fail_until_attempt" in out and "sleep_seconds" in out
    assert main(["steps"]) == 0
    out = capsys.readouterr().out
    for step_type in ("ms-extractor-avalon", "ms-kpi-engine", "ms-notifications", "ms-echo"):
        assert step_type in out


def test_cancel_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mhi.config import Settings
    from mhi.runtime.controller import Controller
    from mhi.runtime.start import parse_start, start_run
    from mhi.services import Services
    from tests.fakes.bus import RecordingBus

    services = Services(Settings.from_env())
    start_run(  # nobody runs the recorded step: the run stays active until cancelled
        Controller(services.run_store, RecordingBus(), services.clock.now),
        parse_start({**FLOW, "run_id": "c1"}, None),
    )
    assert main(["runs", "cancel", "c1", "--reason", "wrong day"]) == 0
    assert "run c1 of cli: cancelled" in capsys.readouterr().out
    assert main(["runs", "show", "c1"]) == 0
    out = capsys.readouterr().out
    assert "CANCELLED" in out and "cancelled: wrong day" in out
    assert main(["runs", "cancel", "nope"]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_validate_checks_flow_level_notifications(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(
        tmp_path / "bad.json",
        {**FLOW, "notifications": {"success": {"type": ["pigeon"], "recipients": "a@example.com"}}},
    )
    assert main(["validate", bad]) == 1
    assert "$.notifications.success" in capsys.readouterr().out
