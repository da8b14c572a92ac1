"""What the engine asks the runtime to do. Each action maps to one write-once object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mhi.model.run import RunStatus


@dataclass(frozen=True)
class DispatchStep:
    """Claim `steps/<id>/<attempt>/dispatched.json` (or `poll-<turn>.json`) and publish the step.

    `republish`: the claim exists but its turn was never seen starting within the grace period
    (the claimer may have died before publishing): publish the same message again, no new claim.
    `reason` says why a turn is dispatched when it is not the plain next one (a lapsed lease).
    """

    step_id: str
    attempt: int
    turn: int
    type: str
    config: dict[str, Any]
    upstream: dict[str, dict[str, Any]]
    item: Any
    continuation: dict[str, Any] | None
    deadline: datetime
    republish: bool = False
    reason: str | None = None
    templates: dict[str, str] = field(default_factory=dict)  # config path -> its template
    slot: dict[str, Any] | None = None  # the concurrency slot the attempt holds (turn 0)


@dataclass(frozen=True)
class RecordResult:
    """Write `steps/<id>/<attempt>/result.json` on the controller's side (timeout, bad reference,
    for_each aggregate)."""

    step_id: str
    attempt: int
    status: str
    output: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class SkipStep:
    """Write `steps/<id>/skipped.json`."""

    step_id: str
    reason: str


@dataclass(frozen=True)
class ExpandStep:
    """Fan a for_each step out over `items` (derived from frozen data; nothing is written)."""

    step_id: str
    items: list[Any]


@dataclass(frozen=True)
class FinishRun:
    """Write `done.json`: the run's one terminal status."""

    status: RunStatus
    error: str | None = None
    failed_step: str | None = None


@dataclass(frozen=True)
class CheckStep:
    """Re-list one step's objects before acting on a timer that only its records can confirm
    (a turn not seen starting, a lease not seen renewed); nothing is written."""

    step_id: str
    attempt: int
    turn: int


@dataclass(frozen=True)
class AcquireSlot:
    """Claim one of `limit` slots of the concurrency `key` for an attempt before it is
    dispatched (`limits/<key>/...`, outside any run); when all are taken, the attempt waits."""

    step_id: str
    attempt: int
    key: str
    limit: int


@dataclass(frozen=True)
class ReleaseSlot:
    """Give back the slot an attempt held (it ended, or the run did), and wake the runs that
    wait for one."""

    step_id: str
    attempt: int
    slot: dict[str, Any]


@dataclass(frozen=True)
class CloseRun:
    """The run is done and its notification settled: drop it from the active index."""


Action = (
    DispatchStep
    | RecordResult
    | SkipStep
    | ExpandStep
    | FinishRun
    | CheckStep
    | CloseRun
    | AcquireSlot
    | ReleaseSlot
)


@dataclass(frozen=True)
class Decision:
    """Actions to carry out now, and when `decide` wants to be called again at the latest."""

    actions: list[Action]
    wake_at: datetime | None = None
