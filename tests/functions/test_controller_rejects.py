"""The controller validates a start in full (the checks of `mhi validate`) before it writes.

A start whose step config, notification block or account is wrong is logged and acknowledged;
nothing is written to the run store and nothing is published.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.runtime import entry
from mhi.services import Services
from tests.fakes.bus import RecordingBus
from tests.functions.conftest import CE_HEADERS, app_client, as_event


def _flow(**changes: Any) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "flow_id": "rejects",
        "account": "acme",
        "run_id": "r-1",
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo", "config": {"x": 1}}]},
    }
    flow.update(changes)
    return flow


def _start(flow: dict[str, Any], caplog: pytest.LogCaptureFixture) -> int:
    event = as_event(json.dumps(flow).encode(), {}, "m-1")
    with caplog.at_level(logging.ERROR):
        status: int = app_client("controller").post("/", json=event, headers=CE_HEADERS).status_code
    return status


BAD_STARTS = {
    "step config": (
        _flow(
            flow_config={
                "steps": [{"id": "a", "type": "ms-echo", "config": {"sleep_seconds": "soon"}}]
            }
        ),
        "$.flow_config.steps[0].config.sleep_seconds",
    ),
    "notification block": (
        _flow(notifications={"fail": {"type": ["carrier-pigeon"], "recipients": "a@b.c"}}),
        "$.notifications.fail.type",
    ),
    "cron": (_flow(schedule={"cron": "0 0 6 * * *"}), "$.schedule.cron"),
}


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("case", sorted(BAD_STARTS))
def test_an_invalid_start_writes_nothing_but_the_rejection_log(
    case: str, bus: RecordingBus, store: MemoryRunStore, caplog: pytest.LogCaptureFixture
) -> None:
    flow, path = BAD_STARTS[case]
    assert _start(flow, caplog) == 200
    assert "acknowledged without effect (invalid_flow)" in caplog.text
    assert path in caplog.text
    assert store.list("") == []
    assert bus.take() == []


def test_a_start_for_an_account_the_deployment_does_not_serve_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, store = RecordingBus(), MemoryRunStore()
    settings = Settings.from_env({"MHI_ACCOUNTS": "hotel-fergus, hotel-two"})
    entry.install(Services(settings, bus=bus, run_store=store))
    try:
        assert _start(_flow(), caplog) == 200
        assert "account 'acme' is not served by this deployment" in caplog.text
        assert "served: hotel-fergus, hotel-two" in caplog.text
        assert store.list("") == [] and bus.take() == []
        caplog.clear()
        assert _start(_flow(account="hotel-two"), caplog) == 200
        assert store.read("runs/hotel-two/rejects/r-1/flow.json") is not None
        assert [topic for topic, _, _ in bus.take()] == ["ms-echo"]
    finally:
        entry.reset()
