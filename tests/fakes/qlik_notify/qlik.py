"""Imitation Qlik Cloud (reloads, automations) and Qlik Sense QRS servers."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.qlik_notify.server import FakeServer, Reply, Request

_AUTH_ERROR = {"errors": [{"code": "HTTP-401", "title": "Unauthorized", "detail": "bad token"}]}


@dataclass
class Script:
    """How a job of one app/automation/task behaves: polls before it ends, and how it ends.

    `outcome` None means the job never finishes.
    """

    polls: int = 2
    outcome: Any = "SUCCEEDED"
    log: str = "script ran\nAll done"


class FakeQlikCloud(FakeServer):
    """Qlik Cloud `/api/v1/reloads` and `/api/v1/automations` with Bearer auth."""

    def __init__(self, api_key: str, execution_token: str = "") -> None:
        super().__init__()
        self.api_key, self.execution_token = api_key, execution_token
        self.apps: dict[str, Script] = {}
        self.automations: dict[str, Script] = {}
        self.reloads: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.cancelled: list[str] = []
        self._ids = itertools.count(1)

    def started(self, app_id: str | None = None) -> list[dict[str, Any]]:
        """Return the reloads created through the API (optionally for one app)."""
        return [r for r in self.reloads.values() if app_id in (None, r["appId"])]

    def add_running_reload(self, app_id: str) -> str:
        """Simulate a reload started by someone else (a schedule); return its id."""
        return self._new_reload(app_id, "RELOADING")["id"]

    def route(self, request: Request) -> Reply:
        if request.path.endswith("/actions/execute"):
            return self._execute(request)
        if request.header("Authorization") != f"Bearer {self.api_key}":
            return Reply(401, _AUTH_ERROR)
        if request.path.startswith("/api/v1/reloads"):
            return self._reloads(request)
        if request.path.startswith("/api/v1/automations/"):
            return self._automations(request)
        return Reply(404, {"errors": [{"code": "HTTP-404", "title": "Not found"}]})

    # ---- reloads -------------------------------------------------------------------------

    def _new_reload(self, app_id: str, status: str = "QUEUED") -> dict[str, Any]:
        rid = f"reload{next(self._ids):04d}"
        script = self.apps[app_id]
        reload = {
            "id": rid,
            "appId": app_id,
            "status": status,
            "type": "external",
            "partial": False,
            "log": "",
            "creationTime": f"2025-03-01T06:00:{len(self.reloads):02d}Z",
            "_polls": script.polls,
            "_outcome": script.outcome,
            "_log": script.log,
        }
        self.reloads[rid] = reload
        return reload

    def _reloads(self, request: Request) -> Reply:
        parts = request.path.rstrip("/").split("/")  # '', api, v1, reloads, id, actions, cancel
        if request.method == "POST" and len(parts) == 4:
            body = request.json() or {}
            if body.get("appId") not in self.apps:
                return Reply(404, {"errors": [{"code": "HTTP-404", "title": "App not found"}]})
            return Reply(201, _public(self._new_reload(body["appId"])))
        if request.method == "GET" and len(parts) == 4:
            wanted = re.findall(r'status eq "(\w+)"', request.query.get("filter", ""))
            rows = [
                r
                for r in self.reloads.values()
                if r["appId"] == request.query.get("appId")
                and (not wanted or r["status"] in wanted)
            ]
            return Reply(200, {"data": [_public(r) for r in rows], "links": {}})
        reload = self.reloads.get(parts[4]) if len(parts) > 4 else None
        if reload is None:
            return Reply(404, {"errors": [{"code": "HTTP-404", "title": "Reload not found"}]})
        if request.method == "POST" and parts[-1] == "cancel":
            self.cancelled.append(reload["id"])
            reload["status"] = "CANCELING"
            return Reply(204)
        return Reply(200, _public(self._advance_reload(reload)))

    @staticmethod
    def _advance_reload(reload: dict[str, Any]) -> dict[str, Any]:
        if reload["status"] == "CANCELING":
            reload["status"] = "CANCELED"
        elif reload["status"] in ("QUEUED", "RELOADING"):
            reload["_polls"] -= 1
            reload["status"] = "RELOADING"
            if reload["_polls"] <= 0 and reload["_outcome"] is not None:
                reload["status"], reload["log"] = reload["_outcome"], reload["_log"]
                reload["endTime"] = "2025-03-01T06:03:41Z"
        return reload

    # ---- automations ---------------------------------------------------------------------

    def _automations(self, request: Request) -> Reply:
        parts = request.path.rstrip("/").split("/")  # '', api, v1, automations, id, runs, rid
        script = self.automations.get(parts[4])
        if script is None:
            return Reply(404, {"errors": [{"code": "HTTP-404", "title": "Automation not found"}]})
        if request.method == "POST" and parts[-1] == "runs":
            body = request.json() or {}
            if set(body) - {"context"}:  # the published body takes context only
                unknown = ", ".join(sorted(set(body) - {"context"}))
                return Reply(400, {"errors": [{"code": "HTTP-400", "title": f"{unknown}"}]})
            run = {
                "id": f"run{next(self._ids):04d}",
                "status": "queued",
                "context": "api",
                "title": "Refresh extracts",
                "automationId": parts[4],
                "_polls": script.polls,
                "_outcome": script.outcome,
            }
            self.runs[run["id"]] = run
            return Reply(201, _public(run))
        run = self.runs.get(parts[6]) if len(parts) > 6 else None
        if run is None:
            return Reply(404, {"errors": [{"code": "HTTP-404", "title": "Run not found"}]})
        if parts[-1] == "stop":
            run["status"] = "stopped"
            self.cancelled.append(run["id"])
            return Reply(204)
        if run["status"] in ("queued", "running"):
            run["_polls"] -= 1
            run["status"] = "running"
            if run["_polls"] <= 0 and run["_outcome"] is not None:
                run["status"], run["stopTime"] = run["_outcome"], "2025-03-01T06:05:00Z"
        return Reply(200, _public(run))

    def _execute(self, request: Request) -> Reply:
        if not self.execution_token or request.header("X-Execution-Token") != self.execution_token:
            return Reply(401, _AUTH_ERROR)
        automation = request.path.split("/")[4]
        self.runs[f"triggered{next(self._ids)}"] = {"automationId": automation}
        return Reply(200, {"result": "ok", "received": request.json()})


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


# ---- QRS ----------------------------------------------------------------------------------


@dataclass
class Task:
    """A reload task of the fake QRS."""

    id: str
    name: str
    app_id: str
    enabled: bool = True
    script: Script = field(default_factory=lambda: Script(outcome=7))


class FakeQrs(FakeServer):
    """QRS: xrfkey check, header user, reload tasks, execution sessions and results."""

    def __init__(self, user: str = "UserDirectory=INTERNAL; UserId=sa_repository") -> None:
        super().__init__()
        self.user = user
        self.tasks: dict[str, Task] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def add_task(self, name: str, script: Script | None = None, enabled: bool = True) -> Task:
        """Add a reload task (with its app) and return it."""
        task = Task(
            str(uuid.uuid4()), name, str(uuid.uuid4()), enabled, script or Script(outcome=7)
        )
        self.tasks[task.id] = task
        return task

    def route(self, request: Request) -> Reply:
        key = request.query.get("xrfkey", "")
        if len(key) != 16 or request.header("X-Qlik-Xrfkey") != key:
            return Reply(403, "XSRF prevention check failed. Possible XSRF discovered.")
        if request.header("X-Qlik-User") != self.user:
            return Reply(401, "Unauthorized")
        parts = request.path.rstrip("/").split("/")  # '', qrs, entity, ...
        handler = {
            "reloadtask": self._reloadtask,
            "task": self._task,
            "executionsession": self._session,
            "executionresult": self._result,
        }.get(parts[2] if len(parts) > 2 else "")
        return handler(request, parts) if handler else Reply(404, "Not found")

    def _filter(self, request: Request) -> tuple[str, str]:
        m = re.fullmatch(r"(\S+) eq '?([^']*)'?", request.query.get("filter", ""))
        return (m.group(1), m.group(2)) if m else ("", "")

    def _reloadtask(self, request: Request, parts: list[str]) -> Reply:
        if len(parts) > 3:
            task = self.tasks.get(parts[3])
            return Reply(200, _task_json(task)) if task else Reply(404, "Not found")
        field_name, value = self._filter(request)
        attr = {"app.id": "app_id", "name": "name"}.get(field_name)
        rows = [_task_json(t) for t in self.tasks.values() if attr and getattr(t, attr) == value]
        return Reply(200, rows)

    def _task(self, request: Request, parts: list[str]) -> Reply:
        task = self.tasks.get(parts[3]) if len(parts) > 3 else None
        if task is None or request.method != "POST":
            return Reply(404, "Not found")
        if parts[-1] == "stop":
            self.stopped.append(task.id)
            for sid in [s for s, v in self.sessions.items() if v["task_id"] == task.id]:
                self._finish(sid, 6)
            return Reply(204)
        if not task.enabled:
            return Reply(201, {"value": "00000000-0000-0000-0000-000000000000"})
        sid = self.start_session(task)
        return Reply(201, {"value": sid})

    def start_session(self, task: Task) -> str:
        """Start an execution of a task (tests call it to simulate a schedule); return its id."""
        sid = str(uuid.uuid4())
        self.sessions[sid] = {
            "id": sid,
            "task_id": task.id,
            "polls": task.script.polls,
            "outcome": task.script.outcome,
            "log": task.script.log,
        }
        return sid

    def _finish(self, sid: str, status: int) -> None:
        session = self.sessions.pop(sid)
        details = [{"message": line, "detailsType": 1} for line in session["log"].splitlines()]
        self.results.append(
            {
                "executionID": sid,
                "taskID": session["task_id"],
                "status": status,
                "startTime": "2025-03-01T06:00:00Z",
                "stopTime": "2025-03-01T06:01:00Z",
                "duration": 60000,
                "details": details,
            }
        )

    def _session(self, request: Request, parts: list[str]) -> Reply:
        if len(parts) > 3:
            session = self.sessions.get(parts[3])
            if session is None:
                return Reply(404, "Not found")
            session["polls"] -= 1
            if session["polls"] <= 0 and session["outcome"] is not None:
                self._finish(parts[3], session["outcome"])
                return Reply(404, "Not found")
            return Reply(200, {"id": session["id"]})
        _, value = self._filter(request)
        return Reply(
            200, [{"id": s["id"]} for s in self.sessions.values() if s["task_id"] == value]
        )

    def _result(self, request: Request, parts: list[str]) -> Reply:
        _, value = self._filter(request)
        return Reply(200, [r for r in self.results if r["executionID"] == value])


def _task_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "enabled": task.enabled,
        "app": {"id": task.app_id, "name": f"App {task.name}"},
    }
