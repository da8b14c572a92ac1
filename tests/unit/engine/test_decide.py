"""`decide(state, now)`: (state, time) in, actions out. No mocks, no I/O."""

from __future__ import annotations

from datetime import timedelta

from mhi.engine import (
    CloseRun,
    DispatchStep,
    ExpandStep,
    FinishRun,
    RecordResult,
    SkipStep,
    decide,
)
from mhi.model.run import RunStatus, StepStatus, jitter_fraction
from tests.unit.engine.helpers import T0, at, dispatched, flow, ran, result, state


def _kinds(actions: list[object]) -> list[tuple[str, str]]:
    return [(type(a).__name__, getattr(a, "step_id", "")) for a in actions]


def test_only_roots_are_dispatched_first() -> None:
    s = state(flow({"id": "a"}, {"id": "b", "depends_on": ["a"]}, {"id": "c"}))
    d = decide(s, T0)
    assert _kinds(d.actions) == [("DispatchStep", "a"), ("DispatchStep", "c")]
    first = d.actions[0]
    assert (
        isinstance(first, DispatchStep)
        and first.attempt == 1
        and first.deadline == T0 + timedelta(seconds=600)
    )


def test_dependent_gets_rendered_config_and_upstream_outputs() -> None:
    f = flow(
        {"id": "a"},
        {
            "id": "b",
            "depends_on": ["a"],
            "config": {"n": "{{ steps.a.output.rows }}", "d": "{{ params.day }}"},
        },
        params={"day": {"default": "x"}},
    )
    s = state(f, {"day": "2024-05-01"})
    ran(s, "a", output={"rows": 7})
    [action] = decide(s, at(2)).actions
    assert isinstance(action, DispatchStep)
    assert action.config == {"n": 7, "d": "2024-05-01"}
    assert action.upstream == {"a": {"rows": 7}}


def test_nothing_is_dispatched_twice_once_claimed() -> None:
    s = state(flow({"id": "a"}))
    dispatched(s, "a")
    assert decide(s, at(1)).actions == []


def test_permanent_failure_skips_dependents_and_fails_the_run() -> None:
    s = state(flow({"id": "a"}, {"id": "b", "depends_on": ["a"]}, {"id": "c", "depends_on": ["b"]}))
    ran(s, "a", ok=False, retryable=False)
    assert decide(s, at(2)).actions == [SkipStep("b", "upstream step 'a' failed")]
    s.apply("steps/b/skipped.json", {"reason": "upstream step 'a' failed", "at": at(2).isoformat()})
    assert decide(s, at(2)).actions == [SkipStep("c", "upstream step 'b' was skipped")]
    s.apply("steps/c/skipped.json", {"reason": "x", "at": at(2).isoformat()})
    [finish] = decide(s, at(2)).actions
    assert isinstance(finish, FinishRun) and finish.status == RunStatus.FAILED
    assert finish.failed_step == "a" and "boom" in (finish.error or "")


def test_retryable_failure_waits_for_backoff_then_dispatches_next_attempt() -> None:
    s = state(
        flow(
            {"id": "a", "retry": {"max_attempts": 3, "initial_backoff_seconds": 10, "jitter": 0.2}}
        )
    )
    ran(s, "a", ok=False, when=100)
    assert s.status(s.steps["a"]) == StepStatus.RETRYING
    d = decide(s, at(100))
    assert d.actions == []
    due = at(100) + timedelta(seconds=10 * (1 + 0.2 * jitter_fraction("run-1", "a", 1)))
    assert d.wake_at == due
    [action] = decide(s, due).actions
    assert isinstance(action, DispatchStep) and action.attempt == 2


def test_backoff_grows_exponentially_and_is_capped() -> None:
    f = flow(
        {
            "id": "a",
            "retry": {
                "max_attempts": 10,
                "initial_backoff_seconds": 1,
                "multiplier": 3,
                "max_backoff_seconds": 20,
                "jitter": 0,
            },
        }
    )
    policy = f.steps[0].retry
    assert [policy.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 3, 9, 20]


def test_retries_never_exceed_max_attempts() -> None:
    s = state(flow({"id": "a", "retry": {"max_attempts": 2, "initial_backoff_seconds": 0}}))
    ran(s, "a", 1, ok=False)
    ran(s, "a", 2, ok=False)
    assert s.status(s.steps["a"]) == StepStatus.FAILED
    [finish] = decide(s, at(1000)).actions
    assert isinstance(finish, FinishRun) and finish.status == RunStatus.FAILED


def test_retry_on_limits_which_errors_are_retried() -> None:
    s = state(flow({"id": "a", "retry": {"max_attempts": 5, "retry_on": ["timeout"]}}))
    ran(s, "a", ok=False, kind="upstream_unavailable")
    assert s.status(s.steps["a"]) == StepStatus.FAILED


def test_attempt_past_its_deadline_is_timed_out_as_retryable() -> None:
    s = state(flow({"id": "a", "timeout_seconds": 30}))
    dispatched(s, "a", timeout=30)
    assert decide(s, at(29)).wake_at == at(30)
    [action] = decide(s, at(31)).actions
    assert isinstance(action, RecordResult) and action.error is not None
    assert action.error["kind"] == "timeout" and action.error["retryable"] is True


def test_max_parallel_limits_in_flight_steps() -> None:
    s = state(flow(*({"id": f"s{i}"} for i in range(5)), max_parallel=2))
    assert _kinds(decide(s, T0).actions) == [("DispatchStep", "s0"), ("DispatchStep", "s1")]
    dispatched(s, "s0")
    dispatched(s, "s1")
    assert decide(s, T0).actions == []
    result(s, "s0")
    assert _kinds(decide(s, at(2)).actions) == [("DispatchStep", "s2")]


def test_cancel_skips_pending_steps_and_finishes_cancelled() -> None:
    s = state(flow({"id": "a"}, {"id": "b", "depends_on": ["a"]}))
    dispatched(s, "a")
    s.apply("cancel.json", {"at": at(5).isoformat(), "reason": "wrong day"})
    actions = decide(s, at(5)).actions
    assert actions[0] == SkipStep("b", "cancelled: wrong day")
    assert isinstance(actions[1], FinishRun) and actions[1].status == RunStatus.CANCELLED


def test_flow_timeout_finishes_timed_out() -> None:
    s = state(flow({"id": "a"}, timeout_seconds=60))
    dispatched(s, "a")
    assert decide(s, at(59)).wake_at == at(59 + 1)
    actions = decide(s, at(60)).actions
    assert isinstance(actions[-1], FinishRun) and actions[-1].status == RunStatus.TIMED_OUT


def test_optional_failure_does_not_skip_dependents_or_fail_the_run() -> None:
    s = state(flow({"id": "a", "optional": True}, {"id": "b", "depends_on": ["a"]}))
    ran(s, "a", ok=False, retryable=False)
    [action] = decide(s, at(2)).actions
    assert isinstance(action, DispatchStep) and action.step_id == "b"
    ran(s, "b")
    [finish] = decide(s, at(3)).actions
    assert finish == FinishRun(RunStatus.SUCCEEDED)


def test_false_condition_skips_and_the_skip_propagates() -> None:
    s = state(
        flow(
            {"id": "a"},
            {"id": "b", "depends_on": ["a"], "when": "steps.a.output.rows > 0"},
            {"id": "c", "depends_on": ["b"]},
        )
    )
    ran(s, "a", output={"rows": 0})
    assert decide(s, at(2)).actions == [
        SkipStep("b", "condition is false: steps.a.output.rows > 0")
    ]


def test_condition_that_cannot_be_evaluated_fails_the_step_clearly() -> None:
    s = state(
        flow({"id": "a"}, {"id": "b", "depends_on": ["a"], "when": "steps.a.output.rows > 0"})
    )
    ran(s, "a", output={"count": 3})
    [action] = decide(s, at(2)).actions
    assert isinstance(action, RecordResult) and action.error is not None
    assert action.error["kind"] == "bad_condition" and "available: count" in action.error["message"]


def test_bad_reference_at_run_time_fails_without_dispatch() -> None:
    s = state(
        flow(
            {"id": "a"},
            {"id": "b", "depends_on": ["a"], "config": {"x": "{{ steps.a.output.rows }}"}},
        )
    )
    ran(s, "a", output={})
    [action] = decide(s, at(2)).actions
    assert isinstance(action, RecordResult) and action.error is not None
    assert action.error == {
        "kind": "bad_reference",
        "retryable": False,
        "message": action.error["message"],
    }
    assert "config.x" in action.error["message"]


def test_for_each_fans_out_and_aggregates() -> None:
    s = state(
        flow(
            {"id": "a"},
            {
                "id": "b",
                "depends_on": ["a"],
                "for_each": "{{ steps.a.output.hotels }}",
                "config": {"hotel": "{{ item }}"},
            },
            max_parallel=10,
        )
    )
    ran(s, "a", output={"hotels": ["h1", "h2"]})
    assert decide(s, at(2)).actions == [ExpandStep("b", ["h1", "h2"])]
    s.expand("b", ["h1", "h2"])
    actions = decide(s, at(2)).actions
    assert [(a.step_id, a.config, a.item) for a in actions if isinstance(a, DispatchStep)] == [
        ("b.0", {"hotel": "h1"}, "h1"),
        ("b.1", {"hotel": "h2"}, "h2"),
    ]
    dispatched(s, "b.1")
    ran(s, "b.0", output={"n": 1})
    assert decide(s, at(3)).actions == []
    result(s, "b.1", output={"n": 2})
    [agg] = decide(s, at(3)).actions
    assert agg == RecordResult("b", 1, "succeeded", output={"items": [{"n": 1}, {"n": 2}]})


def test_for_each_over_something_else_than_a_list_fails_clearly() -> None:
    s = state(
        flow({"id": "a"}, {"id": "b", "depends_on": ["a"], "for_each": "{{ steps.a.output.n }}"})
    )
    ran(s, "a", output={"n": 3})
    [action] = decide(s, at(2)).actions
    assert isinstance(action, RecordResult) and action.error is not None
    assert "must give a list, got int" in action.error["message"]


def test_waiting_turn_is_polled_with_its_continuation() -> None:
    s = state(flow({"id": "a", "timeout_seconds": 10}))
    dispatched(s, "a", timeout=10)
    s.apply(
        "steps/a/1/wait-0.json",
        {"at": at(1).isoformat(), "poll_at": at(31).isoformat(), "continuation": {"reload": "r9"}},
    )
    d = decide(s, at(20))  # past the turn's deadline: a waiting turn is not timed out
    assert d.actions == [] and d.wake_at == at(31)
    [poll] = decide(s, at(31)).actions
    assert isinstance(poll, DispatchStep)
    assert (poll.attempt, poll.turn, poll.continuation) == (1, 1, {"reload": "r9"})


def test_duplicate_and_reordered_objects_change_nothing() -> None:
    f = flow({"id": "a"}, {"id": "b", "depends_on": ["a"]})
    one, two = state(f), state(f)
    ran(one, "a", output={"x": 1})
    result(two, "a", output={"x": 1})  # result before dispatch, then everything twice
    dispatched(two, "a")
    result(two, "a", output={"x": 2})
    dispatched(two, "a")
    assert decide(one, at(2)).actions == decide(two, at(2)).actions
    assert two.output("a") == {"x": 1}


def test_decide_is_repeatable() -> None:
    s = state(flow(*({"id": f"s{i}"} for i in range(4)), max_parallel=3))
    assert decide(s, T0) == decide(s, T0)


def test_a_finished_run_without_notification_only_leaves_the_active_index() -> None:
    s = state(flow({"id": "a"}))
    s.apply("done.json", {"status": "cancelled", "at": at(1).isoformat()})
    assert decide(s, at(1)).actions == [CloseRun()]
    s.closed = True
    assert decide(s, at(1)).actions == []


def test_jitter_is_deterministic_and_bounded() -> None:
    values = [jitter_fraction("r", "s", n) for n in range(1, 200)]
    assert values == [jitter_fraction("r", "s", n) for n in range(1, 200)]
    assert all(-1 <= v < 1 for v in values) and min(values) < -0.5 and max(values) > 0.5


def test_a_due_retry_waiting_for_a_slot_does_not_block_other_timers() -> None:
    s = state(
        flow(
            {"id": "a", "retry": {"max_attempts": 2, "initial_backoff_seconds": 1, "jitter": 0}},
            {"id": "b", "timeout_seconds": 60},
            max_parallel=1,
        )
    )
    ran(s, "a", ok=False, when=0)
    dispatched(s, "b", when=0, timeout=60)
    [timeout] = decide(s, at(61)).actions  # the retry of a is due but b holds the only slot
    assert isinstance(timeout, RecordResult) and timeout.step_id == "b"
    result(s, "b", ok=False, when=61, retryable=False)
    [retry] = decide(s, at(61)).actions
    assert isinstance(retry, DispatchStep) and (retry.step_id, retry.attempt) == ("a", 2)


def test_a_nudged_wait_polls_at_once_and_only_once_early() -> None:
    """`nudge.json` (what the attempt waits for happened) makes its waiting turn poll now; a
    turn that still waits after that polls at its own pace."""
    from mhi.model import keys

    s = state(flow({"id": "job"}))
    dispatched(s, "job", 1)
    s.apply(keys.wait_key("job", 1, 0), {"at": at(1).isoformat(), "poll_at": at(601).isoformat()})
    assert not decide(s, at(2)).actions  # waits for its poll, ten minutes away
    s.apply(keys.nudge_key("job", 1), {"at": at(3).isoformat(), "child": "c"})
    (poll,) = decide(s, at(3)).actions
    assert isinstance(poll, DispatchStep) and (poll.step_id, poll.turn) == ("job", 1)
    s.apply(
        keys.dispatch_key("job", 1, 1),
        {"at": at(3).isoformat(), "deadline": at(600).isoformat(), "turn": 1},
    )
    s.apply(keys.wait_key("job", 1, 1), {"at": at(4).isoformat(), "poll_at": at(604).isoformat()})
    s.apply(
        keys.dispatch_key("job", 1, 2),
        {"at": at(5).isoformat(), "deadline": at(600).isoformat(), "turn": 2},
    )
    s.apply(keys.wait_key("job", 1, 2), {"at": at(6).isoformat(), "poll_at": at(606).isoformat()})
    assert not decide(s, at(7)).actions  # the third wait polls at 606 s, not at once
