"""Follow long Qlik jobs (reloads, task executions, automation runs) across step turns.

No function instance is held while a job runs: each turn starts what still has to start or polls
once, then returns `Wait(state)`; the controller calls again with that state. Starting is made
idempotent with `ctx.claim` (one record per target and attempt), and a job that is already
running for the same app is followed instead of starting a second one. A deadline bounds the
whole wait: past it, the jobs this step started are cancelled (best effort) and the step fails
with a non-retryable error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from mhi.errors import OrchestratorError, StepExecutionError, UpstreamUnavailableError
from mhi.model.keys import claim_key
from mhi.qlik.client import RateLimitedError
from mhi.steps.sdk import StepContext, Wait

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "skipped"})
MAX_TRANSIENT_TURNS = 20  # consecutive turns that hit only transient errors before giving up


@dataclass(frozen=True)
class JobStatus:
    """One poll of a job: our state, the service's own status, a few details, a log excerpt."""

    state: str  # running | succeeded | failed | cancelled
    status: str
    detail: dict[str, Any] = field(default_factory=dict)
    log: str | None = None


class JobBackend(Protocol):
    """What a Qlik back end offers the follower."""

    name: str

    def resolve(self, target: str) -> dict[str, Any]:
        """Look a target (app id, task name, ...) up; return what the other calls need."""
        ...

    def find_active(self, ref: dict[str, Any]) -> str | None:
        """Return the id of a job already running for this target, if any."""
        ...

    def start(self, ref: dict[str, Any]) -> str:
        """Start a job; return its id."""
        ...

    def poll(self, ref: dict[str, Any], job_id: str) -> JobStatus:
        """Return the job's current status."""
        ...

    def cancel(self, ref: dict[str, Any], job_id: str) -> None:
        """Ask the service to cancel the job."""
        ...


class QlikJobFailedError(StepExecutionError):
    """A reload or automation run ended FAILED, CANCELED or EXCEEDED_LIMIT."""

    kind = "qlik_job_failed"


class QlikDeadlineError(StepExecutionError):
    """The wait passed `max_wait_seconds`."""

    kind = "qlik_deadline"


@dataclass(frozen=True)
class Follow:
    """How to follow a set of jobs."""

    what: str  # "reload", "task", "automation run": how messages name a job
    service: str  # "Qlik Cloud", "Qlik Sense QRS"
    max_wait_seconds: float
    poll_seconds: float
    max_poll_seconds: float
    cancel_on_deadline: bool = True
    sequential: bool = False


def log_excerpt(text: str, lines: int = 15, chars: int = 1500) -> str:
    """Return the last lines of a script log, bounded in size."""
    tail = "\n".join(line.rstrip() for line in text.strip().splitlines()[-lines:])
    return tail[-chars:]


def run_turn(
    ctx: StepContext, backend: JobBackend, targets: list[str], follow: Follow
) -> dict[str, Any] | Wait:
    """Run one turn: start or poll, then finish, fail, or ask to be called again."""
    state = ctx.continuation or _new_state(ctx.services.clock.now(), targets, follow)
    state["turns"] = int(state.get("turns", 0)) + 1
    try:
        _advance(ctx, backend, state, follow)
    except UpstreamUnavailableError as e:
        return _transient(ctx, backend, state, follow, e)
    state["transient"] = 0
    if _finished(state["jobs"], follow):
        return _result(ctx, backend, state, follow)
    return _wait_or_give_up(ctx, backend, state, follow)


def _new_state(now: datetime, targets: list[str], follow: Follow) -> dict[str, Any]:
    deadline = now + timedelta(seconds=follow.max_wait_seconds)
    jobs: list[dict[str, Any]] = [
        {
            "target": t,
            "ref": None,
            "id": None,
            "origin": None,
            "status": None,
            "state": "pending",
            "detail": {},
        }
        for t in targets
    ]
    return {
        "started_at": now.isoformat(),
        "deadline_at": deadline.isoformat(),
        "turns": 0,
        "transient": 0,
        "jobs": jobs,
    }


def _advance(ctx: StepContext, backend: JobBackend, state: dict[str, Any], follow: Follow) -> None:
    for job in state["jobs"]:
        if job["state"] not in TERMINAL:
            if job["id"] is None:
                _ensure_started(ctx, backend, job, follow)
            else:
                _poll(backend, job, follow)
        if follow.sequential and job["state"] != "succeeded":
            break


def _claim_name(target: str) -> str:
    return "start-" + hashlib.sha256(target.encode()).hexdigest()[:24]


def read_claim(ctx: StepContext, name: str) -> dict[str, Any] | None:
    """Return what `ctx.claim(name, ...)` recorded for this attempt, without claiming."""
    m = ctx.message
    key = m.ref.key(claim_key(m.step_id, m.attempt, name))
    data = ctx.services.run_store.read(key)
    return json.loads(data) if data else None


def _ensure_started(
    ctx: StepContext, backend: JobBackend, job: dict[str, Any], follow: Follow
) -> None:
    """Start the job once per attempt; follow an already-running one instead of starting."""
    if job["ref"] is None:
        job["ref"] = backend.resolve(job["target"])
    name = _claim_name(job["target"])
    won = read_claim(ctx, name)
    if won is None:
        active = backend.find_active(job["ref"])
        if active is not None:
            won = ctx.claim(name, {"id": active, "origin": "adopted"})
        else:
            job_id = backend.start(job["ref"])
            won = ctx.claim(name, {"id": job_id, "origin": "started"})
            if won["id"] != job_id:  # a duplicate delivery got there first: keep one job
                _cancel_quietly(backend, job["ref"], job_id, follow)
    job.update(id=won["id"], origin=won["origin"], state="running", status="started")
    ctx.log.info("%s %s %s for %s", follow.what, job["id"], won["origin"], job["target"])


def _poll(backend: JobBackend, job: dict[str, Any], follow: Follow) -> None:
    status = backend.poll(job["ref"], job["id"])
    job.update(state=status.state, status=status.status, detail=status.detail)
    if status.log:
        job["log"] = status.log


def _finished(jobs: list[dict[str, Any]], follow: Follow) -> bool:
    if follow.sequential and any(j["state"] in TERMINAL - {"succeeded"} for j in jobs):
        for j in jobs:
            if j["state"] == "pending":
                j["state"] = "skipped"
        return True
    return all(j["state"] in TERMINAL for j in jobs)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    out = {
        "target": job["target"],
        "id": job["id"],
        "status": job["status"] or job["state"],
        "state": job["state"],
        "started_by_step": job["origin"] == "started",
    }
    out.update(job.get("detail") or {})
    return out


def _elapsed(ctx: StepContext, state: dict[str, Any]) -> float:
    started = datetime.fromisoformat(state["started_at"])
    return round((ctx.services.clock.now() - started).total_seconds(), 3)


def _result(
    ctx: StepContext, backend: JobBackend, state: dict[str, Any], follow: Follow
) -> dict[str, Any]:
    jobs = state["jobs"]
    bad = [j for j in jobs if j["state"] != "succeeded"]
    if bad:
        lines = [_failure_line(j, follow) for j in bad]
        raise QlikJobFailedError(f"{follow.service}: " + "; ".join(lines))
    return {
        "backend": backend.name,
        "jobs": [_public(j) for j in jobs],
        "succeeded": len(jobs),
        "turns": state["turns"],
        "waited_seconds": _elapsed(ctx, state),
    }


def _failure_line(job: dict[str, Any], follow: Follow) -> str:
    if job["state"] == "skipped":
        return f"{job['target']}: not started (an earlier {follow.what} failed)"
    line = f"{follow.what} {job['id']} of {job['target']} ended {job['status']}"
    if job.get("log"):
        line += f"; log:\n{job['log']}"
    return line


def _interval(state: dict[str, Any], follow: Follow, remaining: float) -> float:
    grown = follow.poll_seconds * 1.5 ** max(0, int(state["turns"]) - 1)
    return round(max(1.0, min(follow.max_poll_seconds, grown, remaining)), 3)


def _remaining(ctx: StepContext, state: dict[str, Any]) -> float:
    deadline = datetime.fromisoformat(state["deadline_at"])
    return (deadline - ctx.services.clock.now()).total_seconds()


def _wait_or_give_up(
    ctx: StepContext, backend: JobBackend, state: dict[str, Any], follow: Follow, floor: float = 0
) -> Wait:
    remaining = _remaining(ctx, state)
    if remaining <= 0:
        _give_up(ctx, backend, state, follow)
    return Wait(state, max(floor, _interval(state, follow, remaining)))


def _give_up(ctx: StepContext, backend: JobBackend, state: dict[str, Any], follow: Follow) -> None:
    running = [j for j in state["jobs"] if j["state"] not in TERMINAL and j["id"]]
    cancelled = []
    if follow.cancel_on_deadline:
        for job in running:
            if job["origin"] == "started" and _cancel_quietly(
                backend, job["ref"], job["id"], follow
            ):
                cancelled.append(job["id"])
    names = ", ".join(f"{j['target']} ({j['status']})" for j in running) or "none running"
    raise QlikDeadlineError(
        f"{follow.service}: {follow.what}s not finished after max_wait_seconds="
        f"{follow.max_wait_seconds:g} ({state['turns']} turns): {names}; cancelled: "
        f"{', '.join(cancelled) or 'none'}"
    )


def _cancel_quietly(backend: JobBackend, ref: dict[str, Any], job_id: str, follow: Follow) -> bool:
    try:
        backend.cancel(ref, job_id)
    except OrchestratorError as e:
        logger.warning("could not cancel %s %s: %s", follow.what, job_id, e)
        return False
    return True


def _transient(
    ctx: StepContext,
    backend: JobBackend,
    state: dict[str, Any],
    follow: Follow,
    error: UpstreamUnavailableError,
) -> Wait:
    """A transient error in this turn: try again next turn (polling is idempotent), bounded."""
    state["transient"] = int(state.get("transient", 0)) + 1
    if state["transient"] > MAX_TRANSIENT_TURNS:
        raise error
    ctx.log.warning("%s turn %d: %s; polling again later", follow.service, state["turns"], error)
    floor = (error.retry_after or 0.0) if isinstance(error, RateLimitedError) else 0.0
    return _wait_or_give_up(ctx, backend, state, follow, floor)
