"""Statuses, attempts and times: the vocabulary the run state and its generations share."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mhi.model.flow import RetryPolicy


class StepStatus(StrEnum):
    """Where a step is."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """Where a run is; every run ends in exactly one terminal status."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED})


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 timestamp written by us."""
    return datetime.fromisoformat(value)


def jitter_fraction(run_id: str, step_id: str, attempt: int) -> float:
    """A deterministic pseudo-random number in [-1, 1) for backoff jitter (no RNG in the engine)."""
    digest = hashlib.sha256(f"{run_id}/{step_id}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0


def retry_allowed(policy: RetryPolicy, attempt: int, error: Mapping[str, Any] | None) -> bool:
    """Whether a failed attempt is retried under the policy."""
    if error is None or attempt >= policy.max_attempts or not error.get("retryable", False):
        return False
    return policy.retry_on is None or error.get("kind") in policy.retry_on


@dataclass
class Attempt:
    """One attempt of a step: one or more turns (a turn is one step-function invocation)."""

    number: int
    dispatched_at: datetime | None = None
    turn: int = -1  # latest dispatched turn
    deadline: datetime | None = None  # of the latest dispatched turn
    waits: dict[int, dict[str, Any]] = field(default_factory=dict)  # turn -> wait record
    result: dict[str, Any] | None = None
    continuations: dict[int, dict[str, Any] | None] = field(default_factory=dict)  # turn -> given
    leases: dict[int, datetime] = field(default_factory=dict)  # started turn -> lease end
    checked: dict[int, datetime] = field(default_factory=dict)  # turn -> last re-listed (shell)
    grace_due: dict[int, datetime] = field(default_factory=dict)  # turn -> next publish check
    holders: dict[int, str] = field(default_factory=dict)  # started turn -> `<host>:<pid>`
    nudged_at: datetime | None = None  # what the attempt waits for happened (`nudge.json`)

    def running(self, turn: int) -> bool:
        """Whether `turn` is the latest turn, dispatched, and neither finished nor waiting."""
        return self.result is None and self.turn == turn and turn not in self.waits

    def early_poll(self) -> datetime | None:
        """When a nudged attempt's waiting turn polls, ahead of its own `poll_at`: the turn that
        was waiting when the nudge came and the first to ask to wait after it poll at once;
        later ones at their own pace (no tight loop). None: no early poll."""
        wait, nudged = self.waits.get(self.turn), self.nudged_at
        if nudged is None or wait is None or self.result is not None:
            return None
        asked = parse_time(wait["at"])
        later = [t for t, w in self.waits.items() if t < self.turn and parse_time(w["at"]) > nudged]
        return max(asked, nudged) if asked <= nudged or not later else None

    @property
    def wait(self) -> dict[str, Any] | None:
        """The wait record of the latest dispatched turn, if that turn asked to be polled."""
        return None if self.result is not None else self.waits.get(self.turn)

    @property
    def in_flight(self) -> bool:
        """Dispatched and not finished."""
        return self.dispatched_at is not None and self.result is None
