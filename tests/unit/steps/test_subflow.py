"""`ms-sub-flow` turn by turn, on an in-memory store, a recording bus and a fake clock: the child
is started once per attempt through the controller topic, followed, and its end becomes the
step's outcome. The child's runs are carried out by a real controller on the same store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.constants import CONTROLLER_TOPIC
from mhi.errors import UpstreamUnavailableError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus, ErrorInfo, StepMessage
from mhi.model.validate import parse_flow
from mhi.runtime.controller import Controller
from mhi.runtime.embedded import request_cancel
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router
from mhi.runtime.start import StartRequest, start_run
from mhi.runtime.subflows import child_run_id
from mhi.services import Services
from mhi.steps.sdk import run_step
from mhi.steps.subflow import MAX_TRANSIENT_POLLS, SUB_FLOW
from tests.fakes.bus import RecordingBus
from tests.fakes.timers import FakeClock

PARENT = RunRef("acme", "report", "r1")
INGEST = {
    "flow_id": "ingest",
    "account": "acme",
    "params": {"hotel": {"required": True}},
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"hotel": "{{ params.hotel }}"}},
            {"id": "load", "type": "ms-echo", "depends_on": ["extract"]},
        ]
    },
}


class World:
    """A store, a bus and a clock shared by the parent's step and the child's controller."""

    def __init__(self, tmp_path: Path) -> None:
        flows = tmp_path / "flows"
        flows.mkdir()
        (flows / "ingest.json").write_text(json.dumps(INGEST))
        self.store = MemoryRunStore()
        self.bus = RecordingBus()
        self.clock = FakeClock()
        settings = Settings(home=tmp_path, flows_dir=flows)
        self.services = Services(settings, run_store=self.store, bus=self.bus, clock=self.clock)
        self.controller = Controller(self.store, RecordingBus(), self.clock.now)

    def turn(
        self, config: dict[str, Any], turn: int = 0, continuation: Any = None, attempt: int = 1
    ) -> CallbackMessage:
        message = StepMessage(
            run_id=PARENT.run_id,
            flow_id=PARENT.flow_id,
            account=PARENT.account,
            step_id="ingest",
            attempt=attempt,
            turn=turn,
            type="ms-sub-flow",
            config=config,
            continuation=continuation,
            callback_topic="ms-flows-callbacks",
            deadline=self.clock.now() + timedelta(minutes=5),
        )
        return run_step(message, SUB_FLOW, self.services)

    def starts(self) -> list[dict[str, Any]]:
        bodies = [json.loads(m.data) for m in self.bus.take() if m.topic == CONTROLLER_TOPIC]
        return [b for b in bodies if "flow_ref" in b]

    def start_child(self, body: dict[str, Any]) -> RunRef:
        """What the controller does with the published start: parse it (the flow comes from
        the stored flows) and start the run."""
        types = frozenset({"ms-echo"})
        router = Router(lambda: self.controller, self.services.flows, lambda: types)
        request = router.start_request(PubSubMessage(json.dumps(body).encode()))
        return start_run(self.controller, request)[0]

    def finish_child(self, child: RunRef, error: str | None = None) -> None:
        """Report every dispatched step of the child: succeeded, or `load` failed."""
        for step in ("extract", "load"):
            failed = error is not None and step == "load"
            self.controller.on_callback(
                CallbackMessage(
                    run_id=child.run_id,
                    flow_id=child.flow_id,
                    account=child.account,
                    step_id=step,
                    attempt=1,
                    status=CallbackStatus.FAILED if failed else CallbackStatus.SUCCEEDED,
                    output={} if failed else {"rows": 3, "step": step},
                    error=ErrorInfo(message=error, retryable=False) if failed else None,
                )
            )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


CONFIG = {"flow_ref": "ingest", "params": {"hotel": "h1"}, "poll_seconds": 5}


def test_first_turn_starts_the_child_once_per_attempt_and_names_the_parent(world: World) -> None:
    first = world.turn(CONFIG)
    assert first.status == CallbackStatus.WAITING and first.poll_after_seconds == 5
    (body,) = world.starts()
    expected_id = child_run_id(PARENT, "ingest", 1)
    assert body["run_id"] == expected_id and body["flow_ref"] == "ingest"
    assert body["params"] == {"hotel": "h1"}
    assert body["parent"] == {
        "account": "acme",
        "flow_id": "report",
        "run_id": "r1",
        "step_id": "ingest",
        "attempt": 1,
    }
    claim = world.store.read(PARENT.key(keys.claim_key("ingest", 1, "child")))
    assert claim is not None and json.loads(claim)["run_id"] == expected_id
    # a redelivery of the same turn asks for the same child; a retry asks for a new one
    world.turn(CONFIG)
    world.turn(CONFIG, attempt=2)
    again, retried = world.starts()
    assert again["run_id"] == expected_id
    assert retried["run_id"] == child_run_id(PARENT, "ingest", 2) != expected_id


def test_child_run_ids_differ_between_parents_of_other_flows_with_the_same_run_id() -> None:
    other = RunRef("acme", "other-report", PARENT.run_id)
    assert child_run_id(PARENT, "ingest", 1) != child_run_id(other, "ingest", 1)
    long = RunRef("acme", "f", "r" * 128)
    assert len(child_run_id(long, "s", 1)) == 128


def test_the_child_run_freezes_its_parent_and_the_poll_returns_its_outputs(world: World) -> None:
    waiting = world.turn(CONFIG)
    child = world.start_child(world.starts()[0])
    frozen = json.loads(world.store.read(child.key(keys.FLOW)) or b"{}")
    assert frozen["parent"]["run_id"] == "r1" and frozen["parent"]["step_id"] == "ingest"
    still = world.turn(CONFIG, 1, waiting.continuation)
    assert still.status == CallbackStatus.WAITING
    world.finish_child(child)
    done = world.turn(CONFIG, 2, still.continuation)
    assert done.status == CallbackStatus.SUCCEEDED
    assert done.output == {
        "account": "acme",
        "flow_id": "ingest",
        "run_id": child.run_id,
        "status": "succeeded",
        "outputs": {"load": {"rows": 3, "step": "load"}},  # the final step by default
    }
    picked = world.turn({**CONFIG, "outputs": ["extract"]}, 3, still.continuation)
    assert picked.output["outputs"] == {"extract": {"rows": 3, "step": "extract"}}


def test_a_failed_child_fails_the_step_retryably_with_its_error(world: World) -> None:
    waiting = world.turn(CONFIG)
    child = world.start_child(world.starts()[0])
    world.finish_child(child, error="bad ledger")
    failed = world.turn(CONFIG, 1, waiting.continuation)
    assert failed.status == CallbackStatus.FAILED and failed.error is not None
    assert failed.error.kind == "sub_flow_failed" and failed.error.retryable
    assert f"sub-flow 'ingest' run {child.run_id} failed" in failed.error.message
    assert "step 'load' failed: bad ledger" in failed.error.message


def test_a_cancelled_child_fails_the_step_without_retry(world: World) -> None:
    waiting = world.turn(CONFIG)
    child = world.start_child(world.starts()[0])
    request_cancel(world.controller, child, "not today")
    world.controller.advance(child, full_refresh=True)
    failed = world.turn(CONFIG, 1, waiting.continuation)
    assert failed.error is not None and failed.error.kind == "sub_flow_cancelled"
    assert not failed.error.retryable and "not today" in failed.error.message


def test_a_start_not_carried_out_is_published_again_then_given_up(world: World) -> None:
    waiting = world.turn({**CONFIG, "start_timeout_seconds": 60})
    world.starts()
    world.clock.advance(30)
    again = world.turn({**CONFIG, "start_timeout_seconds": 60}, 1, waiting.continuation)
    assert again.status == CallbackStatus.WAITING
    assert [b["run_id"] for b in world.starts()] == [child_run_id(PARENT, "ingest", 1)]
    world.clock.advance(31)
    gave_up = world.turn({**CONFIG, "start_timeout_seconds": 60}, 2, again.continuation)
    assert gave_up.error is not None and gave_up.error.retryable
    assert "did not start within 60s" in gave_up.error.message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"flow_ref": "nope"}, "config.flow_ref 'nope': flow_ref 'nope': no stored flow"),
        ({"flow_ref": "ingest"}, "$.params.hotel: required param not given"),
        ({"flow_ref": "ingest", "params": {"hotel": 1, "x": 2}}, "$.params.x: unknown param"),
        (
            {"flow_ref": "ingest", "params": {"hotel": 1}, "outputs": ["lod"]},
            "config.outputs: flow 'ingest' has no step 'lod' (its steps: extract, load)",
        ),
    ],
)
def test_a_child_that_cannot_start_fails_the_step_at_once_saying_why(
    world: World, config: dict[str, Any], expected: str
) -> None:
    failed = world.turn(config)
    assert failed.status == CallbackStatus.FAILED and failed.error is not None
    assert expected in failed.error.message and not failed.error.retryable
    assert world.starts() == []


def test_a_flow_that_would_run_its_own_ancestor_is_refused(world: World) -> None:
    """report (r1) is itself the child of ingest (r0): running ingest again is a cycle."""
    frozen = {"run_id": "r1", "parent": {"account": "acme", "flow_id": "ingest", "run_id": "r0"}}
    world.store.create(PARENT.key(keys.FLOW), json.dumps(frozen).encode())
    world.store.create(RunRef("acme", "ingest", "r0").key(keys.FLOW), b'{"run_id": "r0"}')
    failed = world.turn(CONFIG)
    assert failed.error is not None
    assert "sub-flow cycle: ingest -> report -> ingest" in failed.error.message
    assert world.starts() == []


def test_a_parent_cancelled_before_the_start_starts_no_child(world: World) -> None:
    world.store.create(PARENT.key(keys.cancel_key()), b'{"reason": "stop"}')
    failed = world.turn(CONFIG)
    assert failed.error is not None and "ended before its sub-flow started" in failed.error.message
    assert world.starts() == []


def test_a_retry_cancels_the_previous_attempts_child_if_it_still_runs(world: World) -> None:
    world.turn(CONFIG)
    first = world.start_child(world.starts()[0])
    world.turn(CONFIG, attempt=2)
    wake, start = world.bus.take()
    cancel = json.loads(world.store.read(first.key(keys.cancel_key())) or b"{}")
    assert cancel["reason"] == "attempt 2 of step ingest replaces it"
    assert json.loads(wake.data) == {"kind": "wake", "account": "acme", "flow_id": "ingest"} | {
        "run_id": first.run_id
    }
    assert json.loads(start.data)["run_id"] == child_run_id(PARENT, "ingest", 2)
    world.controller.advance(first, full_refresh=True)
    done = json.loads(world.store.read(first.key(keys.done_key())) or b"{}")
    assert done["status"] == "cancelled"
    # the second child's start never arrived: it gets the cancel (a late start ends at once),
    # and no wake-up (there is no run to wake)
    world.turn(CONFIG, attempt=3)
    second = RunRef("acme", "ingest", child_run_id(PARENT, "ingest", 2))
    assert world.store.read(second.key(keys.cancel_key())) is not None
    assert [json.loads(m.data)["run_id"] for m in world.bus.take()] == [
        child_run_id(PARENT, "ingest", 3)
    ]
    late = world.start_child(
        {"flow_ref": "ingest", "run_id": second.run_id, "params": {"hotel": "h1"}}
    )
    world.controller.advance(late)
    assert json.loads(world.store.read(late.key(keys.done_key())) or b"{}")["status"] == (
        "cancelled"
    )


class FlakyStore(MemoryRunStore):
    """Reads fail (the store is unavailable) while `down` is set."""

    down = False

    def read(self, key: str) -> bytes | None:
        if self.down:
            raise UpstreamUnavailableError("storage: 503")
        return super().read(key)


def test_transient_errors_while_looking_wait_for_the_next_look_then_give_up(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.store = FlakyStore()
    world.services = Services(
        world.services.settings, run_store=world.store, bus=world.bus, clock=world.clock
    )
    state = world.turn(CONFIG).continuation
    world.store.down = True
    for turn in range(1, MAX_TRANSIENT_POLLS + 1):
        answer = world.turn(CONFIG, turn, state)
        assert answer.status == CallbackStatus.WAITING, answer.error
        state = answer.continuation
    assert state is not None and state["transient"] == MAX_TRANSIENT_POLLS
    gave_up = world.turn(CONFIG, MAX_TRANSIENT_POLLS + 1, state)
    assert gave_up.error is not None and gave_up.error.message == "storage: 503"
    world.store.down = False
    back = world.turn(CONFIG, 2, {**state, "transient": 5})
    assert back.status == CallbackStatus.WAITING and back.continuation is not None
    assert "transient" not in back.continuation  # a good look resets the count


def test_a_parent_that_times_out_cancels_the_child_its_sub_flow_step_waits_for(
    world: World,
) -> None:
    """Through the real controller: the parent's step turn starts the child, the parent's
    flow timeout ends the parent, and the child is cancelled and woken before the parent's
    `done` is written."""
    parent_flow = parse_flow(
        {
            "flow_id": "report",
            "account": "acme",
            "timeout_seconds": 60,
            "flow_config": {
                "steps": [{"id": "ingest", "type": "ms-sub-flow", "config": CONFIG}],
            },
        }
    )
    controller_bus = world.controller.bus
    assert isinstance(controller_bus, RecordingBus)
    start_run(world.controller, StartRequest(parent_flow, {}, PARENT.run_id))
    (step,) = controller_bus.steps()
    callback = run_step(step, SUB_FLOW, world.services)
    world.controller.on_callback(callback)
    child = world.start_child(world.starts()[0])
    world.clock.advance(61)
    controller_bus.take()
    world.controller.advance(PARENT)
    assert json.loads(world.store.read(PARENT.key(keys.done_key())) or b"{}")["status"] == (
        "timed_out"
    )
    cancel = json.loads(world.store.read(child.key(keys.cancel_key())) or b"{}")
    assert cancel["reason"] == "parent run r1 (report) ended: flow timed out after 60s"
    woken = [json.loads(m.data) for m in controller_bus.take() if m.topic == CONTROLLER_TOPIC]
    assert woken == [
        {"kind": "wake", "account": "acme", "flow_id": "ingest", "run_id": child.run_id}
    ]
    world.controller.advance(child, full_refresh=True)
    assert json.loads(world.store.read(child.key(keys.done_key())) or b"{}")["status"] == (
        "cancelled"
    )


def test_the_child_of_a_scheduled_run_is_for_the_same_slot(world: World) -> None:
    slot = "2026-03-01T06:00:00+01:00"
    frozen = {"run_id": "r1", "logical_time": slot}
    world.store.create(PARENT.key(keys.FLOW), json.dumps(frozen).encode())
    world.turn(CONFIG)
    (body,) = world.starts()
    assert body["logical_time"] == slot
    child = world.start_child(body)
    assert json.loads(world.store.read(child.key(keys.FLOW)) or b"{}")["logical_time"] == slot


def test_a_child_whose_account_is_a_param_runs_under_the_account_given(world: World) -> None:
    per_hotel = {**INGEST, "flow_id": "hotel-ingest", "account": "{{ params.hotel }}"}
    (world.services.settings.flows_dir / "hotel-ingest.json").write_text(json.dumps(per_hotel))
    config = {"flow_ref": "hotel-ingest", "params": {"hotel": "hotel-marina"}}
    waiting = world.turn(config)
    assert waiting.continuation is not None
    assert waiting.continuation["child"]["account"] == "hotel-marina"
    child = world.start_child(world.starts()[0])
    assert child == RunRef("hotel-marina", "hotel-ingest", child_run_id(PARENT, "ingest", 1))
