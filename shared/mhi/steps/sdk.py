"""The step SDK: what every step function uses.

A step type is a `StepKind`: a pydantic config model plus a handler
`handler(ctx: StepContext, config: ConfigModel) -> dict | Wait`. The SDK parses the step
message, validates the config, calls the handler and turns whatever happens into exactly one
callback message: the output on success, `Wait` to be polled again later (long jobs such as Qlik
reloads), or a failure with `retryable` set from the error model. A handler exception is never
lost: it becomes a failed callback.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from mhi.constants import MAX_OUTPUT_BYTES
from mhi.errors import InvalidMessageError, OrchestratorError, StepConfigError
from mhi.model import keys
from mhi.model.messages import (
    CallbackMessage,
    CallbackStatus,
    ErrorInfo,
    StepMessage,
    encode,
    parse_step,
)
from mhi.model.outcomes import callback_of, outcome_record
from mhi.model.problems import format_validation_error
from mhi.services import Services
from mhi.steps.lease import Lease

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass(frozen=True)
class Wait:
    """Returned by a handler that is not finished: call me again after `poll_after_seconds`
    with `state` as `ctx.continuation` (no function instance is held while waiting)."""

    state: dict[str, Any]
    poll_after_seconds: float = 30.0


def _from_template(path: str, templates: Mapping[str, str]) -> str:
    """` (from the template '...')` when a template produced the value at `path` or above it."""
    for candidate, template in templates.items():
        if path == candidate or path.startswith((candidate + ".", candidate + "[")):
            return f" (the value came from the template {template!r})"
    return ""


@dataclass(frozen=True)
class StepKind(Generic[ConfigT]):
    """A step type: its config model and its handler."""

    type: str
    config_model: builtins.type[ConfigT]  # `type` is also a field of this class
    handler: Callable[[StepContext, ConfigT], dict[str, Any] | Wait]
    summary: str = ""

    def parse_config(
        self, raw: Mapping[str, Any], templates: Mapping[str, str] | None = None
    ) -> ConfigT:
        """Validate a rendered config; raise StepConfigError listing every problem with its path
        (and, for a value a template produced, that template: `templates` maps paths to them)."""
        try:
            return self.config_model.model_validate(dict(raw))
        except ValidationError as e:
            lines = "; ".join(
                f"{p}: {m}{_from_template(p, templates or {})}"
                for p, m in format_validation_error(e, "config")
            )
            raise StepConfigError(f"invalid config for {self.type}: {lines}") from e

    def options(self) -> dict[str, Any]:
        """Return the JSON schema of the config (what `mhi steps` prints)."""
        return self.config_model.model_json_schema()


@dataclass
class StepContext:
    """What a handler gets besides its config: ids, upstream outputs, ports, a logger."""

    message: StepMessage
    services: Services
    log: logging.LoggerAdapter[logging.Logger] = field(init=False)

    def __post_init__(self) -> None:
        self.log = logging.LoggerAdapter(logger, {"run_id": self.message.run_id})

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.message.run_id

    @property
    def account(self) -> str:
        """The account (tenant) the flow runs for: scopes secrets, storage and datasets."""
        return self.message.account

    @property
    def flow_id(self) -> str:
        """The flow's id."""
        return self.message.flow_id

    @property
    def step_id(self) -> str:
        """The step's id (`<step>.<index>` for a for_each child)."""
        return self.message.step_id

    @property
    def attempt(self) -> int:
        """The attempt number, from 1."""
        return self.message.attempt

    @property
    def upstream(self) -> dict[str, dict[str, Any]]:
        """Outputs of the steps this step depends on, by step id."""
        return self.message.upstream

    @property
    def params(self) -> dict[str, Any]:
        """The run's params."""
        return self.message.params

    @property
    def item(self) -> Any:
        """The for_each item this child runs for (None outside for_each)."""
        return self.message.item

    @property
    def continuation(self) -> dict[str, Any] | None:
        """The state a previous turn returned in `Wait`, or None on the first turn."""
        return self.message.continuation

    @property
    def deadline(self) -> datetime:
        """When the controller stops waiting for this turn."""
        return self.message.deadline

    def secret(self, name: str) -> str:
        """Return secret `name` of this step's account (never log it)."""
        return self.services.secrets.get(self.account, name)

    def claim(self, name: str, value: dict[str, Any]) -> dict[str, Any]:
        """Record `value` under `name` for this attempt once; return the value that won.

        Use it to make side effects idempotent across duplicate deliveries and turns (e.g. the
        reload id a Qlik step started).
        """
        m = self.message
        key = m.ref.key(keys.claim_key(m.step_id, m.attempt, name))
        store = self.services.run_store
        if store.create(key, json.dumps(value).encode()):
            return value
        existing = store.read(key)
        return json.loads(existing) if existing else value


def _failure(
    message: StepMessage, error: ErrorInfo, started: datetime, now: datetime
) -> CallbackMessage:
    return _callback(message, CallbackStatus.FAILED, started, now, error=error)


def _callback(
    message: StepMessage,
    status: CallbackStatus,
    started: datetime,
    now: datetime,
    **fields: Any,
) -> CallbackMessage:
    return CallbackMessage(
        run_id=message.run_id,
        flow_id=message.flow_id,
        account=message.account,
        step_id=message.step_id,
        attempt=message.attempt,
        turn=message.turn,
        status=status,
        started_at=started,
        finished_at=now,
        **fields,
    )


def run_step(message: StepMessage, kind: StepKind[Any], services: Services) -> CallbackMessage:
    """Run one turn of a step and return its callback. Never raises for a handler failure."""
    clock = services.clock
    started, t0 = clock.now(), time.perf_counter()
    try:
        config = kind.parse_config(message.config, message.templates)
        result = kind.handler(StepContext(message, services), config)
    except OrchestratorError as e:
        log = logger.warning if e.retryable else logger.error
        log("step %s attempt %d failed: %s", message.step_id, message.attempt, e)
        return _failure(message, ErrorInfo(**e.to_info()), started, clock.now())
    except Exception as e:  # an unexpected bug or library error: retryable, per the retry policy
        logger.exception("step %s attempt %d raised", message.step_id, message.attempt)
        info = ErrorInfo(
            kind="unexpected", message=f"{type(e).__name__}: {e}"[:2000], retryable=True
        )
        return _failure(message, info, started, clock.now())
    metrics = {"duration_seconds": round(time.perf_counter() - t0, 6)}
    if isinstance(result, Wait):
        return _callback(
            message,
            CallbackStatus.WAITING,
            started,
            clock.now(),
            continuation=result.state,
            poll_after_seconds=result.poll_after_seconds,
            metrics=metrics,
        )
    return _success(message, result, started, clock.now(), metrics)


def _json_default(value: Any) -> Any:
    # Dates, times, paths and decimals have one obvious JSON form; anything else is a handler bug.
    from datetime import date
    from datetime import time as dtime
    from decimal import Decimal
    from pathlib import PurePath

    if isinstance(value, date | dtime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _success(
    message: StepMessage, output: Any, started: datetime, now: datetime, metrics: dict[str, Any]
) -> CallbackMessage:
    if not isinstance(output, dict):
        info = ErrorInfo(
            kind="bad_output",
            message=f"handler returned {type(output).__name__}, expected a JSON object",
            retryable=False,
        )
        return _failure(message, info, started, now)
    try:
        size = len(json.dumps(output, default=_json_default).encode())
    except (TypeError, ValueError) as e:
        info = ErrorInfo(kind="bad_output", message=f"output is not JSON: {e}", retryable=False)
        return _failure(message, info, started, now)
    if size > MAX_OUTPUT_BYTES:
        info = ErrorInfo(
            kind="output_too_large",
            message=(
                f"output is {size} bytes, the limit is {MAX_OUTPUT_BYTES}: put large data in "
                "the warehouse or a blob and return its name or URI"
            ),
            retryable=False,
        )
        return _failure(message, info, started, now)
    if "rows" in output and isinstance(output["rows"], int):
        metrics["rows"] = output["rows"]
    output = json.loads(json.dumps(output, default=_json_default))
    return _callback(
        message, CallbackStatus.SUCCEEDED, started, now, output=output, metrics=metrics
    )


def _republish(message: StepMessage, services: Services) -> CallbackMessage | None:
    """A duplicate delivery: if the first delivery stored this turn's outcome (its publish may
    have failed), send its callback again; otherwise the first delivery is still running, or
    died and its lease lapses (the controller then runs the turn again)."""
    store = services.run_store
    for rel, waiting in (
        (keys.result_key(message.step_id, message.attempt), False),
        (keys.wait_key(message.step_id, message.attempt, message.turn), True),
    ):
        raw = store.read(message.ref.key(rel))
        body = json.loads(raw) if raw is not None else None
        if body is not None and (waiting or body.get("turn", message.turn) == message.turn):
            callback = callback_of(message, body, waiting)
            logger.info(
                "duplicate delivery of step %s attempt %d turn %d: callback sent again",
                message.step_id,
                message.attempt,
                message.turn,
            )
            services.bus.publish(
                message.callback_topic, encode(callback), callback_attributes(callback)
            )
            return callback
    logger.info(
        "duplicate delivery of step %s attempt %d turn %d ignored",
        message.step_id,
        message.attempt,
        message.turn,
    )
    return None


def _record(callback: CallbackMessage, message: StepMessage, services: Services) -> CallbackMessage:
    """Store the turn's outcome before its callback is published; say so in the callback."""
    at = callback.finished_at or services.clock.now()
    rel, body = outcome_record(callback, at)
    data = json.dumps(body, default=str).encode()
    created = services.run_store.create(message.ref.key(rel), data)
    return callback.model_copy(update={"recorded": created, "finished_at": at})


def handle_step_message(
    data: bytes,
    services: Services,
    expected_type: str | None = None,
    resolve_kind: Callable[[str], StepKind[Any]] | None = None,
) -> CallbackMessage | None:
    """Decode a step message, run it once, publish its callback; return the callback.

    Duplicate deliveries of the same turn and messages past their deadline are acknowledged
    without running (the controller has already timed them out or will get the first result).

    Raises:
        InvalidMessageError: the message can never be processed (log it and acknowledge).
    """
    from mhi.catalog import load_kind

    resolve_kind = resolve_kind or load_kind
    message = parse_step(data)
    if expected_type is not None and message.type != expected_type:
        raise InvalidMessageError(
            f"step message of type {message.type!r} delivered to the {expected_type!r} function"
        )
    if services.clock.now() > message.deadline:
        logger.warning(
            "step %s attempt %d arrived past its deadline; ignored",
            message.step_id,
            message.attempt,
        )
        return None
    try:
        kind = resolve_kind(message.type)
    except KeyError as e:
        raise InvalidMessageError(f"unknown step type {message.type!r}") from e
    lease = Lease(message, services)
    if not lease.acquire():
        return _republish(message, services)
    with lease:
        callback = run_step(message, kind, services)
    # Stored before it is published: if the publish fails, or this process dies before it, the
    # redelivery (or the controller's next look at the step) finds it instead of losing it.
    callback = _record(callback, message, services)
    services.bus.publish(message.callback_topic, encode(callback), callback_attributes(callback))
    return callback


def callback_attributes(callback: CallbackMessage) -> dict[str, str]:
    """Pub/Sub attributes of a callback (they repeat the ids of the body)."""
    return {
        "run_id": callback.run_id,
        "step_id": callback.step_id,
        "attempt": str(callback.attempt),
        "kind": "callback",
    }
