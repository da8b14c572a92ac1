"""Structured JSON logs for Cloud Logging, with run context bound once per event."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "mhi_log_context", default=None
)
_SEVERITY = {
    "WARNING": "WARNING",
    "CRITICAL": "CRITICAL",
    "ERROR": "ERROR",
    "INFO": "INFO",
    "DEBUG": "DEBUG",
}


@contextmanager
def bind(**labels: Any) -> Iterator[None]:
    """Attach labels (run_id, flow, step, attempt, trace) to every log record in this block."""
    merged = {**(_CONTEXT.get() or {}), **{k: str(v) for k, v in labels.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_labels() -> dict[str, str]:
    """The labels bound in this context."""
    return dict(_CONTEXT.get() or {})


def utc_timestamp(created: float) -> str:
    """Format a record's `created` time as RFC 3339 UTC with milliseconds (`...T06:00:00.123Z`)."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: severity, message, labels, trace and stack_trace."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as a Cloud Logging structured entry."""
        labels = current_labels()
        trace = labels.pop("trace", None)
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
            "time": utc_timestamp(record.created),
            "logging.googleapis.com/labels": labels,
        }
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        if record.exc_info:
            entry["stack_trace"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str)


def setup_json_logging(level: int = logging.INFO) -> None:
    """Install the JSON formatter on the root logger, writing to stdout (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
