"""Qlik Sense Enterprise on Windows back end: reload tasks through the QRS API.

An app is reloaded by starting its reload task (`POST /qrs/task/{id}/start/synchronous` returns
the execution session id); the session row disappears (404) when the run ends and the outcome
is read from `/qrs/executionresult`. Every call carries the anti-CSRF `xrfkey` both as query
parameter and as `X-Qlik-Xrfkey` header.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from mhi.errors import StepExecutionError
from mhi.qlik.client import QlikApi, QlikNotFoundError
from mhi.qlik.jobs import JobStatus, log_excerpt

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_ALNUM = string.ascii_letters + string.digits

# ExecutionResult.status -> (name, our state)
EXECUTION_STATES: dict[int, tuple[str, str]] = {
    0: ("NeverStarted", "failed"),
    1: ("Triggered", "running"),
    2: ("Started", "running"),
    3: ("Queued", "running"),
    4: ("AbortInitiated", "running"),
    5: ("Aborting", "running"),
    6: ("Aborted", "cancelled"),
    7: ("FinishedSuccess", "succeeded"),
    8: ("FinishedFail", "failed"),
    9: ("Skipped", "failed"),
    10: ("Retry", "running"),
    11: ("Error", "failed"),
    12: ("Reset", "failed"),
}


def xrfkey() -> str:
    """Return a fresh 16-character anti-CSRF key."""
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


def add_xrfkey(params: dict[str, str], headers: dict[str, str]) -> None:
    """Put the same new xrfkey in the query and the `X-Qlik-Xrfkey` header."""
    key = xrfkey()
    params["xrfkey"] = key
    headers["X-Qlik-Xrfkey"] = key


def _rows(data: Any) -> list[dict[str, Any]]:
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


@dataclass
class QrsReloads:
    """`JobBackend` over QRS reload tasks. Targets are `app:<app id>` or `task:<id or name>`."""

    api: QlikApi
    name: str = "qrs"

    def resolve(self, target: str) -> dict[str, Any]:
        """Find the reload task of an app, or a task by id or name."""
        kind, _, value = target.partition(":")
        if kind == "app":
            return self._task_of_app(value)
        if GUID_RE.match(value):
            _, task = self.api.call("GET", f"/qrs/reloadtask/{value}")
            return self._ref(task, target)
        if "'" in value:
            raise StepExecutionError(f"QRS: task name {value!r} must not contain a quote")
        _, tasks = self.api.call("GET", "/qrs/reloadtask", params={"filter": f"name eq '{value}'"})
        found = _rows(tasks)
        if len(found) != 1:
            raise QlikNotFoundError(f"QRS: {len(found)} reload tasks are named {value!r}, need 1")
        return self._ref(found[0], target)

    def _task_of_app(self, app_id: str) -> dict[str, Any]:
        if not GUID_RE.match(app_id):
            raise StepExecutionError(f"QRS: app id {app_id!r} is not a GUID")
        _, tasks = self.api.call("GET", "/qrs/reloadtask", params={"filter": f"app.id eq {app_id}"})
        found = sorted(_rows(tasks), key=lambda t: not t.get("enabled", True))
        if not found:
            raise QlikNotFoundError(
                f"QRS: app {app_id} has no reload task; create one in the QMC or list the task "
                "under 'tasks'"
            )
        return self._ref(found[0], f"app:{app_id}")

    @staticmethod
    def _ref(task: Any, target: str) -> dict[str, Any]:
        if not isinstance(task, dict) or not task.get("id"):
            raise StepExecutionError(f"QRS: no reload task found for {target}")
        app = task["app"] if isinstance(task.get("app"), dict) else {}
        return {"task_id": str(task["id"]), "task_name": task.get("name"), "app_id": app.get("id")}

    def find_active(self, ref: dict[str, Any]) -> str | None:
        """Return the execution session of the task if it is running now."""
        params = {"filter": f"reloadTask.id eq {ref['task_id']}"}
        _, sessions = self.api.call("GET", "/qrs/executionsession", params=params)
        found = _rows(sessions)
        return str(found[0]["id"]) if found and found[0].get("id") else None

    def start(self, ref: dict[str, Any]) -> str:
        """Start the task; return its execution session id."""
        _, answer = self.api.call("POST", f"/qrs/task/{ref['task_id']}/start/synchronous")
        session = str(answer.get("value", "")) if isinstance(answer, dict) else ""
        if not GUID_RE.match(session) or session == ZERO_GUID:
            raise StepExecutionError(
                f"QRS: task {ref['task_name'] or ref['task_id']} did not start (disabled task, "
                "no scheduler available, or the app is unavailable)"
            )
        return session

    def poll(self, ref: dict[str, Any], job_id: str) -> JobStatus:
        """Running while the session exists; then read the execution result."""
        status, _ = self.api.call("GET", f"/qrs/executionsession/{job_id}", allow_404=True)
        if status != 404:
            return JobStatus("running", "Running")
        params = {"filter": f"ExecutionId eq {job_id}"}
        _, results = self.api.call("GET", "/qrs/executionresult", params=params)
        found = sorted(_rows(results), key=lambda r: str(r.get("stopTime") or ""))
        if not found:  # the session is gone but its result is not written yet
            return JobStatus("running", "Finishing")
        last = found[-1]
        code = last.get("status")
        known = EXECUTION_STATES.get(code) if isinstance(code, int) else None
        name, state = known or (f"status {code}", "failed")
        detail = {k: last[k] for k in ("startTime", "stopTime", "duration") if last.get(k)}
        detail["task"] = ref.get("task_name") or ref["task_id"]
        log = None
        if state == "failed":
            messages = [str(d.get("message", "")) for d in last.get("details") or []]
            log = log_excerpt("\n".join(messages))
        return JobStatus(state, name, detail, log)

    def cancel(self, ref: dict[str, Any], job_id: str) -> None:
        """Stop the task's running execution."""
        self.api.call("POST", f"/qrs/task/{ref['task_id']}/stop", allow_404=True, idempotent=True)
