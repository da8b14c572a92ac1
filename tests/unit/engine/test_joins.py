"""Joins (`trigger_rule`) and error handlers (`on_failure`) in the pure engine."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.engine import DispatchStep, FinishRun, SkipStep, decide
from mhi.errors import FlowDefinitionError
from mhi.model.run import RunState, RunStatus
from tests.unit.engine.helpers import at, flow, ran, state


def _skip(s: RunState, sid: str) -> None:
    s.apply(f"steps/{sid}/skipped.json", {"reason": "x", "at": at(2).isoformat()})


def _join(rule: str, **extra: Any) -> RunState:
    return state(
        flow(
            {"id": "a"},
            {"id": "b"},
            {"id": "j", "depends_on": ["a", "b"], "trigger_rule": rule},
            **extra,
        )
    )


def _next(s: RunState) -> list[object]:
    return decide(s, at(3)).actions


def test_all_succeeded_is_the_default_and_skips_on_a_failed_upstream() -> None:
    s = _join("all_succeeded")
    ran(s, "a", ok=False, retryable=False)
    ran(s, "b")
    assert _next(s) == [SkipStep("j", "upstream step 'a' failed")]


@pytest.mark.parametrize("rule", ["all_done", "any_succeeded"])
def test_all_done_and_any_succeeded_run_after_a_failed_upstream(rule: str) -> None:
    s = _join(rule)
    ran(s, "a", ok=False, retryable=False)
    ran(s, "b")
    [action] = _next(s)
    assert isinstance(action, DispatchStep) and action.step_id == "j"


def test_any_succeeded_is_skipped_when_no_upstream_succeeded() -> None:
    s = _join("any_succeeded")
    ran(s, "a", ok=False, retryable=False)
    _skip(s, "b")
    assert _next(s) == [SkipStep("j", "trigger_rule any_succeeded: no upstream step succeeded")]


def test_all_done_runs_even_when_every_upstream_was_skipped_or_failed() -> None:
    s = _join("all_done")
    ran(s, "a", ok=False, retryable=False)
    _skip(s, "b")
    [action] = _next(s)
    assert isinstance(action, DispatchStep) and action.step_id == "j"


def test_none_failed_runs_after_a_skip_but_not_after_a_failure() -> None:
    s = _join("none_failed")
    ran(s, "a")
    _skip(s, "b")
    [action] = _next(s)
    assert isinstance(action, DispatchStep) and action.step_id == "j"
    s = _join("none_failed")
    _skip(s, "b")
    ran(s, "a", ok=False, retryable=False)
    assert _next(s) == [SkipStep("j", "upstream step 'a' failed")]


def test_a_join_waits_for_every_upstream_to_end() -> None:
    s = _join("any_succeeded")
    ran(s, "a")
    assert [a for a in _next(s) if getattr(a, "step_id", "") == "j"] == []


def test_a_run_with_a_failed_required_step_still_fails_under_all_done() -> None:
    s = _join("all_done")
    ran(s, "a", ok=False, retryable=False)
    ran(s, "b")
    ran(s, "j")
    [finish] = _next(s)
    assert isinstance(finish, FinishRun) and finish.status == RunStatus.FAILED
    assert finish.failed_step == "a"


def _handled() -> RunState:
    return state(
        flow(
            {"id": "load", "on_failure": ["undo"]},
            {"id": "report", "depends_on": ["load"]},
            {"id": "undo"},
            {"id": "alert"},
            on_failure=["alert"],
        )
    )


def test_a_step_handler_runs_when_its_step_finally_fails_and_the_run_still_fails() -> None:
    s = _handled()
    assert [getattr(a, "step_id", "") for a in decide(s, at(0)).actions] == ["load"]
    ran(s, "load", ok=False, retryable=False)
    actions = _next(s)
    assert SkipStep("report", "upstream step 'load' failed") in actions
    assert any(isinstance(a, DispatchStep) and a.step_id == "undo" for a in actions)
    _skip(s, "report")
    ran(s, "undo")
    [alert] = _next(s)  # the flow-level handler waits for every other step
    assert isinstance(alert, DispatchStep) and alert.step_id == "alert"
    ran(s, "alert")
    [finish] = _next(s)
    assert isinstance(finish, FinishRun) and finish.status == RunStatus.FAILED
    assert finish.failed_step == "load"


def test_handlers_are_skipped_when_nothing_failed_and_the_run_succeeds() -> None:
    s = _handled()
    ran(s, "load")
    ran(s, "report")
    actions = _next(s)
    assert SkipStep("undo", "error handler: none of 'load' failed") in actions
    _skip(s, "undo")
    assert SkipStep("alert", "error handler: none of 'load', 'report', 'undo' failed") in _next(s)
    _skip(s, "alert")
    [finish] = _next(s)
    assert isinstance(finish, FinishRun) and finish.status == RunStatus.SUCCEEDED


def test_a_handler_does_not_run_while_its_step_is_still_retrying() -> None:
    s = state(
        flow({"id": "load", "on_failure": ["undo"], "retry": {"max_attempts": 2}}, {"id": "undo"})
    )
    ran(s, "load", ok=False)
    assert all(getattr(a, "step_id", "") != "undo" for a in decide(s, at(2)).actions)


@pytest.mark.parametrize(
    ("extra", "path", "needle"),
    [
        ({"trigger_rule": "one_success"}, "$.flow_config.steps[1].trigger_rule", "all_done"),
        ({"on_failure": ["nope"]}, "$.flow_config.steps[1].on_failure[0]", "unknown step 'nope'"),
        ({"on_failure": ["b"]}, "$.flow_config.steps[1].on_failure[0]", "its own failure"),
        ({"on_failure": ["a"]}, "$.flow_config.steps", "dependency cycle (through on_failure)"),
    ],
)
def test_bad_join_and_handler_keys_are_reported_with_their_path(
    extra: dict[str, Any], path: str, needle: str
) -> None:
    with pytest.raises(FlowDefinitionError) as e:
        flow({"id": "a"}, {"id": "b", "depends_on": ["a"], **extra})
    assert any(p == path and needle in m for p, m in e.value.problems), e.value.problems


def test_a_flow_level_handler_must_name_a_step() -> None:
    with pytest.raises(FlowDefinitionError) as e:
        flow({"id": "a"}, on_failure=["ghost"])
    assert ("$.on_failure[0]", "unknown step 'ghost' (on_failure names steps)") in e.value.problems


def test_a_rerun_from_failure_also_reruns_what_ran_on_the_failure() -> None:
    from mhi.engine.rerun import plan_rerun

    s = state(
        flow(
            {"id": "load", "on_failure": ["undo"]},
            {"id": "report", "depends_on": ["load"], "trigger_rule": "all_done"},
            {"id": "after", "depends_on": ["report"]},
            {"id": "undo"},
            {"id": "other"},
        )
    )
    ran(s, "load", ok=False, retryable=False)
    for sid in ("report", "after", "undo", "other"):
        ran(s, sid)
    s.apply("done.json", {"status": "failed", "at": at(9).isoformat()})
    assert plan_rerun(s).top_level == ["load", "report", "after", "undo"]


def test_a_rerun_from_failure_reruns_what_ran_after_an_optional_failure() -> None:
    """`all_succeeded` runs after an optional upstream failed; once the rerun replaces that
    failure (a success, or a skip of its handler), what ran on it runs again too."""
    from mhi.engine.rerun import plan_rerun

    s = state(
        flow(
            {"id": "load", "optional": True},
            {"id": "report", "depends_on": ["load"]},
            {"id": "after", "depends_on": ["report"]},
            {"id": "other"},
        )
    )
    ran(s, "load", ok=False, retryable=False)
    for sid in ("report", "after", "other"):
        ran(s, sid)
    s.apply("done.json", {"status": "succeeded", "at": at(9).isoformat()})
    assert plan_rerun(s).top_level == ["load", "report", "after"]
