"""SLA hits and misses for `mhi stats`: per run, was it done by its SLA deadline?

A run's deadline comes from its frozen `flow.json` (the SLA it ran under, its schedule slot or its
start) through the engine's own rule (`mhi.engine.sla.deadline_after`), so stats and the `sla`
notification agree: a run that ended (succeeded or failed) by the deadline met it; one that ended
later, or is still running past it, missed it; one still running before it is pending. A rerun
does not change the answer: the SLA is the first generation's, as for the notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from mhi.engine.sla import deadline_after
from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.run import parse_time
from mhi.ops.index import read_json
from mhi.ports import RunStore

Verdict = Literal["met", "missed", "pending"]


@dataclass(frozen=True)
class SlaOutcome:
    """One run against its SLA: the verdict, and by how many seconds it was late (if it was)."""

    verdict: Verdict
    late_seconds: float = 0.0


def run_sla(
    store: RunStore,
    ref: RunRef,
    generation: int,
    latest_done: dict[str, Any] | None,
    now: datetime | None,
) -> SlaOutcome | None:
    """The run's SLA outcome, or None when it ran without an SLA.

    `latest_done` is the run's latest generation's `done` (already read by stats); `now` decides
    whether an unfinished run is late yet (None: an unfinished run is pending).
    """
    frozen = read_json(store, ref.key(keys.FLOW)) or {}
    raw = frozen.get("flow")
    if not isinstance(raw, dict) or not raw.get("sla"):
        return None
    try:
        flow = FlowDefinition.model_validate(raw)
        base = parse_time(frozen.get("logical_time") or frozen["started_at"])
    except (ValidationError, KeyError, TypeError, ValueError):
        return None  # not a run this version can read: it counts as a run, not for the SLA
    deadline = deadline_after(flow, base)
    if deadline is None:
        return None
    first = latest_done if generation == 0 else read_json(store, ref.key(keys.done_key(0)))
    ended = (first or {}).get("at")
    if not isinstance(ended, str):
        if now is None or now <= deadline:
            return SlaOutcome("pending")
        return SlaOutcome("missed", round((now - deadline).total_seconds(), 3))
    late = round((parse_time(ended) - deadline).total_seconds(), 3)
    return SlaOutcome("missed", late) if late > 0 else SlaOutcome("met")


@dataclass
class SlaTally:
    """The SLA outcomes of a group of runs."""

    runs: int = 0
    met: int = 0
    missed: int = 0
    pending: int = 0
    late: list[float] = field(default_factory=list)

    def add(self, outcome: SlaOutcome) -> None:
        """Count one run's outcome."""
        self.runs += 1
        if outcome.verdict == "met":
            self.met += 1
        elif outcome.verdict == "missed":
            self.missed += 1
            self.late.append(outcome.late_seconds)
        else:
            self.pending += 1

    def to_json(self) -> dict[str, Any] | None:
        """The figures (None when no run of the group had an SLA)."""
        if not self.runs:
            return None
        decided = self.met + self.missed
        return {
            "runs": self.runs,
            "met": self.met,
            "missed": self.missed,
            "pending": self.pending,
            "hit_rate": round(self.met / decided, 4) if decided else None,
            "worst_late_seconds": max(self.late) if self.late else None,
        }
