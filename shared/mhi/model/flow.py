"""The flow format: the seed's JSON plus the documented extensions, as pydantic models."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from mhi.constants import SAFE_ID_RE, SAFE_ID_RULE
from mhi.model.accounts import check_account_field

DEFAULT_STEP_TIMEOUT_SECONDS = 600

# When a step runs relative to its upstreams (`depends_on`), decided once every upstream ended:
# all_succeeded (the default): every upstream succeeded (or is optional and failed);
# all_done: always, whatever its upstreams did; any_succeeded: at least one upstream succeeded;
# none_failed: no upstream failed (a skipped upstream is fine).
TriggerRule = Literal["all_succeeded", "all_done", "any_succeeded", "none_failed"]
TRIGGER_RULES: tuple[TriggerRule, ...] = (
    "all_succeeded",
    "all_done",
    "any_succeeded",
    "none_failed",
)


def _safe_id(value: str) -> str:
    if not SAFE_ID_RE.match(value):
        raise ValueError(f"{value!r} is not allowed ({SAFE_ID_RULE})")
    return value


SafeId = Annotated[str, AfterValidator(_safe_id)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(_Model):
    """How a failed attempt is retried: exponential backoff with jitter."""

    max_attempts: int = Field(default=3, ge=1, le=20)
    initial_backoff_seconds: float = Field(default=10.0, ge=0, le=86400)
    max_backoff_seconds: float = Field(default=600.0, ge=0, le=86400)
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    retry_on: list[str] | None = Field(
        default=None,
        description="error kinds to retry (default: every error reported as retryable)",
    )

    def backoff(self, failed_attempt: int) -> timedelta:
        """Return the base delay (before jitter) after attempt `failed_attempt` failed."""
        seconds = self.initial_backoff_seconds * self.multiplier ** (failed_attempt - 1)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))


class Concurrency(_Model):
    """A concurrency limit per key, shared by every run on the same run store.

    `key` may be a template (`qlik:{{ run.account }}`), rendered when the step is dispatched.
    Without `limit`, the deployment's `MHI_CONCURRENCY_LIMITS` must give one for the key. On a
    step, a plain string (or `name`) names an entry of the flow's `limits` instead.
    """

    name: SafeId | None = None
    key: str | None = Field(default=None, min_length=1, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _a_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _key_or_name(self) -> Concurrency:
        if (self.name is None) == (self.key is None):
            raise ValueError(
                "give `key` (and `limit`), or the name of an entry of the flow's `limits`"
            )
        if self.name is not None and self.limit is not None:
            raise ValueError("`limit` goes on the flow's `limits` entry that the name refers to")
        return self


class StepSpec(_Model):
    """One step of a flow."""

    id: SafeId
    name: str | None = None
    description: str | None = None
    type: str = Field(min_length=1)
    depends_on: list[SafeId] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: int = Field(default=DEFAULT_STEP_TIMEOUT_SECONDS, ge=1, le=86400)
    when: str | None = None
    optional: bool = False
    for_each: str | list[Any] | None = None
    trigger_rule: TriggerRule = "all_succeeded"
    on_failure: list[SafeId] = Field(
        default_factory=list,
        description="steps that run when this step finally fails (error handlers, compensation)",
    )
    concurrency: Concurrency | None = Field(
        default=None,
        description="a slot of this key is held while an attempt runs (or a `limits` name)",
    )


class FlowConfig(_Model):
    """The `flow_config` block of the seed format."""

    steps: list[StepSpec] = Field(min_length=1)


class ParamSpec(_Model):
    """A flow parameter. Without a default it must be given when the flow starts."""

    default: Any = None
    required: bool = False
    description: str | None = None


class Schedule(_Model):
    """When Cloud Scheduler starts the flow."""

    cron: str
    time_zone: str = "UTC"
    params: dict[str, Any] = Field(default_factory=dict)
    catchup: bool = Field(
        default=False,
        description="when the schedule fires, also start the slots it missed since the last run",
    )
    accounts: list[SafeId] | None = Field(
        default=None,
        min_length=1,
        description="one run per account each time it fires (the account is a flow param)",
    )


class NotificationSpec(BaseModel):
    """A flow-level notification (seed: `{"type": ["email"], "recipients": "..."}`).

    Channel-specific options (templates, webhook URLs, ...) are kept as extra fields and checked
    by the notifications step.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    recipients: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    when: str | None = None

    def step_config(self, event: str) -> dict[str, Any]:
        """The `ms-notifications` config this block becomes for `event` (success or fail)."""
        return {**self.model_dump(mode="json", exclude_none=True, exclude={"when"}), "event": event}


class Notifications(_Model):
    """Flow-level notifications sent once when a run ends."""

    success: NotificationSpec | None = None
    fail: NotificationSpec | None = None


def _time_of_day(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r} is not a time of day: use 24-hour HH:MM, e.g. '07:00'")
    return value


class Sla(_Model):
    """When a run must be finished, and who is told (once) when it is not.

    The deadline is either `within_seconds` after the run's schedule slot (or its start), or
    `by`: the first time of day `by` in `time_zone` at or after the slot (or the start).
    """

    within_seconds: int | None = Field(
        default=None,
        ge=1,
        le=7 * 86400,
        description="after the schedule slot (a scheduled run) or the start (any other run)",
    )
    by: Annotated[str, AfterValidator(_time_of_day)] | None = Field(
        default=None,
        description="HH:MM: the first such local time at or after the slot (or the start)",
    )
    time_zone: str | None = Field(
        default=None, description="the zone of `by` (default: the schedule's time zone, else UTC)"
    )
    notify: NotificationSpec

    @model_validator(mode="after")
    def _one_deadline(self) -> Sla:
        if (self.within_seconds is None) == (self.by is None):
            raise ValueError("give exactly one of within_seconds or by")
        if self.time_zone is not None and self.by is None:
            raise ValueError("time_zone goes with by (within_seconds counts in seconds)")
        return self


class FlowDefinition(_Model):
    """A flow, exactly as the seed writes it, plus the documented extensions."""

    flow_id: SafeId
    account: Annotated[str, AfterValidator(check_account_field)] = Field(
        description="an account name, or '{{ params.<name> }}' to take it from a param at start"
    )
    name: str | None = None
    description: str | None = None
    flow_config: FlowConfig
    notifications: Notifications | None = None
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    schedule: Schedule | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    max_parallel: int | None = Field(default=None, ge=1, le=10000)
    on_failure: list[SafeId] = Field(
        default_factory=list,
        description="steps that run, after every other step ended, when the run fails",
    )
    sla: Sla | None = None
    limits: dict[SafeId, Concurrency] = Field(
        default_factory=dict,
        description="named concurrency limits that steps refer to by name in `concurrency`",
    )

    @property
    def steps(self) -> list[StepSpec]:
        """The flow's steps in definition order."""
        return self.flow_config.steps

    def handled(self) -> dict[str, list[str]]:
        """Per error-handler step, the steps whose final failure runs it (in flow order).

        A step named in a step's `on_failure` handles that step; a step named in the flow's
        `on_failure` handles every step that is not itself a flow-level handler. Unknown ids
        are left out (the checks report them).
        """
        ids = {s.id for s in self.steps}
        out: dict[str, list[str]] = {}
        for step in self.steps:
            for handler in step.on_failure:
                if handler in ids and handler != step.id:
                    out.setdefault(handler, []).append(step.id)
        flow_level = [h for h in dict.fromkeys(self.on_failure) if h in ids]
        for handler in flow_level:
            out[handler] = [s.id for s in self.steps if s.id not in flow_level]
        return out

    def upstreams(self) -> dict[str, list[str]]:
        """Per step, every step it waits for: its `depends_on` and the steps it handles."""
        handled = self.handled()
        return {
            s.id: list(dict.fromkeys([*s.depends_on, *handled.get(s.id, [])])) for s in self.steps
        }
