"""Templates at run time: list indexes written `.0`, and errors that name their template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.engine import DispatchStep, decide
from mhi.model.messages import CallbackStatus, StepMessage
from mhi.services import Services
from mhi.steps.builtin import ECHO
from mhi.steps.sdk import run_step
from tests.fakes.bus import RecordingBus
from tests.unit.engine.helpers import at, flow, ran, state


def _two_steps(config: dict[str, object]) -> DispatchStep:
    s = state(flow({"id": "x"}, {"id": "y", "depends_on": ["x"], "config": config}))
    ran(s, "x", output={"hotels": [{"name": "Fergus"}, {"name": "Palma"}], "items": [1, 2]})
    [action] = decide(s, at(2)).actions
    assert isinstance(action, DispatchStep)
    return action


def test_a_list_index_may_be_written_with_a_dot() -> None:
    action = _two_steps(
        {
            "first": "{{ steps.x.output.hotels.0.name }}",
            "second": "{{ steps.x.output.hotels[1].name }}",
        }
    )
    assert action.config == {"first": "Fergus", "second": "Palma"}


def test_the_message_says_which_template_produced_each_value() -> None:
    action = _two_steps({"sleep_seconds": "{{ steps.x.output.items }}", "plain": 3})
    assert action.templates == {"config.sleep_seconds": "{{ steps.x.output.items }}"}


def test_a_value_of_the_wrong_type_names_the_template_it_came_from() -> None:
    action = _two_steps({"sleep_seconds": "{{ steps.x.output.items }}"})
    message = StepMessage(
        run_id="r1",
        flow_id="f",
        account="acme",
        step_id="y",
        attempt=1,
        type="ms-echo",
        config=action.config,
        templates=action.templates,
        callback_topic="ms-flows-callbacks",
        deadline=datetime.now(UTC) + timedelta(minutes=5),
    )
    services = Services(Settings(), run_store=MemoryRunStore(), bus=RecordingBus())
    callback = run_step(message, ECHO, services)
    assert callback.status == CallbackStatus.FAILED and callback.error is not None
    assert "config.sleep_seconds: Input should be a valid number" in callback.error.message
    assert "came from the template '{{ steps.x.output.items }}'" in callback.error.message
