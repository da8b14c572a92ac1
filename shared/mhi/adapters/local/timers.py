"""Timers without a timer service, and the rule every `Timers` adapter applies to due times.

On the local back end the embedded runtime keeps its own clock (a thread that wakes each run
when its retry, poll or timeout is due), so a Cloud Function entry running locally has nothing
to schedule: `SweepOnlyTimers` accepts every timer and leaves it to that clock or the sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mhi.model.keys import RunRef

logger = logging.getLogger(__name__)


def due_second(at: datetime) -> datetime:
    """Round a due time up to the whole second (a timer must never fire before it is due).

    Rounding down would wake the controller a fraction too early: `decide` would find nothing
    due and ask for the same second again, which a named timer refuses as a duplicate.

    Raises:
        ValueError: `at` has no timezone.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"timer time {at.isoformat()} has no timezone (use UTC)")
    whole = at.replace(microsecond=0)
    return whole if whole == at else whole + timedelta(seconds=1)


class SweepOnlyTimers:
    """`Timers` that schedule nothing: the embedded runtime's clock or the sweep wakes runs."""

    def schedule(self, ref: RunRef, at: datetime) -> None:
        """Check `at` and do nothing else.

        Raises:
            ValueError: `at` has no timezone.
        """
        due_second(at)
        logger.debug("run %s due at %s: left to the local clock", ref.run_id, at.isoformat())
