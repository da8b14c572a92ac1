"""Every bad input gets a clear error and changes nothing; duplicates change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.errors import FlowDefinitionError, InvalidMessageError, UnknownRunError
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus, StepMessage
from mhi.runtime.controller import Controller
from mhi.runtime.start import FolderFlowSource, parse_start, start_run
from tests.conftest import ROOT
from tests.fakes.bus import RecordingBus

TYPES = frozenset({"ms-echo"})
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _setup() -> tuple[MemoryRunStore, RecordingBus, Controller]:
    store, bus = MemoryRunStore(), RecordingBus()
    return store, bus, Controller(store, bus, lambda: NOW)


FLOW = {
    "flow_id": "f",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "a", "type": "ms-echo"},
            {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
        ]
    },
}


def _cb(step: StepMessage, **kw: Any) -> CallbackMessage:
    fields = {
        "run_id": step.run_id,
        "flow_id": step.flow_id,
        "account": step.account,
        "step_id": step.step_id,
        "attempt": step.attempt,
        "status": CallbackStatus.SUCCEEDED,
        **kw,
    }
    return CallbackMessage(**fields)


def _started() -> tuple[MemoryRunStore, RecordingBus, Controller, RunRef]:
    store, bus, ctl = _setup()
    ref, created = start_run(ctl, parse_start({**FLOW, "run_id": "r1"}, None, TYPES))
    assert created
    return store, bus, ctl, ref


@pytest.mark.parametrize(
    ("message", "error", "text"),
    [
        (b"{not json", InvalidMessageError, "not valid JSON"),
        (b"[1, 2]", InvalidMessageError, "must be a JSON object"),
        (
            b'{"flow_id": "f", "account": "acme"}',
            FlowDefinitionError,
            "$.flow_config: Field required",
        ),
        (
            json.dumps(
                {
                    **FLOW,
                    "flow_config": {
                        "steps": [
                            {"id": "a", "type": "ms-echo", "depends_on": ["b"]},
                            {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
                        ]
                    },
                }
            ).encode(),
            FlowDefinitionError,
            "dependency cycle: ",
        ),
        (
            json.dumps(
                {**FLOW, "flow_config": {"steps": [{"id": "a", "type": "ms-nope"}]}}
            ).encode(),
            FlowDefinitionError,
            "unknown step type 'ms-nope'",
        ),
        (
            json.dumps({**FLOW, "run_id": "../../etc"}).encode(),
            InvalidMessageError,
            "invalid run_id",
        ),
        (
            json.dumps({**FLOW, "run_params": {"x": 1}}).encode(),
            FlowDefinitionError,
            "$.params.x: unknown param",
        ),
        (b'{"flow_ref": "nope"}', InvalidMessageError, "no stored flow with that id"),
        (b'{"flow_ref": "a/b"}', InvalidMessageError, "flow_ref"),
    ],
)
def test_bad_start_messages_are_clear_and_change_nothing(
    message: bytes, error: type, text: str
) -> None:
    store, bus, _ctl = _setup()
    with pytest.raises(error) as info:
        parse_start(message, FolderFlowSource(ROOT / "flows"), TYPES)
    assert text in str(info.value)
    assert store.objects == {} and bus.published == []


def test_start_dispatches_roots_and_freezes_the_flow() -> None:
    store, bus, _ctl, ref = _started()
    assert [m.step_id for m in bus.steps()] == ["a"]
    frozen = json.loads(store.objects[ref.prefix + "flow.json"])
    assert frozen["flow"]["flow_id"] == "f" and frozen["run_id"] == "r1"
    assert store.list("active/") == ["active/acme/f/r1"]
    topic, _data, attributes = bus.published[0]
    assert topic == "ms-echo" and attributes == {
        "run_id": "r1",
        "step_id": "a",
        "attempt": "1",
        "kind": "step",
    }


def test_duplicate_start_starts_nothing_new() -> None:
    store, bus, ctl, _ref = _started()
    before = dict(store.objects)
    _ref2, created = start_run(ctl, parse_start({**FLOW, "run_id": "r1"}, None, TYPES))
    assert not created
    assert store.objects == before and len(bus.published) == 1


def test_duplicate_callback_changes_nothing() -> None:
    store, bus, ctl, _ref = _started()
    step = bus.steps()[0]
    ctl.on_callback(_cb(step, output={"n": 1}))
    snapshot, sent = dict(store.objects), len(bus.published)
    ctl.on_callback(_cb(step, output={"n": 2}))
    Controller(store, bus, lambda: NOW).on_callback(_cb(step, output={"n": 3}))  # another instance
    assert store.objects == snapshot and len(bus.published) == sent


def test_out_of_order_callback_for_a_stale_attempt_is_ignored() -> None:
    store, bus, ctl, ref = _started()
    step = bus.steps()[0]
    ctl.on_callback(
        _cb(
            step,
            status=CallbackStatus.FAILED,
            error={"kind": "x", "message": "m", "retryable": True},
        )
    )
    snapshot = dict(store.objects)
    ctl.on_callback(_cb(step))  # a late report of attempt 1 after it failed: first result wins
    assert store.objects == snapshot
    assert json.loads(store.objects[ref.prefix + "steps/a/1/result.json"])["status"] == "failed"


@pytest.mark.parametrize(
    ("change", "error", "text"),
    [
        ({"run_id": "nope"}, UnknownRunError, "no run 'nope'"),
        ({"step_id": "zz"}, UnknownRunError, "has no step 'zz'"),
        ({"attempt": 2}, InvalidMessageError, "never dispatched"),
        ({"step_id": "b"}, InvalidMessageError, "never dispatched"),
        (
            {"output": {"blob": "x" * 70_000}},
            InvalidMessageError,
            "output is 70012 bytes, the limit is 65536",
        ),
    ],
)
def test_bad_callbacks_are_clear_and_change_nothing(
    change: dict[str, Any], error: type, text: str
) -> None:
    store, bus, ctl, _ref = _started()
    step = bus.steps()[0]
    snapshot, sent = dict(store.objects), len(bus.published)
    cb = _cb(step).model_copy(update=change)
    with pytest.raises(error, match=text):
        ctl.on_callback(cb)
    assert store.objects == snapshot and len(bus.published) == sent


def test_callback_then_next_step_then_finish() -> None:
    store, bus, ctl, ref = _started()
    ctl.on_callback(_cb(bus.steps()[0], output={"rows": 3}))
    b = bus.steps()[1]
    assert b.step_id == "b" and b.upstream == {"a": {"rows": 3}}
    ctl.on_callback(_cb(b))
    assert json.loads(store.objects[ref.prefix + "done.json"])["status"] == "succeeded"
    assert store.list("active/") == []


def test_flow_ref_start_uses_stored_flow_and_params(tmp_path: Any) -> None:
    (tmp_path / "x.json").write_text(json.dumps({**FLOW, "params": {"day": {"required": True}}}))
    source = FolderFlowSource(tmp_path)
    with pytest.raises(FlowDefinitionError, match=r"\$\.params\.day: required param not given"):
        parse_start({"flow_ref": "f"}, source, TYPES)
    request = parse_start(
        {"flow_ref": "f", "params": {"day": "2024-01-01"}, "run_id": "s1"}, source, TYPES
    )
    assert request.params == {"day": "2024-01-01"} and request.run_id == "s1"


def test_flow_level_notification_is_dispatched_once_when_the_run_ends() -> None:
    store, bus, ctl = _setup()
    flow = {
        **FLOW,
        "notifications": {
            "success": {"type": ["outbox"], "recipients": "a@example.com"},
            "fail": {"type": "outbox", "recipients": ["b@example.com"]},
        },
    }
    ref, _ = start_run(ctl, parse_start({**flow, "run_id": "n1"}, None, TYPES))
    ctl.on_callback(_cb(bus.steps()[0]))
    ctl.on_callback(_cb(bus.steps()[1]))
    notes = [m for m in bus.steps() if m.step_id == "_notify"]
    assert len(notes) == 1 and notes[0].type == "ms-notifications"
    assert notes[0].config == {
        "type": ["outbox"],
        "recipients": ["a@example.com"],
        "event": "success",
    }
    summary = notes[0].upstream["_run"]
    assert summary["status"] == "succeeded" and [s["id"] for s in summary["steps"]] == ["a", "b"]
    ctl.sweep()  # a sweep after the end sends nothing more
    Controller(store, bus, lambda: NOW).on_callback(_cb(notes[0]))
    assert len([m for m in bus.steps() if m.step_id == "_notify"]) == 1
    assert (
        json.loads(store.objects[ref.prefix + "steps/_notify/1/result.json"])["status"]
        == "succeeded"
    )
    assert store.list("active/") == []
