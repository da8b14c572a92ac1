"""Run ids of starts that carry none: redeliveries and Scheduler retries start nothing new."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mhi.errors import InvalidMessageError
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import message_run_id, scheduled_run_id


def _scheduled(
    published: datetime, cron: str = "0 6 * * *", tz: str = "Europe/Madrid", message_id: str = "1"
) -> PubSubMessage:
    attrs = {"mhi_trigger": "schedule", "mhi_cron": cron, "mhi_time_zone": tz}
    return PubSubMessage(b"{}", attrs, message_id, published)


def test_scheduler_retries_map_to_the_same_fire_time() -> None:
    # 06:00 in Madrid in January is 05:00 UTC; a retry published 40 s later is the same run.
    first = _scheduled(datetime(2026, 1, 15, 5, 0, 1, tzinfo=UTC), message_id="111")
    retry = _scheduled(datetime(2026, 1, 15, 5, 0, 41, tzinfo=UTC), message_id="222")
    assert scheduled_run_id(first) == scheduled_run_id(retry) == "scheduled-20260115T0500Z"
    next_day = _scheduled(datetime(2026, 1, 16, 5, 0, 2, tzinfo=UTC))
    assert scheduled_run_id(next_day) == "scheduled-20260116T0500Z"


def test_fire_time_exactly_at_publish_time() -> None:
    msg = _scheduled(datetime(2026, 7, 1, 4, 0, 0, tzinfo=UTC))  # 06:00 CEST
    assert scheduled_run_id(msg) == "scheduled-20260701T0400Z"


def test_bad_schedule_attributes_are_a_clear_error() -> None:
    with pytest.raises(InvalidMessageError, match="bad mhi_cron/mhi_time_zone"):
        scheduled_run_id(_scheduled(datetime(2026, 1, 1, tzinfo=UTC), cron="61 * * * *"))


def test_redelivered_start_keeps_its_run_id() -> None:
    when = datetime(2026, 1, 1, 6, tzinfo=UTC)
    a = PubSubMessage(b"{}", {}, "m-1", when)
    assert message_run_id(a) == message_run_id(PubSubMessage(b"{}", {}, "m-1", when))
    assert message_run_id(a) != message_run_id(PubSubMessage(b"{}", {}, "m-2", when))
