"""Running one generic step the way a step function does, without a bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from mhi.model.messages import CallbackMessage, StepMessage
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind, run_step


@dataclass
class FixedClock:
    """A clock the test moves by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at


def message(
    step_type: str,
    config: dict[str, Any],
    services: Services,
    **fields: Any,
) -> StepMessage:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "flow_id": "flow-1",
        "account": "acme",
        "step_id": "step-1",
        "attempt": 1,
        "type": step_type,
        "config": config,
        "callback_topic": "ms-flows-callbacks",
        "deadline": services.clock.now() + timedelta(minutes=5),
    }
    return StepMessage(**(values | fields))


def call(
    kind: StepKind[Any], config: dict[str, Any], services: Services, **fields: Any
) -> dict[str, Any]:
    """Validate the config and call the handler: errors raise as they are."""
    msg = message(kind.type, config, services, **fields)
    parsed: BaseModel = kind.parse_config(config)
    out = kind.handler(StepContext(msg, services), parsed)
    assert isinstance(out, dict)
    return out


def turn(
    kind: StepKind[Any], config: dict[str, Any], services: Services, **fields: Any
) -> CallbackMessage:
    """Run one turn through the step SDK: the callback a step function would publish."""
    return run_step(message(kind.type, config, services, **fields), kind, services)
