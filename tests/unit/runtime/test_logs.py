"""The JSON log formatter: one Cloud Logging entry per line, times in UTC in any local zone."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mhi.runtime.logs import JsonFormatter, bind


@pytest.fixture
def madrid_summer() -> Iterator[None]:
    """The process's local time zone is UTC+2 (a POSIX TZ string: no tz database needed)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "CEST-2"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def _record(created: datetime) -> logging.LogRecord:
    record = logging.LogRecord("mhi.test", logging.WARNING, __file__, 1, "hello %s", ("x",), None)
    record.created = created.timestamp()
    record.msecs = (record.created - int(record.created)) * 1000
    return record


def test_time_is_utc_with_a_z_suffix_outside_utc(madrid_summer: None) -> None:
    assert time.localtime(0).tm_gmtoff == 2 * 3600  # the zone really is not UTC
    created = datetime(2026, 7, 1, 6, 0, 0, 123000, tzinfo=UTC)
    entry = json.loads(JsonFormatter().format(_record(created)))
    assert entry["time"] == "2026-07-01T06:00:00.123Z"


def test_entry_carries_severity_message_and_bound_labels() -> None:
    with bind(run_id="r1", step="a", attempt=2, trace="projects/p/traces/t"):
        entry = json.loads(JsonFormatter().format(_record(datetime.now(UTC))))
    assert entry["severity"] == "WARNING" and entry["message"] == "hello x"
    assert entry["logging.googleapis.com/labels"] == {"run_id": "r1", "step": "a", "attempt": "2"}
    assert entry["logging.googleapis.com/trace"] == "projects/p/traces/t"
