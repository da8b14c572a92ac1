"""Qlik Cloud back ends: app reloads (`/api/v1/reloads`) and automation runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mhi.errors import StepExecutionError
from mhi.qlik.client import QlikApi, QlikNotFoundError
from mhi.qlik.jobs import JobStatus, log_excerpt

# Reload statuses (published enum) -> our job states.
RELOAD_STATES = {
    "QUEUED": "running",
    "RELOADING": "running",
    "CANCELING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "cancelled",
    "EXCEEDED_LIMIT": "failed",
}
ACTIVE_RELOAD = ("QUEUED", "RELOADING")

# Automation run statuses (lower case, some with spaces).
RUN_STATES = {
    "not started": "running",
    "starting": "running",
    "running": "running",
    "queued": "running",
    "must stop": "running",
    "finished": "succeeded",
    "finished with warnings": "succeeded",
    "failed": "failed",
    "stopped": "cancelled",
    "exceeded limit": "failed",
}
_RUN_FIELDS = ("id", "status", "title", "context", "startTime", "stopTime", "error", "metrics")


def _mapped(table: dict[str, str], status: str, what: str) -> str:
    state = table.get(status)
    if state is None:
        raise StepExecutionError(f"{what}: unknown status {status!r} from Qlik")
    return state


@dataclass
class CloudReloads:
    """`JobBackend` over Qlik Cloud reloads: one job per app id."""

    api: QlikApi
    partial: bool = False
    variables: dict[str, str] | None = None
    name: str = "cloud"

    def resolve(self, target: str) -> dict[str, Any]:
        """An app id needs no lookup."""
        return {"app_id": target}

    def find_active(self, ref: dict[str, Any]) -> str | None:
        """Return the id of a reload of this app that is queued or running, if any."""
        params = {
            "appId": ref["app_id"],
            "limit": "100",
            "log": "false",
            "filter": " or ".join(f'status eq "{s}"' for s in ACTIVE_RELOAD),
        }
        _, page = self.api.call("GET", "/api/v1/reloads", params=params)
        rows = page.get("data", []) if isinstance(page, dict) else []
        active = [
            r
            for r in rows
            if isinstance(r, dict)
            and r.get("appId") == ref["app_id"]
            and r.get("status") in ACTIVE_RELOAD
        ]
        active.sort(key=lambda r: str(r.get("creationTime", "")))
        return str(active[0]["id"]) if active else None

    def start(self, ref: dict[str, Any]) -> str:
        """Start a reload; return its id."""
        body: dict[str, Any] = {"appId": ref["app_id"], "partial": self.partial}
        if self.variables:
            body["variables"] = self.variables
        try:
            _, reload = self.api.call("POST", "/api/v1/reloads", body=body)
        except QlikNotFoundError as e:
            raise QlikNotFoundError(
                f"Qlik Cloud: app {ref['app_id']} not found, or the API key's user may not "
                f"reload it ({e})"
            ) from None
        if not isinstance(reload, dict) or not reload.get("id"):
            raise StepExecutionError(f"Qlik Cloud: reload of app {ref['app_id']} returned no id")
        return str(reload["id"])

    def poll(self, ref: dict[str, Any], job_id: str) -> JobStatus:
        """Read the reload's status (and its log excerpt once it has failed)."""
        _, reload = self.api.call("GET", f"/api/v1/reloads/{job_id}")
        reload = reload if isinstance(reload, dict) else {}
        status = str(reload.get("status", ""))
        state = _mapped(RELOAD_STATES, status, f"reload {job_id}")
        detail = {
            k: reload[k]
            for k in ("creationTime", "startTime", "endTime", "duration", "type")
            if reload.get(k)
        }
        log = log_excerpt(str(reload.get("log") or "")) if state == "failed" else None
        return JobStatus(state, status, detail, log)

    def cancel(self, ref: dict[str, Any], job_id: str) -> None:
        """Ask Qlik to cancel the reload."""
        self.api.call(
            "POST", f"/api/v1/reloads/{job_id}/actions/cancel", allow_404=True, idempotent=True
        )


@dataclass
class CloudAutomation:
    """`JobBackend` over Qlik Cloud automation runs (`POST /automations/{id}/runs`)."""

    api: QlikApi
    fail_on_warnings: bool = False
    name: str = "cloud-automation"

    def resolve(self, target: str) -> dict[str, Any]:
        """An automation id needs no lookup."""
        return {"automation_id": target}

    def find_active(self, ref: dict[str, Any]) -> str | None:
        """Automation runs may overlap by design: a new run is always started."""
        return None

    def start(self, ref: dict[str, Any]) -> str:
        """Start a run; return its id. The body takes `context` only (`automations.d.ts`):
        inputs go to triggered automations (`mhi.qlik.trigger`)."""
        body: dict[str, Any] = {"context": "api"}
        _, run = self.api.call(
            "POST", f"/api/v1/automations/{ref['automation_id']}/runs", body=body
        )
        if not isinstance(run, dict) or not run.get("id"):
            raise StepExecutionError("Qlik Cloud: the automation run request returned no run id")
        return str(run["id"])

    def poll(self, ref: dict[str, Any], job_id: str) -> JobStatus:
        """Read the run's status; its fields become the captured result."""
        path = f"/api/v1/automations/{ref['automation_id']}/runs/{job_id}"
        _, run = self.api.call("GET", path)
        run = run if isinstance(run, dict) else {}
        status = str(run.get("status", ""))
        state = _mapped(RUN_STATES, status, f"automation run {job_id}")
        if status == "finished with warnings" and self.fail_on_warnings:
            state = "failed"
        detail = {k: run[k] for k in _RUN_FIELDS if run.get(k) is not None}
        log = log_excerpt(str(run.get("error") or "")) if state == "failed" else None
        return JobStatus(state, status, detail, log)

    def cancel(self, ref: dict[str, Any], job_id: str) -> None:
        """Stop the run."""
        path = f"/api/v1/automations/{ref['automation_id']}/runs/{job_id}/actions/stop"
        self.api.call("POST", path, allow_404=True, idempotent=True)
