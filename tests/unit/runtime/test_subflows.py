"""Sub-flows end to end in the embedded runtime: the child is a run like any other, linked to
its parent both ways; its failure fails the parent's step; cancelling the parent cancels it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mhi.cli.run_view import print_run
from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.ops.control import rerun
from mhi.ops.index import RunFilter, list_runs
from mhi.ops.show import describe
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.subflows import child_run_id
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind

RELEASE = threading.Event()


class _Hold(BaseModel):
    pass


def _hold(ctx: StepContext, config: _Hold) -> dict[str, Any]:
    RELEASE.wait(30)  # held until the test lets go (a child step that is still running)
    return {}


HOLD = StepKind("test-hold", _Hold, _hold)


def _ingest(flow_id: str, load: dict[str, Any], load_type: str = "ms-echo") -> dict[str, Any]:
    return {
        "flow_id": flow_id,
        "account": "acme",
        "params": {"hotel": {"required": True}},
        "flow_config": {
            "steps": [
                {"id": "extract", "type": "ms-echo", "config": {"hotel": "{{ params.hotel }}"}},
                {"id": "load", "type": load_type, "depends_on": ["extract"], "config": load},
            ]
        },
    }


def _report(flow_ref: str, retry: int = 1) -> dict[str, Any]:
    steps = [
        {"id": "prepare", "type": "ms-echo", "config": {"hotel": "h1"}},
        {
            "id": "ingest",
            "type": "ms-sub-flow",
            "depends_on": ["prepare"],
            "retry": {"max_attempts": retry, "initial_backoff_seconds": 0, "jitter": 0},
            "config": {
                "flow_ref": flow_ref,
                "params": {"hotel": "{{ steps.prepare.output.hotel }}"},
                "poll_seconds": 0.05,
            },
        },
        {
            "id": "report",
            "type": "ms-echo",
            "depends_on": ["ingest"],
            "config": {"loaded": "{{ steps.ingest.output.outputs.load.hotel }}"},
        },
    ]
    return {"flow_id": "report", "account": "acme", "flow_config": {"steps": steps}}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[EmbeddedRuntime]:
    flows = tmp_path / "flows"
    flows.mkdir()
    stored = {
        "ingest": _ingest("ingest", {"hotel": "{{ steps.extract.output.hotel }}", "rows": 3}),
        "broken-ingest": _ingest("broken-ingest", {"fail_permanently": True}),
        "slow-ingest": _ingest("slow-ingest", {}, "test-hold"),
    }
    stored["mid"] = {
        "flow_id": "mid",
        "account": "acme",
        "params": {"hotel": {"required": True}},
        "flow_config": {
            "steps": [
                {
                    "id": "ingest",
                    "type": "ms-sub-flow",
                    "config": {
                        "flow_ref": "slow-ingest",
                        "params": {"hotel": "{{ params.hotel }}"},
                        "poll_seconds": 0.05,
                    },
                }
            ]
        },
    }
    for name, flow in stored.items():
        (flows / f"{name}.json").write_text(json.dumps(flow))
    RELEASE.clear()
    services = Services(Settings(home=tmp_path, flows_dir=flows))
    with EmbeddedRuntime(services, extra_kinds={"test-hold": HOLD}) as rt:
        yield rt
        RELEASE.set()


def _child(parent: RunRef, flow_id: str, attempt: int = 1) -> RunRef:
    return RunRef("acme", flow_id, child_run_id(parent, "ingest", attempt))


def test_the_child_is_a_run_of_its_own_linked_both_ways(
    runtime: EmbeddedRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = runtime.start_json(_report("ingest"))
    summary = run_summary(runtime.wait(parent, timeout=30))
    assert summary["status"] == "succeeded"
    child = _child(parent, "ingest")
    output = next(s["output"] for s in summary["steps"] if s["id"] == "ingest")
    assert output == {
        "account": "acme",
        "flow_id": "ingest",
        "run_id": child.run_id,
        "status": "succeeded",
        "outputs": {"load": {"hotel": "h1", "rows": 3}},  # params rendered from `prepare`
    }
    assert next(s for s in summary["steps"] if s["id"] == "report")["output"] == {"loaded": "h1"}

    store = runtime.controller.store
    listed = list_runs(store, RunFilter(flow_id="ingest")).rows
    assert [(r.ref, r.status) for r in listed] == [(child, "succeeded")]
    assert listed[0].requested_by == {"actor": f"run:report/{parent.run_id}", "via": "sub-flow"}
    shown_child = describe(store, child)
    assert shown_child["parent"] == {
        "account": "acme",
        "flow_id": "report",
        "run_id": parent.run_id,
        "step_id": "ingest",
        "attempt": 1,
    }
    assert [s["status"] for s in shown_child["steps"]] == ["succeeded", "succeeded"]
    shown_parent = describe(store, parent)
    line = next(s for s in shown_parent["steps"] if s["id"] == "ingest")
    assert line["sub_flows"] == [{**output, "attempt": 1} for output in [_link(child)]]
    print_run(shown_parent)
    print_run(shown_child)
    printed = capsys.readouterr().out
    assert f"ingest  1        {child.run_id}" in printed
    assert f"sub-flow of run {parent.run_id} of report (acme), step ingest attempt 1" in printed


def _link(ref: RunRef) -> dict[str, Any]:
    return {"account": ref.account, "flow_id": ref.flow_id, "run_id": ref.run_id}


def test_a_failing_child_fails_the_parent_step_and_a_retry_starts_a_new_child(
    runtime: EmbeddedRuntime,
) -> None:
    parent = runtime.start_json(_report("broken-ingest", retry=2))
    summary = run_summary(runtime.wait(parent, timeout=30))
    assert summary["status"] == "failed" and summary["failed_step"] == "ingest"
    second = _child(parent, "broken-ingest", 2)
    assert summary["error"] == (
        f"step 'ingest' failed: sub-flow 'broken-ingest' run {second.run_id} failed: "
        "step 'load' failed: echo: injected failure"
    )
    store = runtime.controller.store
    line = next(s for s in describe(store, parent)["steps"] if s["id"] == "ingest")
    assert [c["run_id"] for c in line["sub_flows"]] == [
        _child(parent, "broken-ingest", 1).run_id,
        second.run_id,
    ]
    for attempt in (1, 2):
        child = describe(store, _child(parent, "broken-ingest", attempt))
        assert child["status"] == "failed" and child["failed_step"] == "load"
    # a child is rerun like any run: from its failure, here with the load's config fixed
    edit = {"load": {"fail_permanently": False}}
    rerun(store, second, {"actor": "test"}, datetime.now(UTC), config=edit)
    runtime.redrive(second)
    assert (runtime.wait(second, timeout=30).done or {})["status"] == "succeeded"
    assert describe(store, second)["generation"] == 1


def test_a_parent_rerun_from_failure_starts_a_new_child(runtime: EmbeddedRuntime) -> None:
    parent = runtime.start_json(_report("broken-ingest"))
    assert (runtime.wait(parent, timeout=30).done or {})["status"] == "failed"
    store = runtime.controller.store
    edit = {"ingest": {"flow_ref": "ingest"}}  # point the step at the flow that works
    rerun(store, parent, {"actor": "test"}, datetime.now(UTC), config=edit)
    runtime.redrive(parent)
    summary = run_summary(runtime.wait(parent, timeout=30))
    assert summary["status"] == "succeeded"
    child = _child(parent, "ingest", 2)  # attempt numbers go on across generations
    line = next(s for s in describe(store, parent)["steps"] if s["id"] == "ingest")
    assert [(c["attempt"], c["flow_id"]) for c in line["sub_flows"]] == [
        (1, "broken-ingest"),
        (2, "ingest"),
    ]
    assert line["output"]["run_id"] == child.run_id
    assert describe(store, child)["parent"]["attempt"] == 2


def _cancel_while_held(
    runtime: EmbeddedRuntime, parent: RunRef, holder: RunRef, reason: str
) -> None:
    """Cancel `parent` while `holder` (a descendant) is inside its held `load` step, wait for
    `holder` to end while the step still holds, then let the step go (each wait bounded:
    about 30 s)."""
    store = runtime.controller.store
    for _ in range(600):  # until the holder's `load` holds
        if store.list(holder.key(keys.step_prefix("load"))):
            break
        time.sleep(0.05)
    runtime.cancel(parent, reason)
    for _ in range(600):  # the holder ends while its step still holds; then it may let go
        if store.read(holder.key(keys.done_key())) is not None:
            break
        time.sleep(0.05)
    RELEASE.set()


def test_cancelling_the_parent_cancels_its_running_child(runtime: EmbeddedRuntime) -> None:
    parent = runtime.start_json(_report("slow-ingest"))
    child = _child(parent, "slow-ingest")
    store = runtime.controller.store
    _cancel_while_held(runtime, parent, child, "no report today")
    assert runtime.wait(parent, timeout=30).done["status"] == "cancelled"  # type: ignore[index]
    done = runtime.wait(child, timeout=30).done or {}
    assert done["status"] == "cancelled"
    assert f"parent run {parent.run_id} (report) ended: cancelled: no report today" in str(
        done["error"]
    )
    audit = describe(store, child)["audit"]
    cancel = next(a for a in audit if a["action"] == "cancel")
    assert cancel["by"] == {"actor": f"run:report/{parent.run_id}", "via": "sub-flow"}


def test_a_for_each_sub_flow_runs_one_child_per_item(runtime: EmbeddedRuntime) -> None:
    flow = _report("ingest")
    step = flow["flow_config"]["steps"][1]
    step["for_each"] = ["h1", "h2"]
    step["config"]["params"] = {"hotel": "{{ item }}"}
    flow["flow_config"]["steps"][2]["config"] = {"loaded": "{{ steps.ingest.output.items }}"}
    parent = runtime.start_json(flow)
    summary = run_summary(runtime.wait(parent, timeout=30))
    assert summary["status"] == "succeeded"
    loaded = next(s for s in summary["steps"] if s["id"] == "report")["output"]["loaded"]
    assert [(o["run_id"], o["outputs"]["load"]["hotel"]) for o in loaded] == [
        (child_run_id(parent, "ingest.0", 1), "h1"),
        (child_run_id(parent, "ingest.1", 1), "h2"),
    ]


def test_cancelling_the_parent_cancels_its_grandchildren_too(runtime: EmbeddedRuntime) -> None:
    parent = runtime.start_json(_report("mid"))
    child = _child(parent, "mid")
    grandchild = RunRef("acme", "slow-ingest", child_run_id(child, "ingest", 1))
    _cancel_while_held(runtime, parent, grandchild, "stop everything")
    for ref in (parent, child, grandchild):
        assert (runtime.wait(ref, timeout=30).done or {})["status"] == "cancelled", ref
    reason = (runtime.wait(grandchild, timeout=30).done or {})["error"]
    assert f"parent run {child.run_id} (mid) ended: cancelled: parent run" in reason


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        ({"account": "a/b"}, "$.parent.account: Value error, 'a/b' is not a safe id"),
        ({"step_id": "x.y"}, "$.parent.step_id: Value error, 'x.y' is not a step id"),
        ({"attempt": 0}, "$.parent.attempt: Input should be greater than or equal to 1"),
        ({"extra": 1}, "$.parent.extra: unknown field"),
    ],
)
def test_a_start_with_a_bad_parent_link_is_refused_saying_where(
    tmp_path: Path, parent: dict[str, Any], expected: str
) -> None:
    from mhi.errors import InvalidMessageError
    from mhi.runtime.start import FolderFlowSource, parse_start

    (tmp_path / "ingest.json").write_text(json.dumps(_ingest("ingest", {})))
    link = {"account": "acme", "flow_id": "report", "run_id": "r1", "step_id": "s", "attempt": 1}
    body = {"flow_ref": "ingest", "params": {"hotel": "h"}, "parent": {**link, **parent}}
    with pytest.raises(InvalidMessageError, match="invalid start message") as refused:
        parse_start(body, FolderFlowSource(tmp_path))
    assert expected in str(refused.value)


def test_a_parent_looks_at_once_when_its_child_ends_not_at_its_next_poll(
    runtime: EmbeddedRuntime,
) -> None:
    """With an hour between polls, the parent still finishes as soon as the child does: the
    child's end writes the step attempt's `nudge.json` and wakes the parent."""
    flow = _report("ingest")
    flow["flow_config"]["steps"][1]["config"]["poll_seconds"] = 3600
    parent = runtime.start_json(flow)
    state = runtime.wait(parent, timeout=60)
    assert state.done is not None and state.done["status"] == "succeeded"
    store = runtime.controller.store
    nudge = json.loads(store.read(parent.key(keys.nudge_key("ingest", 1))) or b"{}")
    assert nudge["child"] == _child(parent, "ingest").run_id
    assert len(state.steps["ingest"].attempts[1].waits) == 1  # one wait, ended by the nudge
