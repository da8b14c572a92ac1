"""Every message that crosses a topic, as pydantic models (one module, one parser per kind)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from mhi.constants import (
    PSEUDO_STEPS,
    RUN_ID_RE,
    RUN_ID_RULE,
    SAFE_ID_RE,
    SAFE_ID_RULE,
    SCHEMA_VERSION,
)
from mhi.errors import InvalidMessageError
from mhi.model.keys import RunRef
from mhi.model.problems import format_validation_error

JsonDict = dict[str, Any]


def _safe_id(value: str) -> str:
    if not SAFE_ID_RE.match(value):
        raise ValueError(f"{value!r} is not a safe id ({SAFE_ID_RULE})")
    return value


def _step_ref(value: str) -> str:
    # A step reference is a step id, `<step id>.<index>` for a for_each child, or the
    # flow-level notification and SLA pseudo-steps.
    if value in PSEUDO_STEPS:
        return value
    head, sep, tail = value.partition(".")
    _safe_id(head)
    if sep and not tail.isdigit():
        raise ValueError(f"{value!r} is not a step id or '<step>.<index>'")
    return value


def _run_id(value: str) -> str:
    if not RUN_ID_RE.match(value):
        raise ValueError(f"{value!r} is not a valid run id ({RUN_ID_RULE})")
    return value


SafeId = Annotated[str, AfterValidator(_safe_id)]
StepRef = Annotated[str, AfterValidator(_step_ref)]
RunId = Annotated[str, AfterValidator(_run_id)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorInfo(_Message):
    """Why an attempt failed."""

    kind: str = "error"
    message: str
    retryable: bool = True


class CallbackStatus(StrEnum):
    """What a step reports for one turn of one attempt."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    WAITING = "waiting"  # not done yet: poll again later with `continuation`


class ParentLink(_Message):
    """The run and step that started a run as a sub-flow (frozen in the child's `flow.json`)."""

    account: SafeId
    flow_id: SafeId
    run_id: RunId
    step_id: StepRef
    attempt: int = Field(ge=1)


class StartRef(_Message):
    """Start a flow stored in FLOWS_BUCKET by id (`parent`: started by a sub-flow step)."""

    kind: Literal["start_ref"] = "start_ref"
    flow_ref: SafeId
    params: JsonDict = Field(default_factory=dict)
    run_id: RunId | None = None
    parent: ParentLink | None = None
    logical_time: AwareDatetime | None = None  # a sub-flow's: its parent's schedule slot


class StepMessage(_Message):
    """Controller → step topic: run one turn of one attempt of a step."""

    kind: Literal["step"] = "step"
    schema_version: int = SCHEMA_VERSION
    run_id: RunId
    flow_id: SafeId
    account: SafeId
    step_id: StepRef
    attempt: int = Field(ge=1)
    turn: int = Field(default=0, ge=0)
    type: str
    config: JsonDict = Field(default_factory=dict)
    upstream: dict[str, JsonDict] = Field(default_factory=dict)
    params: JsonDict = Field(default_factory=dict)
    item: Any = None
    continuation: JsonDict | None = None
    callback_topic: str
    deadline: datetime
    # config path -> the template that produced its value (named in config errors)
    templates: dict[str, str] = Field(default_factory=dict)

    @property
    def ref(self) -> RunRef:
        """The run this step belongs to (its objects' keys: `ref.key(rel)`)."""
        return RunRef(self.account, self.flow_id, self.run_id)


class CallbackMessage(_Message):
    """Step → `ms-flows-callbacks`: the outcome of one turn of one attempt."""

    kind: Literal["callback"] = "callback"
    schema_version: int = SCHEMA_VERSION
    run_id: RunId
    flow_id: SafeId
    account: SafeId
    step_id: StepRef
    attempt: int = Field(ge=1)
    turn: int = Field(default=0, ge=0)
    status: CallbackStatus
    output: JsonDict = Field(default_factory=dict)
    error: ErrorInfo | None = None
    continuation: JsonDict | None = None
    poll_after_seconds: float = Field(default=0.0, ge=0)
    metrics: JsonDict = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # True when the step function stored this outcome itself (`mhi.model.outcomes`): the
    # controller folds it as that record instead of writing one.
    recorded: bool = False


class SweepMessage(_Message):
    """Cloud Scheduler → controller: apply `decide` to every active run with the current time."""

    kind: Literal["sweep"] = "sweep"


class WakeMessage(_Message):
    """A timer → controller: look at one run again now (a retry, poll or timeout is due)."""

    kind: Literal["wake"] = "wake"
    account: SafeId
    flow_id: SafeId
    run_id: RunId


def _parse_json(data: bytes | str) -> Any:
    import json

    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidMessageError(f"message is not valid JSON: {e}") from e


M = TypeVar("M", bound=BaseModel)

_CALLBACK = TypeAdapter(CallbackMessage)
_STEP = TypeAdapter(StepMessage)
_WAKE = TypeAdapter(WakeMessage)


def _validated(adapter: TypeAdapter[M], raw: Any, what: str) -> M:
    try:
        return adapter.validate_python(raw)
    except ValidationError as e:
        detail = "; ".join(f"{p}: {m}" for p, m in format_validation_error(e))
        raise InvalidMessageError(f"invalid {what}: {detail}") from e


def parse_callback(data: bytes | str) -> CallbackMessage:
    """Parse a callback message; raise InvalidMessageError saying what is wrong and where."""
    return _validated(_CALLBACK, _parse_json(data), "callback message")


def parse_step(data: bytes | str) -> StepMessage:
    """Parse a step message; raise InvalidMessageError saying what is wrong and where."""
    return _validated(_STEP, _parse_json(data), "step message")


def parse_wake(data: bytes | str) -> WakeMessage:
    """Parse a timer's wake message; raise InvalidMessageError saying what is wrong and where."""
    return _validated(_WAKE, _parse_json(data), "wake message")


def encode(message: BaseModel) -> bytes:
    """Serialise a message to JSON bytes."""
    return message.model_dump_json(exclude_none=False).encode()
