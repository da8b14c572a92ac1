"""Every catalog entry has a thin functions/<function>/main.py bound to its step type."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from mhi.catalog import CATALOG
from mhi.model.messages import StepMessage, encode
from tests.fakes.bus import RecordingBus
from tests.functions.conftest import CE_HEADERS, app_client, as_event


def _step(step_type: str) -> bytes:
    return encode(
        StepMessage(
            run_id="r-1",
            flow_id="f",
            account="acme",
            step_id="s",
            attempt=1,
            type=step_type,
            config={"hello": "world"},
            callback_topic="ms-flows-callbacks",
            deadline=datetime.now(UTC) + timedelta(minutes=5),
        )
    )


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.function)
def test_each_function_refuses_messages_of_another_type(
    entry,
    caplog: pytest.LogCaptureFixture,
    bus: RecordingBus,
) -> None:
    other = "ms-echo" if entry.type != "ms-echo" else "ms-kpi-engine"
    event = as_event(_step(other), {"run_id": "r-1"}, "m-1")
    with caplog.at_level(logging.ERROR):
        response = app_client(entry.function).post("/", json=event, headers=CE_HEADERS)
    assert response.status_code == 200
    assert f"delivered to the {entry.type!r} function" in caplog.text
    assert bus.take() == []


@pytest.mark.usefixtures("installed")
def test_the_echo_function_runs_a_step_once_and_reports(bus: RecordingBus) -> None:
    event = as_event(_step("ms-echo"), {"run_id": "r-1"}, "m-2")
    client = app_client("echo")
    assert client.post("/", json=event, headers=CE_HEADERS).status_code == 200
    assert client.post("/", json=event, headers=CE_HEADERS).status_code == 200  # redelivery
    sent = bus.take()
    assert len(sent) == 2 and sent[0] == sent[1]  # ran once; the stored callback is re-sent
    topic, data, attributes = sent[0]
    callback = json.loads(data)
    assert topic == "ms-flows-callbacks"
    assert (callback["status"], callback["output"]) == ("succeeded", {"hello": "world"})
    assert attributes == {"run_id": "r-1", "step_id": "s", "attempt": "1", "kind": "callback"}
