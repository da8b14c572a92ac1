"""Timers on Cloud Tasks: one named task per run and due second, publishing a wake message.

The task's HTTP target is Pub/Sub's REST `publish` on the controller topic, called with an OAuth
token that Cloud Tasks mints for the controller's own service account, so no HTTP endpoint of
ours is needed: the wake arrives through the controller's usual trigger and is routed like any
other message (`mhi.runtime.router`). The task name comes from the run and the due second, so
the same timer set twice (by a redelivered callback, by racing instances, by every sweep) is
refused with AlreadyExists, which is success. Cloud Tasks keeps a name taken for about an hour
after its task ran, so a timer never fires twice.

Deployment (terraform `timers.tf`): the queue, `roles/cloudtasks.enqueuer` on it and
`roles/iam.serviceAccountUser` on itself for the controller's account (a task may carry a token
of an account only if its creator may act as it), publisher on the controller topic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mhi.adapters.gcp.api_errors import TRANSIENT_API_ERRORS
from mhi.adapters.gcp.clients import project_id, require
from mhi.adapters.gcp.pubsub_bus import topic_path
from mhi.adapters.local.timers import SweepOnlyTimers, due_second
from mhi.config import Settings
from mhi.constants import CONTROLLER_TOPIC
from mhi.errors import PermanentError, UpstreamUnavailableError
from mhi.model.keys import RunRef
from mhi.model.messages import WakeMessage, encode

if TYPE_CHECKING:
    from google.cloud import tasks_v2

logger = logging.getLogger(__name__)

PUBSUB_API = "https://pubsub.googleapis.com/v1"
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
REQUEST_TIMEOUT_SECONDS = 10.0
DISPATCH_DEADLINE = timedelta(seconds=30)  # one Pub/Sub publish; Cloud Tasks' minimum is 15 s
# Cloud Tasks refuses a schedule time more than 30 days ahead. A later timer is not set: the
# sweep sets it again every minute, and it is taken once it comes within reach.
MAX_AHEAD = timedelta(days=29)
MAX_TASK_ID = 500

_QUEUE_RE = re.compile(r"\Aprojects/[^/]+/locations/[a-z0-9-]+/queues/[A-Za-z0-9-]{1,100}\Z")
_TOPIC_RE = re.compile(r"\Aprojects/[^/]+/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}\Z")
_EMAIL_RE = re.compile(r"\A[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com\Z")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_-]")
_DENIED = (gexc.PermissionDenied, gexc.Unauthenticated)
_ABSENT = (gexc.NotFound, gexc.FailedPrecondition)  # no such queue / queue disabled


class TimerScheduleError(PermanentError):
    """Cloud Tasks refused a timer for good (no such queue, no permission, bad request)."""

    kind = "timer"


def task_id(ref: RunRef, due: datetime) -> str:
    """Return the task id of the timer of `ref` due at `due` (a whole second).

    A hash of the exact run and time comes first: it tells apart runs whose ids differ only in
    characters a task id cannot hold (`.`, `:`), and it spreads names over Cloud Tasks' index
    (sequential names, such as a leading timestamp, slow a queue down).
    """
    stamp = due.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    exact = "\0".join((ref.account, ref.flow_id, ref.run_id, stamp))
    digest = hashlib.sha256(exact.encode()).hexdigest()[:16]
    readable = _NOT_IN_ID.sub("_", f"{ref.account}--{ref.flow_id}--{ref.run_id}")
    return f"{digest}-{stamp}-{readable}"[:MAX_TASK_ID]


def wake_data(ref: RunRef) -> bytes:
    """Return the wake message of `ref`: what the controller receives when the timer fires."""
    return encode(WakeMessage(account=ref.account, flow_id=ref.flow_id, run_id=ref.run_id))


def publish_body(ref: RunRef) -> bytes:
    """Return the body of the Pub/Sub REST `publish` call that delivers the wake of `ref`."""
    message = {
        "data": base64.b64encode(wake_data(ref)).decode(),
        "attributes": {"kind": "wake", "run_id": ref.run_id},
    }
    return json.dumps({"messages": [message]}, separators=(",", ":")).encode()


class CloudTasksTimers:
    """`Timers` on a Cloud Tasks queue (the client is created on first use).

    Args:
        client_factory: builds the `CloudTasksClient`.
        queue: `projects/P/locations/L/queues/Q`.
        topic: the controller topic, `projects/P/topics/T`.
        service_account: the email of the account the wake is published as.
        clock: the current time (for the 30-day limit of Cloud Tasks).

    Raises:
        ValueError: a malformed queue, topic or service-account email.
    """

    def __init__(
        self,
        client_factory: Callable[[], tasks_v2.CloudTasksClient],
        queue: str,
        topic: str,
        service_account: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        _check(_QUEUE_RE, queue, "MHI_TIMER_QUEUE", "projects/P/locations/L/queues/Q")
        _check(_TOPIC_RE, topic, "the controller topic", "projects/P/topics/T")
        _check(_EMAIL_RE, service_account, "MHI_CONTROLLER_SA", "NAME@PROJECT.iam...")
        self._factory = client_factory
        self._client: tasks_v2.CloudTasksClient | None = None
        self._lock = threading.Lock()
        self.queue = queue
        self.topic = topic
        self.service_account = service_account
        self.clock = clock
        self.timeout = timeout

    def _client_once(self) -> tasks_v2.CloudTasksClient:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def task(self, ref: RunRef, due: datetime) -> tasks_v2.Task:
        """Return the task that publishes the wake of `ref` at `due`."""
        from google.cloud import tasks_v2

        request = tasks_v2.HttpRequest(
            url=f"{PUBSUB_API}/{self.topic}:publish",
            http_method=tasks_v2.HttpMethod.POST,
            headers={"Content-Type": "application/json"},
            body=publish_body(ref),
            oauth_token=tasks_v2.OAuthToken(
                service_account_email=self.service_account, scope=PUBSUB_SCOPE
            ),
        )
        return tasks_v2.Task(
            name=f"{self.queue}/tasks/{task_id(ref, due)}",
            schedule_time=due,
            dispatch_deadline=DISPATCH_DEADLINE,
            http_request=request,
        )

    def schedule(self, ref: RunRef, at: datetime) -> None:
        """Create the named task of `ref` at `at` (rounded up to the second); a duplicate is ok.

        Raises:
            ValueError: `at` has no timezone.
            UpstreamUnavailableError: Cloud Tasks is unavailable for now.
            TimerScheduleError: no such queue, no permission, or a request Cloud Tasks refuses.
        """
        due = due_second(at)
        if due - self.clock() > MAX_AHEAD:
            logger.debug("run %s: timer at %s is beyond Cloud Tasks' reach", ref.run_id, due)
            return
        task = self.task(ref, due)
        try:
            self._client_once().create_task(parent=self.queue, task=task, timeout=self.timeout)
        except gexc.AlreadyExists:
            logger.debug("run %s: timer at %s already set", ref.run_id, due.isoformat())
            return
        except TRANSIENT_API_ERRORS as e:
            raise UpstreamUnavailableError(
                f"timer of run {ref.run_id!r}: Cloud Tasks unavailable ({type(e).__name__})"
            ) from e
        except gexc.GoogleAPICallError as e:
            raise TimerScheduleError(_refusal(self.queue, e), run_id=ref.run_id) from e
        logger.info("run %s: timer set for %s", ref.run_id, due.isoformat())


def _refusal(queue: str, error: gexc.GoogleAPICallError) -> str:
    name = type(error).__name__
    if isinstance(error, _DENIED):
        return (
            f"Cloud Tasks refused a timer on {queue} ({name}): grant roles/cloudtasks.enqueuer "
            "on the queue and roles/iam.serviceAccountUser on MHI_CONTROLLER_SA to this "
            f"function's service account: {error.message}"
        )
    if isinstance(error, _ABSENT):
        return f"Cloud Tasks queue {queue} is missing or disabled ({name}): {error.message}"
    return f"Cloud Tasks refused a timer on {queue} ({name}): {error.message}"


def _check(pattern: re.Pattern[str], value: str, what: str, shape: str) -> None:
    if not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not of the form {shape}")


def from_settings(settings: Settings) -> CloudTasksTimers | SweepOnlyTimers:
    """Build the timers of `MHI_TIMER_QUEUE`, publishing as `MHI_CONTROLLER_SA`.

    Without MHI_TIMER_QUEUE (the emulator stack has no Cloud Tasks) nothing is scheduled and
    the minute sweep wakes every run.
    """
    if not settings.timer_queue:
        logger.warning(
            "MHI_TIMER_QUEUE is not set: retries, polls and timeouts wait for the minute sweep"
        )
        return SweepOnlyTimers()
    account = require(settings.controller_service_account, "MHI_CONTROLLER_SA")
    topic = topic_path(project_id(settings), CONTROLLER_TOPIC, settings.env_acronym)

    def client() -> tasks_v2.CloudTasksClient:
        from google.cloud import tasks_v2

        return tasks_v2.CloudTasksClient()

    return CloudTasksTimers(client, settings.timer_queue, topic, account)
