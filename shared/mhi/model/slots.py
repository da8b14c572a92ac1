"""Schedule slots: the fire times of a flow's cron (or every midnight), and the run ids they get.

A slot's run id is `scheduled-<UTC fire time>`, the id Cloud Scheduler's starts get
(`mhi.runtime.router.scheduled_run_id`): a backfill, a catch-up and the scheduler itself agree
on it, so a slot runs once however many of them ask for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mhi.model.flow import FlowDefinition

SLOT_PREFIX = "scheduled-"
_SLOT_FORMAT = "%Y%m%dT%H%MZ"
DAILY = "0 0 * * *"


class SlotError(ValueError):
    """A schedule that gives no slots (bad cron or time zone, or a bad range)."""


def cron_of(flow: FlowDefinition) -> tuple[str, str]:
    """The flow's (cron, time zone); daily at midnight UTC for a flow without a schedule."""
    if flow.schedule is None:
        return DAILY, "UTC"
    return flow.schedule.cron, flow.schedule.time_zone


def slot_run_id(fire_time: datetime) -> str:
    """The run id of the slot firing at `fire_time`."""
    return SLOT_PREFIX + fire_time.astimezone(UTC).strftime(_SLOT_FORMAT)


def slot_of(run_id: str) -> datetime | None:
    """The UTC fire time a slot's run id names (None for any other run id)."""
    if not run_id.startswith(SLOT_PREFIX):
        return None
    try:
        return datetime.strptime(run_id[len(SLOT_PREFIX) :], _SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def logical_time(flow: FlowDefinition, fire_time: datetime) -> str:
    """A slot's fire time in the schedule's time zone, ISO 8601 (`run.logical_time`)."""
    _cron, zone = cron_of(flow)
    return fire_time.astimezone(_zone(zone)).isoformat()


def slots(
    flow: FlowDefinition, start: datetime, end: datetime, limit: int | None = None
) -> Iterator[datetime]:
    """Fire times of the flow's schedule in [start, end] (timezone-aware), oldest first.

    Raises:
        SlotError: the cron or time zone is invalid, or `end` is before `start`.
    """
    from croniter import croniter

    if end < start:
        raise SlotError(f"the end {end.isoformat()} is before the start {start.isoformat()}")
    cron, zone = cron_of(flow)
    tz = _zone(zone)
    try:
        it = croniter(cron, start.astimezone(tz) - timedelta(seconds=1))
    except (ValueError, KeyError) as e:
        raise SlotError(f"cron {cron!r}: {e}") from e
    count = 0
    while limit is None or count < limit:
        fired: datetime = it.get_next(datetime)
        if fired > end:
            return
        count += 1
        yield fired.astimezone(UTC)


def previous_slots(flow: FlowDefinition, before: datetime, count: int) -> list[datetime]:
    """The `count` fire times before `before`, newest first (catch-up looks back through them)."""
    from croniter import croniter

    cron, zone = cron_of(flow)
    it = croniter(cron, before.astimezone(_zone(zone)))
    return [it.get_prev(datetime).astimezone(UTC) for _ in range(count)]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise SlotError(f"unknown time zone {name!r}") from e
