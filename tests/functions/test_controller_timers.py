"""Precise timers through functions/controller: a retry due in 10 s is dispatched at 10 s.

The controller function runs under functions-framework's test client with a recording bus, the
fake timers and a fake clock. No sweep is ever sent: the only thing that can dispatch attempt 2
is the timer the controller set when attempt 1 failed, fired when the clock reaches it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from mhi.adapters.gcp.cloud_tasks_timers import TimerScheduleError
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.errors import UpstreamUnavailableError
from mhi.model.keys import RunRef
from mhi.model.messages import StepMessage
from mhi.runtime import entry
from mhi.services import Services
from tests.fakes.bus import Published, RecordingBus
from tests.fakes.timers import START, FakeClock, FakeTimers, wake_published
from tests.functions.conftest import CE_HEADERS, app_client, as_event

REF = RunRef("acme", "timed", "timed-run-1")
FLOW = {
    "flow_id": REF.flow_id,
    "account": REF.account,
    "run_id": REF.run_id,
    "flow_config": {
        "steps": [
            {
                "id": "a",
                "type": "ms-echo",
                "config": {"fail_until_attempt": 2},  # attempt 1 fails (retryable)
                "retry": {"initial_backoff_seconds": 10, "jitter": 0},
            }
        ]
    },
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timers() -> FakeTimers:
    return FakeTimers()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture(autouse=True)
def _services(bus: RecordingBus, timers: FakeTimers, clock: FakeClock) -> Iterator[None]:
    store = MemoryRunStore()
    entry.install(
        Services(Settings.from_env(), bus=bus, run_store=store, timers=timers, clock=clock)
    )
    yield
    entry.reset()


def _post(function: str, message: Published, message_id: str) -> None:
    event = as_event(message.data, message.attributes, message_id)
    response = app_client(function).post("/", json=event, headers=CE_HEADERS)
    assert response.status_code == 200


def _steps(published: list[Published]) -> list[StepMessage]:
    from mhi.model.messages import parse_step

    return [parse_step(m.data) for m in published if m.topic == "ms-echo"]


def _fire(
    timers: FakeTimers, clock: FakeClock, now: datetime, bus: RecordingBus
) -> list[StepMessage]:
    """Move the clock to `now`, route every wake then due to the controller; return the steps
    it dispatched."""
    clock.time = now
    for n, wake in enumerate(timers.due(now)):
        _post("controller", wake, f"wake-{now:%H%M%S}-{n}")
    return _steps(bus.take())


def test_a_retry_due_in_10_s_is_dispatched_at_10_s_not_at_the_next_sweep(
    bus: RecordingBus, timers: FakeTimers, clock: FakeClock
) -> None:
    start = json.dumps(FLOW).encode()
    _post("controller", Published("ms-flows-controller", start, {}), "start-1")
    [step_message] = bus.take()
    assert _steps([step_message])[0].attempt == 1
    _post("echo", step_message, "step-1")
    [callback] = bus.take()
    assert json.loads(callback.data)["status"] == "failed"

    failed_at = clock.now()  # the step function stored its failure as it ended
    clock.advance(2)  # its callback reaches the controller 2 s later
    _post("controller", callback, "cb-1")
    assert _steps(bus.take()) == []  # nothing runs before the backoff is over
    retry_at = failed_at + timedelta(seconds=10)
    assert retry_at in timers.times(REF)

    for seconds in (2.5, 5, 9, 9.999):  # earlier timers (if any) fire and change nothing
        assert _fire(timers, clock, failed_at + timedelta(seconds=seconds), bus) == []

    [attempt_2] = _fire(timers, clock, retry_at, bus)
    assert (attempt_2.step_id, attempt_2.attempt) == ("a", 2)
    assert clock.now() - START == timedelta(seconds=10)  # no minute sweep in between


def test_a_wake_for_an_unknown_run_is_logged_and_acknowledged(
    bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        _post("controller", wake_published(RunRef("acme", "nope", "gone-1")), "wake-x")
    assert "acknowledged without effect (unknown_run)" in caplog.text
    assert bus.take() == []


def test_a_malformed_wake_is_logged_and_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"kind": "wake", "account": "acme", "flow_id": "f"}).encode()
    with caplog.at_level(logging.ERROR):
        _post("controller", Published("ms-flows-controller", body, {}), "wake-y")
    assert "invalid wake message: $.run_id: Field required" in caplog.text


class _DownTimers:
    """Timers whose service refuses every timer with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def schedule(self, ref: RunRef, at: datetime) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (UpstreamUnavailableError("Cloud Tasks unavailable"), "WARNING"),
        (TimerScheduleError("queue missing"), "ERROR"),
    ],
)
def test_a_timer_that_cannot_be_set_leaves_the_run_to_the_sweep(
    error: Exception, level: str, bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    entry.install(Services(Settings.from_env(), bus=bus, timers=_DownTimers(error)))
    start = json.dumps(FLOW).encode()
    with caplog.at_level(logging.WARNING):
        _post("controller", Published("ms-flows-controller", start, {}), "start-2")
    assert len(_steps(bus.take())) == 1  # the run went on; only its timer is missing
    [record] = [r for r in caplog.records if "timer not set" in r.getMessage()]
    assert record.levelname == level
    assert "the sweep will wake it" in record.getMessage()
