"""One behaviour for every `Timers`: the test fake, and Cloud Tasks over a fake queue.

The fake queue keeps tasks by name and refuses a name already taken (pending or run), as Cloud
Tasks does; running a due task means doing what its HTTP request says: decode the Pub/Sub
`publish` body into the message the controller receives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from mhi.adapters.gcp.cloud_tasks_timers import CloudTasksTimers
from mhi.adapters.local.timers import SweepOnlyTimers, due_second
from mhi.constants import CONTROLLER_TOPIC
from mhi.model.keys import RunRef
from mhi.model.messages import parse_wake
from mhi.ports import Timers
from mhi.runtime.router import message_kind
from tests.fakes.bus import Published
from tests.fakes.timers import START, FakeTimers

QUEUE = "projects/proj-1/locations/europe-southwest1/queues/mhi-timers"
TOPIC = "projects/proj-1/topics/ms-flows-controller"
SA = "mhi-controller@proj-1.iam.gserviceaccount.com"
A = RunRef("acme", "daily", "run-1")
B = RunRef("acme", "daily", "run-2")


class FakeCloudTasks:
    """A Cloud Tasks queue in memory: named tasks, names never reused, run when due."""

    def __init__(self) -> None:
        self.tasks: dict[str, tasks_v2.Task] = {}
        self.taken: set[str] = set()

    def create_task(self, *, parent: str, task: tasks_v2.Task, timeout: float) -> tasks_v2.Task:
        assert task.name.startswith(parent + "/tasks/")
        if task.name in self.taken:
            raise gexc.AlreadyExists(f"task {task.name} exists")
        self.taken.add(task.name)
        self.tasks[task.name] = task
        return task

    def run_due(self, now: datetime) -> list[Published]:
        due = sorted(
            (t for t in self.tasks.values() if t.schedule_time <= now),
            key=lambda t: t.schedule_time,
        )
        for task in due:
            del self.tasks[task.name]
        return [self._deliver(task) for task in due]

    @staticmethod
    def _deliver(task: tasks_v2.Task) -> Published:
        request = task.http_request
        assert request.url == f"https://pubsub.googleapis.com/v1/{TOPIC}:publish"
        assert request.oauth_token.service_account_email == SA
        [message] = json.loads(request.body)["messages"]
        return Published(
            CONTROLLER_TOPIC, base64.b64decode(message["data"]), message.get("attributes", {})
        )


Harness = tuple[Timers, Callable[[datetime], list[Published]]]


def _fake() -> Harness:
    timers = FakeTimers()
    return timers, timers.due


def _cloud_tasks() -> Harness:
    queue = FakeCloudTasks()
    timers = CloudTasksTimers(
        lambda: queue,  # type: ignore[arg-type,return-value]
        QUEUE,
        TOPIC,
        SA,
        clock=lambda: START,
    )
    return timers, queue.run_due


@pytest.fixture(params=[_fake, _cloud_tasks], ids=["fake", "cloud_tasks"])
def harness(request: pytest.FixtureRequest) -> Harness:
    make: Callable[[], Harness] = request.param
    return make()


def _at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def _runs(delivered: list[Published]) -> list[str]:
    return [parse_wake(m.data).run_id for m in delivered]


def test_a_timer_fires_at_its_time_with_the_runs_wake_message(harness: Harness) -> None:
    timers, due = harness
    timers.schedule(A, _at(10))
    assert due(_at(9.999)) == []
    [message] = due(_at(10))
    assert message.topic == CONTROLLER_TOPIC
    assert message_kind(message.data) == "wake"
    wake = parse_wake(message.data)
    assert (wake.account, wake.flow_id, wake.run_id) == ("acme", "daily", "run-1")
    assert message.attributes["run_id"] == "run-1"
    assert due(_at(60)) == []  # fired once


def test_a_fraction_of_a_second_rounds_up_never_early(harness: Harness) -> None:
    timers, due = harness
    timers.schedule(A, _at(10.2))
    assert due(_at(10.5)) == []
    assert _runs(due(_at(11))) == ["run-1"]


def test_the_same_run_at_the_same_second_twice_is_one_timer(harness: Harness) -> None:
    timers, due = harness
    timers.schedule(A, _at(10.2))
    timers.schedule(A, _at(10.7))
    timers.schedule(A, _at(11))
    assert _runs(due(_at(20))) == ["run-1"]
    timers.schedule(A, _at(11))  # that second's timer already ran: still one
    assert due(_at(30)) == []


def test_other_seconds_and_other_runs_are_other_timers_fired_in_time_order(
    harness: Harness,
) -> None:
    timers, due = harness
    timers.schedule(A, _at(20))
    timers.schedule(B, _at(10))
    timers.schedule(A, _at(10))
    first = due(_at(10))
    assert sorted(_runs(first)) == ["run-1", "run-2"]
    assert _runs(due(_at(20))) == ["run-1"]


def test_a_time_without_timezone_is_refused(harness: Harness) -> None:
    timers, due = harness
    with pytest.raises(ValueError, match="no timezone"):
        timers.schedule(A, _at(10).replace(tzinfo=None))
    assert due(_at(60)) == []


def test_due_seconds_round_up_and_keep_whole_seconds() -> None:
    assert due_second(_at(10)) == _at(10)
    assert due_second(_at(10.000001)) == _at(11)
    assert due_second(_at(10).astimezone(timezone(timedelta(hours=2)))) == _at(10)


def test_local_timers_schedule_nothing_but_still_refuse_a_naive_time() -> None:
    SweepOnlyTimers().schedule(A, _at(10))
    with pytest.raises(ValueError, match="no timezone"):
        SweepOnlyTimers().schedule(A, _at(10).replace(tzinfo=None))
