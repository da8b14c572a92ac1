"""SLAs end to end in the embedded runtime, on a clock the test moves forward."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mhi.config import Settings
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind

WAIT = 30.0  # bounded waits: a broken runtime fails the test instead of hanging it


class MovableClock:
    """The real clock plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class NoConfig(BaseModel):
    pass


class Gate:
    """A step that reports it started, then waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def handler(self, _ctx: StepContext, _cfg: NoConfig) -> Any:
        self.started.set()
        return {"released": self.release.wait(WAIT)}


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


def _flow(within: int) -> dict[str, Any]:
    return {
        "flow_id": "late",
        "account": "acme",
        "flow_config": {
            "steps": [
                {"id": "load", "type": "ms-gate", "timeout_seconds": 7200},
                {"id": "report", "type": "ms-echo", "depends_on": ["load"]},
            ]
        },
        "sla": {
            "within_seconds": within,
            "notify": {"type": ["outbox"], "recipients": "ops@example.com", "subject": "late"},
        },
    }


def _runtime(tmp_path: Path, clock: MovableClock, gate: Gate) -> EmbeddedRuntime:
    settings = Settings(home=tmp_path, lease_seconds=7200.0, heartbeat_seconds=3600.0)
    kinds = {"ms-gate": StepKind("ms-gate", NoConfig, gate.handler)}
    return EmbeddedRuntime(Services(settings, clock=clock), extra_kinds=kinds)


def _sla_mails(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "blobs" / "outbox" / "acme" / "late").rglob("_sla/*.eml"))


def test_a_late_run_sends_one_sla_notification_naming_the_late_steps(
    tmp_path: Path, gate: Gate
) -> None:
    clock = MovableClock()
    with _runtime(tmp_path, clock, gate) as runtime:
        ref = runtime.start_json(_flow(60))
        assert gate.started.wait(WAIT)
        clock.offset = timedelta(seconds=120)  # past the deadline: the run is late
        for _ in range(int(WAIT * 10)):
            if _sla_mails(tmp_path):
                break
            threading.Event().wait(0.1)
        gate.release.set()
        state = runtime.wait(ref, timeout=WAIT)
    assert state.done is not None and state.done["status"] == "succeeded"
    [mail] = _sla_mails(tmp_path)
    text = mail.read_text()
    # sent while the run was running: the late step is still running, its dependant waiting
    assert "Subject: late" in text and "Status: running" in text
    assert "load (ms-gate, running" in text and "report (ms-echo, pending" in text


def test_an_on_time_run_sends_none(tmp_path: Path, gate: Gate) -> None:
    clock = MovableClock()
    gate.release.set()
    with _runtime(tmp_path, clock, gate) as runtime:
        state = runtime.wait(runtime.start_json(_flow(3600)), timeout=WAIT)
    assert state.done is not None and state.done["status"] == "succeeded"
    assert _sla_mails(tmp_path) == []
