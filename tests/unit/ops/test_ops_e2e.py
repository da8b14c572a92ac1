"""Operating runs end to end on the embedded runtime, through the `mhi` commands.

A run fails at a middle step and `mhi runs rerun` finishes it without running the succeeded
steps again (their attempt count stays 1); `--from` re-runs a step and what follows; `--set`
replays a dead-lettered step with an edited config, recorded; pause holds back new dispatches
until resume; a 3-day backfill run twice starts 3 runs, not 6; every action has its audit entry.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.main import main
from mhi.config import Settings
from mhi.model import keys
from mhi.ops.control import load_state
from mhi.ops.wiring import build
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind

USER = {"actor": "tester@example.com", "via": "test"}


def _flow(middle: dict[str, Any], flow_id: str = "nightly") -> dict[str, Any]:
    return {
        "flow_id": flow_id,
        "account": "acme",
        "flow_config": {
            "steps": [
                {"id": "extract", "type": "ms-echo", "config": {"rows": 3}},
                {
                    "id": "model",
                    "type": "ms-echo",
                    "depends_on": ["extract"],
                    "retry": {"max_attempts": 1},
                    "config": {"rows": "{{ steps.extract.output.rows }}", **middle},
                },
                {
                    "id": "report",
                    "type": "ms-echo",
                    "depends_on": ["model"],
                    "config": {"rows": "{{ steps.model.output.rows }}"},
                },
            ]
        },
    }


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    monkeypatch.setenv("MHI_FLOWS_DIR", str(folder))
    return folder


def _run_fails(flow: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    assert main(["run", str(path), "--run-id", "r1", "-q"]) == 1
    capsys.readouterr()


def _show(capsys: pytest.CaptureFixture[str], name: str = "r1") -> dict[str, Any]:
    capsys.readouterr()
    assert main(["runs", "show", name, "--json"]) == 0
    detail: dict[str, Any] = json.loads(capsys.readouterr().out)
    return detail


def _steps(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in detail["steps"]}


def test_rerun_from_failure_keeps_what_succeeded(
    tmp_path: Path, flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the middle step fails once (its source is down), then works: a rerun finishes the run
    _run_fails(_flow({"fail_until_attempt": 2}), tmp_path, capsys)
    before = _steps(_show(capsys))
    assert before["model"]["status"] == "failed" and before["report"]["status"] == "skipped"

    assert main(["runs", "rerun", "r1", "--reason", "source fixed"]) == 0
    out = capsys.readouterr().out
    assert "generation 1 re-runs model, report" in out and "SUCCEEDED" in out

    detail = _show(capsys)
    steps = _steps(detail)
    assert detail["status"] == "succeeded" and detail["generation"] == 1
    assert steps["extract"]["attempts"] == 1  # not executed again
    assert [a["attempt"] for a in steps["model"]["attempt_history"]] == [1, 2]
    assert [a["generation"] for a in steps["model"]["attempt_history"]] == [0, 1]
    assert steps["model"]["attempt_history"][0]["status"] == "failed"  # history stays visible
    assert steps["report"]["output"] == {"rows": 3}  # fed by the kept extract output
    actions = [a["action"] for a in detail["audit"]]
    assert actions == ["start", "rerun"]
    assert detail["audit"][1]["by"]["via"] == "cli" and detail["audit"][1]["by"]["actor"]
    assert detail["reruns"][0]["reason"] == "source fixed"


def test_rerun_from_a_step_reruns_it_and_downstream(
    tmp_path: Path, flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(_flow({})))
    assert main(["run", str(path), "--run-id", "r1", "-q"]) == 0
    assert main(["runs", "rerun", "r1"]) == 2  # nothing failed: nothing to rerun from failure
    assert "every step succeeded" in capsys.readouterr().err
    assert main(["runs", "rerun", "nightly/r1", "--from", "model"]) == 0
    steps = _steps(_show(capsys))
    assert steps["extract"]["attempts"] == 1
    assert steps["model"]["attempts"] == 2 and steps["report"]["attempts"] == 2
    assert main(["runs", "rerun", "r1", "--from", "nope"]) == 2
    assert "has no step 'nope'" in capsys.readouterr().err


def test_replay_a_dead_letter_with_an_edited_config(
    tmp_path: Path, flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_fails(_flow({"fail_permanently": True, "fail_message": "bad mapping"}), tmp_path, capsys)
    dead = _steps(_show(capsys))["model"]["dead_letter"]
    assert dead["error"]["message"] == "bad mapping" and dead["attempt"] == 1
    assert dead["message"]["config"]["rows"] == 3  # the rendered message it was given

    assert main(["runs", "rerun", "r1", "--set", "model.config.fail_permanently=false"]) == 0
    detail = _show(capsys)
    assert detail["status"] == "succeeded"
    assert detail["reruns"][0]["edits"] == {"config": {"model": {"fail_permanently": False}}}
    assert detail["audit"][-1]["detail"]["edits"]["config"]["model"] == {"fail_permanently": False}
    assert main(["runs", "rerun", "r1", "--set", "extract.config.x=1"]) == 2
    assert "is not re-run" not in capsys.readouterr().err  # every step succeeded first


def test_a_rerun_edit_of_a_step_that_is_not_rerun_is_refused(
    tmp_path: Path, flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_fails(_flow({"fail_permanently": True}), tmp_path, capsys)
    assert main(["runs", "rerun", "r1", "--set", "extract.config.rows=4"]) == 2
    assert "step 'extract' is not re-run" in capsys.readouterr().err
    assert main(["runs", "rerun", "r1", "--set", "model.rows=4"]) == 2
    assert "expected STEP.config.PATH=VALUE" in capsys.readouterr().err
    assert main(["runs", "rerun", "r1", "-p", "nope=1"]) == 2
    assert "unknown param 'nope'" in capsys.readouterr().err


class _Gate:
    """A step kind that holds until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def kind(self) -> StepKind[Any]:
        from mhi.steps.builtin import EchoConfig

        def hold(ctx: StepContext, config: EchoConfig) -> dict[str, Any]:
            self.entered.set()
            assert self.open.wait(30)
            return {"held": True}

        return StepKind("ms-gate", EchoConfig, hold, "hold until opened")


def test_pause_holds_back_new_dispatches_until_resume(flows: Path) -> None:
    gate = _Gate()
    flow = {
        "flow_id": "paused",
        "account": "acme",
        "flow_config": {
            "steps": [
                {"id": "first", "type": "ms-gate"},
                {"id": "second", "type": "ms-echo", "depends_on": ["first"]},
            ]
        },
    }
    (flows / "paused.json").write_text(json.dumps(flow))
    services = Services(Settings.from_env())
    with EmbeddedRuntime(services, extra_kinds={"ms-gate": gate.kind()}) as runtime:
        ops = build(services, runtime=runtime)
        ref = ops.start("paused", {}, USER, "p1")
        assert gate.entered.wait(30)
        assert ops.pause(ref, USER) is True and ops.pause(ref, USER) is False
        gate.open.set()  # the running step finishes while paused
        assert runtime.wait_idle(30)
        state = load_state(services.run_store, ref)
        assert state.status(state.steps["first"]).value == "succeeded"
        assert state.status(state.steps["second"]).value == "pending"  # not dispatched
        assert state.done is None and ops.show(ref)["paused"] is True
        assert ops.resume(ref, USER) is True
        done = runtime.wait(ref, timeout=30)
    assert done.done is not None and done.done["status"] == "succeeded"
    audit = [(a["action"], a["by"]["actor"]) for a in ops.show(ref)["audit"]]
    assert audit == [("start", USER["actor"]), ("pause", USER["actor"]), ("resume", USER["actor"])]
    assert ops.resume(ref, USER) is False


def test_backfill_twice_starts_each_slot_once(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = {"id": "load", "type": "ms-echo", "config": {"day": "{{ run.logical_date }}"}}
    flow = {"flow_id": "daily", "account": "acme", "flow_config": {"steps": [step]}}
    (flows / "daily.json").write_text(json.dumps(flow))
    args = ["backfill", "daily", "--start", "2025-01-01", "--end", "2025-01-03", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert [s["run_id"] for s in first["started"]] == [
        "scheduled-20250101T0000Z",
        "scheduled-20250102T0000Z",
        "scheduled-20250103T0000Z",
    ]
    assert set(first["statuses"].values()) == {"succeeded"}
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["started"] == [] and len(second["existing"]) == 3

    store = Services(Settings.from_env()).run_store
    runs = {k.split("/")[3] for k in store.list("runs/acme/daily/") if k.endswith(keys.FLOW)}
    assert len(runs) == 3
    detail = _show(capsys, "scheduled-20250102T0000Z")
    assert _steps(detail)["load"]["output"] == {"day": "2025-01-02"}
    assert detail["audit"][0]["by"]["via"] == "cli:backfill"
    capsys.readouterr()
    assert main(["runs", "list", "--flow", "daily", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [r["run_id"] for r in listed] == [
        "scheduled-20250103T0000Z",
        "scheduled-20250102T0000Z",
        "scheduled-20250101T0000Z",
    ]
    assert {r["requested_by"]["via"] for r in listed} == {"cli:backfill"}


def test_cancel_records_who_asked(flows: Path) -> None:
    gate = _Gate()
    steps = [{"id": "a", "type": "ms-gate"}]
    flow = {"flow_id": "c", "account": "acme", "flow_config": {"steps": steps}}
    (flows / "c.json").write_text(json.dumps(flow))
    services = Services(Settings.from_env())
    with EmbeddedRuntime(services, extra_kinds={"ms-gate": gate.kind()}) as runtime:
        ops = build(services, runtime=runtime)
        ref = ops.start("c", {}, USER, "c1")
        assert gate.entered.wait(30)
        assert ops.cancel(ref, {"actor": "boss@example.com", "via": "api"}, "wrong day")
        state = runtime.wait(ref, timeout=30)
        gate.open.set()
    assert state.done is not None and state.done["status"] == "cancelled"
    trail = ops.show(ref)["audit"]
    assert trail[-1] == {
        "action": "cancel",
        "at": trail[-1]["at"],
        "by": {"actor": "boss@example.com", "via": "api"},
        "detail": {"reason": "wrong day"},
    }
