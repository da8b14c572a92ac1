"""The run summary shows what recovery is doing: stuck steps and the notification's delivery."""

from __future__ import annotations

from mhi.engine.summary import run_summary
from mhi.model.run import RunState
from tests.unit.engine.helpers import at, dispatched, flow, ran, started, state

NOTIFY = {"fail": {"type": ["outbox"], "recipients": "alerts@example.com"}}


def test_a_step_whose_lease_lapsed_shows_as_stuck_before_its_timeout() -> None:
    s = state(flow({"id": "a", "timeout_seconds": 3600}))
    dispatched(s, "a", lease=None)
    started(s, "a", 1, 0, when=0, lease=90)
    assert run_summary(s, now=at(60))["steps"][0]["stuck"] is False
    assert run_summary(s, now=at(91))["steps"][0]["stuck"] is True
    started(s, "a", 1, 0, when=80, lease=90, beat=1)  # a heartbeat renews the lease
    assert run_summary(s, now=at(91))["steps"][0]["stuck"] is False


def _failed_run_with_notification() -> RunState:
    s = state(flow({"id": "a", "retry": {"max_attempts": 1}}, notifications=NOTIFY))
    ran(s, "a", ok=False, retryable=False)
    s.apply("done.json", {"status": "failed", "at": at(2).isoformat()})
    return s


def test_a_notification_that_could_not_be_delivered_shows_in_the_summary() -> None:
    s = _failed_run_with_notification()
    assert run_summary(s)["notification"] is None  # not dispatched yet
    body = {"at": at(3).isoformat(), "deadline": at(603).isoformat(), "turn": 0}
    for attempt in (1, 2, 3):
        s.apply(f"steps/_notify/{attempt}/dispatched.json", body)
        s.apply(
            f"steps/_notify/{attempt}/result.json",
            {
                "status": "failed",
                "error": {"kind": "upstream", "message": "Mailgun: 503", "retryable": True},
                "at": at(4 + attempt).isoformat(),
            },
        )
    note = run_summary(s)["notification"]
    assert note == {
        "status": "failed",
        "attempts": 3,
        "error": {"kind": "upstream", "message": "Mailgun: 503"},
        "recipients": "alerts@example.com",
    }
