"""CloudTasksTimers: the exact task (name, time, Pub/Sub publish with the controller's token),
duplicates as success, errors translated at the boundary, and the settings that build it."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from unittest.mock import create_autospec

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from mhi.adapters.gcp.cloud_tasks_timers import (
    MAX_TASK_ID,
    CloudTasksTimers,
    TimerScheduleError,
    from_settings,
    task_id,
)
from mhi.adapters.local.timers import SweepOnlyTimers
from mhi.config import Settings
from mhi.errors import RetryableError
from mhi.model.keys import RunRef
from mhi.runtime.router import message_kind
from mhi.runtime.wiring import build

QUEUE = "projects/proj-1/locations/europe-southwest1/queues/mhi-timers-dev"
TOPIC = "projects/proj-1/topics/ms-flows-controller-dev"
SA = "mhi-controller-dev@proj-1.iam.gserviceaccount.com"
NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
REF = RunRef("hotel-fergus", "daily", "20260301T060000Z-1a2b3c4d")
TASK_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{1,500}\Z")


def _client(*results: object) -> tasks_v2.CloudTasksClient:
    client = create_autospec(tasks_v2.CloudTasksClient, instance=True)
    client.create_task.side_effect = [
        r if isinstance(r, Exception) else tasks_v2.Task(name="created") for r in results
    ]
    return client


def _timers(client: tasks_v2.CloudTasksClient) -> CloudTasksTimers:
    return CloudTasksTimers(lambda: client, QUEUE, TOPIC, SA, clock=lambda: NOW)


def test_one_named_task_publishes_the_wake_to_the_controller_topic_as_the_controller() -> None:
    client = _client(None)
    _timers(client).schedule(REF, NOW + timedelta(seconds=10, milliseconds=250))
    due = NOW + timedelta(seconds=11)  # rounded up: never before it is due
    body = (
        b'{"messages":[{"data":"'
        + base64.b64encode(
            b'{"kind":"wake","account":"hotel-fergus","flow_id":"daily",'
            b'"run_id":"20260301T060000Z-1a2b3c4d"}'
        )
        + b'","attributes":{"kind":"wake","run_id":"20260301T060000Z-1a2b3c4d"}}]}'
    )
    client.create_task.assert_called_once_with(
        parent=QUEUE,
        task=tasks_v2.Task(
            name=f"{QUEUE}/tasks/{task_id(REF, due)}",
            schedule_time=due,
            dispatch_deadline=timedelta(seconds=30),
            http_request=tasks_v2.HttpRequest(
                url="https://pubsub.googleapis.com/v1/projects/proj-1/topics/"
                "ms-flows-controller-dev:publish",
                http_method=tasks_v2.HttpMethod.POST,
                headers={"Content-Type": "application/json"},
                body=body,
                oauth_token=tasks_v2.OAuthToken(
                    service_account_email=SA, scope="https://www.googleapis.com/auth/pubsub"
                ),
            ),
        ),
        timeout=10.0,
    )
    [message] = json.loads(body)["messages"]
    assert message_kind(base64.b64decode(message["data"])) == "wake"


def test_task_ids_are_valid_distinct_and_bounded() -> None:
    due = NOW + timedelta(seconds=10)
    dotted = RunRef("a", "f", "run.1:x")
    underscored = RunRef("a", "f", "run_1_x")
    assert TASK_ID_RE.match(task_id(dotted, due))
    assert task_id(dotted, due) != task_id(underscored, due)
    assert task_id(REF, due) != task_id(REF, due + timedelta(seconds=1))
    assert task_id(REF, due) == task_id(REF, due.astimezone(UTC))
    longest = RunRef("a" * 63, "f" * 63, "r" * 128)
    assert TASK_ID_RE.match(task_id(longest, due))
    assert len(task_id(RunRef("a" * 300, "f" * 300, "r"), due)) == MAX_TASK_ID


def test_the_same_timer_twice_is_one_task_and_a_refused_duplicate_is_success() -> None:
    client = _client(None, gexc.AlreadyExists("task exists"))
    timers = _timers(client)
    timers.schedule(REF, NOW + timedelta(seconds=9, milliseconds=100))
    timers.schedule(REF, NOW + timedelta(seconds=9, milliseconds=900))
    names = [c.kwargs["task"].name for c in client.create_task.call_args_list]
    assert len(names) == 2 and names[0] == names[1]


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        (gexc.ServiceUnavailable("down"), RetryableError, "Cloud Tasks unavailable"),
        (gexc.DeadlineExceeded("slow"), RetryableError, "Cloud Tasks unavailable"),
        (gexc.TooManyRequests("quota"), RetryableError, "Cloud Tasks unavailable"),
        (gexc.PermissionDenied("no"), TimerScheduleError, "roles/cloudtasks.enqueuer"),
        (gexc.NotFound("no queue"), TimerScheduleError, "missing or disabled"),
        (gexc.InvalidArgument("bad"), TimerScheduleError, "refused a timer"),
    ],
)
def test_errors_are_translated(error: Exception, expected: type[Exception], text: str) -> None:
    with pytest.raises(expected, match=text) as info:
        _timers(_client(error)).schedule(REF, NOW + timedelta(seconds=5))
    assert info.value.__cause__ is error


def test_bad_times_and_far_timers() -> None:
    client = _client()
    timers = _timers(client)
    with pytest.raises(ValueError, match="no timezone"):
        timers.schedule(REF, datetime(2026, 3, 1, 6, 0, 10))
    timers.schedule(REF, NOW + timedelta(days=30))  # beyond Cloud Tasks: the sweep resets it
    client.create_task.assert_not_called()


def test_the_client_is_built_once_on_first_use() -> None:
    client = _client(None, None)
    built: list[tasks_v2.CloudTasksClient] = []

    def factory() -> tasks_v2.CloudTasksClient:
        built.append(client)
        return client

    timers = CloudTasksTimers(factory, QUEUE, TOPIC, SA, clock=lambda: NOW)
    assert built == []
    timers.schedule(REF, NOW + timedelta(seconds=1))
    timers.schedule(REF, NOW + timedelta(seconds=2))
    assert len(built) == 1


@pytest.mark.parametrize(
    ("queue", "topic", "account", "text"),
    [
        ("mhi-timers", TOPIC, SA, "MHI_TIMER_QUEUE 'mhi-timers'"),
        (QUEUE + "/tasks/x", TOPIC, SA, "MHI_TIMER_QUEUE"),
        (QUEUE, "ms-flows-controller", SA, "controller topic"),
        (QUEUE, TOPIC, "mhi-controller@gmail.com", "MHI_CONTROLLER_SA"),
    ],
)
def test_malformed_settings_are_refused(queue: str, topic: str, account: str, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        CloudTasksTimers(_client, queue, topic, account)


GCP = {"MHI_BACKEND": "gcp", "_M_PROJECT_ID": "proj-1", "_M_ENV_ACRONYM": "dev"}


def test_settings_build_cloud_tasks_on_gcp_and_nothing_locally() -> None:
    timers = build(
        "timers", Settings.from_env({**GCP, "MHI_TIMER_QUEUE": QUEUE, "MHI_CONTROLLER_SA": SA})
    )
    assert isinstance(timers, CloudTasksTimers)
    assert (timers.queue, timers.topic, timers.service_account) == (QUEUE, TOPIC, SA)
    assert isinstance(build("timers", Settings()), SweepOnlyTimers)


def test_without_a_queue_the_sweep_wakes_runs_and_a_queue_needs_the_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert isinstance(from_settings(Settings.from_env(GCP)), SweepOnlyTimers)
    assert "MHI_TIMER_QUEUE is not set" in caplog.text
    with pytest.raises(ValueError, match="needs MHI_CONTROLLER_SA"):
        from_settings(Settings.from_env({**GCP, "MHI_TIMER_QUEUE": QUEUE}))
