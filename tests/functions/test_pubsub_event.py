"""pubsub_event.decode against golden CloudEvents (Eventarc's shape and the emulator's)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent

from mhi.errors import InvalidMessageError
from mhi.runtime.pubsub_event import decode
from tests.functions.conftest import EVENTS, golden


def test_decodes_a_start_message_with_ids_time_and_trace() -> None:
    message = decode(golden("start_flow.json"))
    assert json.loads(message.data)["flow_id"] == "golden"
    assert message.attributes == {}
    assert message.message_id == "1001"
    assert message.publish_time == datetime(2026, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)
    assert message.subscription == "projects/mhi-local/subscriptions/eventarc-ms-flows-controller"
    assert message.trace_id == "0af7651916cd43dd8448eb211c80319c"


def test_decodes_a_cloudevent_object_as_functions_framework_passes_it() -> None:
    raw = golden("unknown_run_callback.json")
    event = CloudEvent({k: v for k, v in raw.items() if k != "data"}, raw["data"])
    message = decode(event)
    assert message.attributes == {
        "run_id": "no-such-run",
        "step_id": "a",
        "attempt": "1",
        "kind": "callback",
    }
    assert json.loads(message.data)["kind"] == "callback"


def test_an_empty_message_has_empty_data() -> None:
    message = decode(golden("empty_message.json"))
    assert message.data == b""
    assert message.attributes == {"origin": "scheduler"}


def test_data_given_as_json_text_is_accepted() -> None:
    raw = golden("sweep.json")
    raw["data"] = json.dumps(raw["data"])
    assert decode(raw).data == b'{"kind": "sweep"}'


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda e: e.update(type="google.cloud.storage.object.v1.finalized"), "expected a"),
        (lambda e: e.update(data={"nomessage": 1}), "no Pub/Sub 'message'"),
        (lambda e: e.update(data="{not json"), "not JSON"),
        (lambda e: e["data"]["message"].update(data="***"), "not valid base64"),
        (lambda e: e["data"]["message"].update(data=12), "must be a base64 string"),
        (lambda e: e["data"]["message"].update(attributes={"a": 1}), "strings to strings"),
    ],
)
def test_malformed_events_are_invalid_messages(mutate, error: str) -> None:
    event = golden("sweep.json")
    mutate(event)
    with pytest.raises(InvalidMessageError, match=error):
        decode(event)


def test_every_golden_event_decodes_or_is_rejected_clearly() -> None:
    for path in sorted(EVENTS.glob("*.json")):
        raw = json.loads(path.read_text())
        if "specversion" not in raw:
            continue  # a raw push body: functions-framework turns it into a CloudEvent first
        if raw["type"] != "google.cloud.pubsub.topic.v1.messagePublished":
            with pytest.raises(InvalidMessageError):
                decode(raw)
            continue
        message = decode(raw)
        expected = raw["data"]["message"].get("data")
        assert message.data == (base64.b64decode(expected) if expected else b""), path.name
