"""functions/controller/main.py through functions-framework: starts, callbacks, sweeps, poison."""

from __future__ import annotations

import json
import logging

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.errors import UpstreamUnavailableError
from mhi.runtime import entry
from mhi.services import Services
from tests.conftest import ROOT
from tests.fakes.bus import RecordingBus
from tests.functions.conftest import (
    CE_HEADERS,
    EVENTS,
    app_client,
    as_event,
    golden,
)

PREFIX = "runs/acme/golden/golden-run-1/"


def _post(function: str, event: dict) -> int:  # type: ignore[type-arg]
    return app_client(function).post("/", json=event, headers=CE_HEADERS).status_code


@pytest.mark.usefixtures("installed")
def test_a_start_freezes_the_flow_and_dispatches_the_first_step(
    bus: RecordingBus, store: MemoryRunStore
) -> None:
    assert _post("controller", golden("start_flow.json")) == 200
    assert store.read(PREFIX + "flow.json") is not None
    [(topic, data, attributes)] = bus.take()
    assert topic == "ms-echo"
    assert attributes == {"run_id": "golden-run-1", "step_id": "a", "attempt": "1", "kind": "step"}
    step = json.loads(data)
    assert (step["step_id"], step["config"], step["callback_topic"]) == (
        "a",
        {"x": 1},
        "ms-flows-callbacks",
    )


@pytest.mark.usefixtures("installed")
def test_a_whole_run_through_the_controller_and_echo_functions(
    bus: RecordingBus, store: MemoryRunStore
) -> None:
    assert _post("controller", golden("start_flow.json")) == 200
    for n in range(2):  # step a, then step b
        [(topic, data, attrs)] = bus.take()
        assert topic == "ms-echo"
        assert _post("echo", as_event(data, attrs, f"step-{n}")) == 200
        [(cb_topic, cb_data, cb_attrs)] = bus.take()
        assert cb_topic == "ms-flows-callbacks"
        assert cb_attrs["kind"] == "callback"
        assert _post("controller", as_event(cb_data, cb_attrs, f"cb-{n}")) == 200
        if n == 1:
            # the same callback delivered again changes nothing
            assert _post("controller", as_event(cb_data, cb_attrs, f"cb-{n}")) == 200
    done = json.loads(store.read(PREFIX + "done.json") or b"{}")
    assert done["status"] == "succeeded"
    assert bus.take() == []


@pytest.mark.usefixtures("installed")
def test_a_redelivered_start_without_run_id_starts_one_run(
    bus: RecordingBus, store: MemoryRunStore
) -> None:
    event = golden("start_flow_no_run_id.json")
    assert _post("controller", event) == 200
    assert _post("controller", event) == 200
    runs = [k for k in store.list("runs/acme/golden/") if k.endswith("/flow.json")]
    assert len(runs) == 1
    assert runs[0].split("/")[3].startswith("20260301T060000Z-")
    assert len(bus.take()) == 1


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("invalid_json.json", "not valid JSON"),
        ("schema_violation.json", "invalid flow"),
        ("unknown_run_callback.json", "(unknown_run)"),
        ("not_pubsub.json", "expected a google.cloud.pubsub.topic.v1.messagePublished"),
        ("empty_message.json", "not valid JSON"),
    ],
)
def test_poison_messages_are_logged_and_acknowledged(
    fixture: str, reason: str, bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert _post("controller", golden(fixture)) == 200
    assert reason in caplog.text
    assert "acknowledged without effect" in caplog.text
    assert bus.take() == []


@pytest.mark.usefixtures("installed")
def test_a_sweep_with_unknown_fields_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    event = as_event(b'{"kind": "sweep", "all": true}', {}, "s-1")
    with caplog.at_level(logging.ERROR):
        assert _post("controller", event) == 200
    assert "unknown field(s) all" in caplog.text


def test_a_transient_failure_answers_500_so_pubsub_redelivers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = RecordingBus(UpstreamUnavailableError("publish to ms-echo: not confirmed"))
    entry.install(Services(Settings.from_env(), bus=failing, run_store=MemoryRunStore()))
    try:
        with caplog.at_level(logging.WARNING):
            assert _post("controller", golden("start_flow.json")) == 500
        assert "will be redelivered (upstream_unavailable)" in caplog.text
    finally:
        entry.reset()


def test_the_emulators_raw_push_body_is_converted_and_handled(
    installed: Services, store: MemoryRunStore
) -> None:
    body = json.loads((EVENTS / "emulator_push_sweep.json").read_text())
    store.create("active/acme/golden/gone", b"{}")  # an index entry without a run
    response = app_client("controller").post("/", json=body)
    assert response.status_code == 200
    assert store.list("active/") == []  # the sweep ran and repaired the index


def test_flow_ref_starts_read_the_flows_folder(
    bus: RecordingBus, store: MemoryRunStore, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=ROOT / ".mhi-unused", flows_dir=ROOT / "flows")
    entry.install(Services(settings, bus=bus, run_store=store))
    try:
        body = json.dumps({"flow_ref": "daily-avalon-extract", "run_id": "ref-run"}).encode()
        assert _post("controller", as_event(body, {}, "ref-1")) == 200
        [(topic, _data, attributes)] = bus.take()
        assert (topic, attributes["run_id"]) == ("ms-extractor-avalon", "ref-run")
        missing = json.dumps({"flow_ref": "no-such-flow"}).encode()
        with caplog.at_level(logging.ERROR):
            assert _post("controller", as_event(missing, {}, "ref-2")) == 200
        assert "no stored flow with that id" in caplog.text
    finally:
        entry.reset()


def test_logs_are_one_json_line_with_severity_and_labels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {
        "kind": "callback",
        "run_id": "r-9",
        "flow_id": "golden",
        "account": "acme",
        "step_id": "a",
        "attempt": 1,
    }  # no status: a schema violation
    attributes = {"run_id": "r-9", "step_id": "a", "attempt": "1", "kind": "callback"}
    event = as_event(json.dumps(body).encode(), attributes, "1006")
    entry.reset()  # built from the environment, as on a cold start
    try:
        assert _post("controller", event) == 200
    finally:
        entry.reset()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    [record] = [r for r in lines if r["severity"] == "ERROR"]
    assert "invalid callback message: $.status: Field required" in record["message"]
    labels = record["logging.googleapis.com/labels"]
    assert labels["message_id"] == "1006"
    assert (labels["run_id"], labels["step_id"], labels["flow_id"]) == ("r-9", "a", "golden")
