"""Concurrency limits in the engine: when an attempt asks for a slot, waits, holds, returns it."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.constants import NOTIFY_STEP
from mhi.engine import decide
from mhi.engine.actions import AcquireSlot, DispatchStep, FinishRun, RecordResult, ReleaseSlot
from mhi.engine.limits import waiting_for_slot
from mhi.engine.summary import run_summary
from mhi.model.limits import deployment_limit, effective_limit
from mhi.model.run import RunState, StepStatus
from tests.unit.engine.helpers import at, dispatched, flow, result, started, state

SLOT = {"key": "qlik:acme", "slot": 0, "tenancy": 1}


def _limited(n: int = 1, **concurrency: Any) -> RunState:
    spec = {"key": "qlik:{{ run.account }}", "limit": 2, **concurrency}
    return state(flow(*[{"id": f"r{i}", "concurrency": spec} for i in range(n)]))


def _dispatch_with_slot(s: RunState, sid: str, attempt: int = 1, when: float = 0) -> None:
    """Fold the dispatch claim the controller writes once it holds a slot."""
    body = {
        "at": at(when).isoformat(),
        "deadline": at(when + 600).isoformat(),
        "turn": 0,
        "slot": SLOT,
    }
    s.apply(f"steps/{sid}/{attempt}/dispatched.json", body)
    started(s, sid, attempt, 0, when, 30 * 86400.0)


def test_a_limited_step_asks_for_a_slot_of_its_rendered_key_first() -> None:
    actions = decide(_limited(), at(0)).actions
    assert actions == [AcquireSlot("r0", 1, "qlik:acme", 2)]


def test_a_granted_slot_goes_into_the_dispatch_and_is_held_once_dispatched() -> None:
    s = _limited()
    s.limits.grant(("r0", 1), SLOT)
    (action,) = decide(s, at(0)).actions
    assert isinstance(action, DispatchStep) and action.slot == SLOT
    _dispatch_with_slot(s, "r0")
    assert s.limits.held == {("r0", 1): SLOT} and not s.limits.granted
    assert decide(s, at(1)).actions == []  # running: nothing owed yet


def test_an_ended_attempt_gives_its_slot_back_before_the_run_finishes() -> None:
    s = _limited()
    _dispatch_with_slot(s, "r0")
    result(s, "r0", 1, when=5)
    assert decide(s, at(6)).actions == [ReleaseSlot("r0", 1, SLOT)]
    s.limits.release(("r0", 1))
    (finish,) = decide(s, at(6)).actions
    assert isinstance(finish, FinishRun)


def test_a_result_folded_before_its_dispatch_claim_still_owes_the_slot() -> None:
    s = _limited()
    result(s, "r0", 1, when=5)
    _dispatch_with_slot(s, "r0")
    assert decide(s, at(6)).actions == [ReleaseSlot("r0", 1, SLOT)]


def test_a_waiting_step_does_nothing_until_its_wait_lapses_or_is_rechecked() -> None:
    s = _limited(2)
    s.limits.wait(("r0", 1), "qlik:acme", at(60))
    decision = decide(s, at(0))
    assert decision.actions == [AcquireSlot("r1", 1, "qlik:acme", 2)]
    assert decision.wake_at == at(60)
    assert AcquireSlot("r0", 1, "qlik:acme", 2) in decide(s, at(60)).actions
    s.limits.recheck("qlik:acme")
    assert AcquireSlot("r0", 1, "qlik:acme", 2) in decide(s, at(1)).actions


def test_waiting_steps_take_no_place_of_max_parallel() -> None:
    spec = {"key": "k", "limit": 1}
    s = state(flow({"id": "a", "concurrency": spec}, {"id": "b"}, max_parallel=1))
    s.limits.wait(("a", 1), "k", at(60))
    (action,) = decide(s, at(0)).actions
    assert isinstance(action, DispatchStep) and action.step_id == "b"


def test_asking_for_a_slot_counts_against_max_parallel() -> None:
    s = _limited(3, limit=5)
    s = state(s.flow.model_copy(update={"max_parallel": 2}))
    assert [type(a) for a in decide(s, at(0)).actions] == [AcquireSlot, AcquireSlot]


def test_a_retry_asks_for_a_slot_again() -> None:
    s = _limited()
    _dispatch_with_slot(s, "r0")
    result(s, "r0", 1, when=5, ok=False)
    s.limits.release(("r0", 1))
    assert s.status(s.steps["r0"]) == StepStatus.RETRYING
    due = s.retry_due(s.steps["r0"], s.steps["r0"].attempts[1])
    assert decide(s, due).actions == [AcquireSlot("r0", 2, "qlik:acme", 2)]


def test_a_cancelled_run_gives_back_the_slots_of_steps_still_running() -> None:
    s = _limited(2)
    _dispatch_with_slot(s, "r0")
    s.limits.grant(("r1", 1), {**SLOT, "slot": 1})
    s.apply("cancel.json", {"at": at(1).isoformat(), "reason": "test"})
    for action in decide(s, at(1)).actions:
        if isinstance(action, FinishRun):
            s.apply("done.json", {"status": action.status.value, "at": at(1).isoformat()})
    releases = decide(s, at(2)).actions
    assert releases == [ReleaseSlot("r0", 1, SLOT), ReleaseSlot("r1", 1, {**SLOT, "slot": 1})]


def test_the_deployment_limit_and_the_flow_limit_both_hold() -> None:
    s = _limited(limit=3)
    s.limits.deployment = (("qlik:*", 1),)
    assert decide(s, at(0)).actions == [AcquireSlot("r0", 1, "qlik:acme", 1)]
    assert effective_limit(None, "qlik:acme", (("qlik:acme", 4), ("qlik:*", 1))) == 4
    assert deployment_limit("pms", (("qlik:*", 1),)) is None


@pytest.mark.parametrize(
    ("concurrency", "params", "kind", "says"),
    [
        ({"key": "pms:{{ run.account }}"}, {}, "no_concurrency_limit", "MHI_CONCURRENCY_LIMITS"),
        ({"key": "pms:{{ params.who }}", "limit": 1}, {"who": "a/b"}, "bad_concurrency_key", "a/b"),
    ],
)
def test_a_key_without_a_limit_or_with_bad_text_fails_the_step_and_says_why(
    concurrency: dict[str, Any], params: dict[str, Any], kind: str, says: str
) -> None:
    f = flow({"id": "r", "concurrency": concurrency}, params={"who": {"default": "x"}})
    (action,) = decide(state(f, params), at(0)).actions
    assert isinstance(action, RecordResult) and action.status == "failed"
    assert action.error is not None and action.error["kind"] == kind
    assert says in action.error["message"]


def test_a_named_limit_of_the_flow_is_used_by_every_step_naming_it() -> None:
    limits = {"reloads": {"key": "qlik-{{ item }}", "limit": 1}}
    f = flow({"id": "r", "for_each": ["x", "y"], "concurrency": "reloads"}, limits=limits)
    s = state(f)
    decide(s, at(0))  # fans out
    s.expand("r", ["x", "y"])
    keys = {a.key for a in decide(s, at(0)).actions if isinstance(a, AcquireSlot)}
    assert keys == {"qlik-x", "qlik-y"}


def test_a_waiting_step_shows_the_key_it_waits_for() -> None:
    s = _limited()
    s.apply("steps/r0/slot-wait-1.json", {"key": "qlik:acme", "limit": 2})
    assert waiting_for_slot(s, s.steps["r0"]) == "qlik:acme"
    assert run_summary(s)["steps"][0]["waiting_for_slot"] == "qlik:acme"
    _dispatch_with_slot(s, "r0")
    assert waiting_for_slot(s, s.steps["r0"]) is None


def test_the_deployment_may_give_every_step_of_a_type_a_key() -> None:
    s = state(flow({"id": "r", "type": "ms-echo"}, {"id": "own", "concurrency": {"key": "x"}}))
    s.limits.by_type = {"ms-echo": "echo:{{ run.account }}"}
    s.limits.deployment = (("echo:*", 3), ("x", 1))
    actions = decide(s, at(0)).actions
    assert actions == [AcquireSlot("r", 1, "echo:acme", 3), AcquireSlot("own", 1, "x", 1)]


def test_a_key_of_the_deployment_without_a_limit_fails_the_step_saying_where_to_set_one() -> None:
    s = state(flow({"id": "r"}))
    s.limits.by_type = {"ms-echo": "echo"}
    (action,) = decide(s, at(0)).actions
    assert isinstance(action, RecordResult) and action.error is not None
    assert "'echo' has no limit" in action.error["message"]


def test_the_flow_notification_never_waits_for_a_slot() -> None:
    notify = {"success": {"type": ["outbox"], "recipients": "a@example.com"}}
    s = state(flow({"id": "r"}, notifications=notify))
    s.limits.by_type = {"ms-notifications": "mail"}
    s.limits.deployment = (("mail", 1),)
    s.apply("done.json", {"status": "succeeded", "at": at(1).isoformat()})
    (action,) = decide(s, at(1)).actions
    assert isinstance(action, DispatchStep) and action.step_id == NOTIFY_STEP
    dispatched(s, NOTIFY_STEP, when=1)
    result(s, NOTIFY_STEP, 1, when=2, ok=False)  # its retry goes through the same gate
    (retry,) = decide(s, at(600)).actions
    assert isinstance(retry, DispatchStep) and (retry.step_id, retry.attempt) == (NOTIFY_STEP, 2)
