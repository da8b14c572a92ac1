"""Built-in utility steps."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mhi.errors import RetryableError, StepExecutionError
from mhi.steps.sdk import StepContext, StepKind


class EchoConfig(BaseModel):
    """Extra keys come back as the step's output; the named options help test wiring."""

    model_config = ConfigDict(extra="allow")

    sleep_seconds: float = Field(default=0.0, ge=0, le=3600, description="sleep before answering")
    fail_until_attempt: int = Field(
        default=0,
        ge=0,
        description="fail every attempt before this one (a retryable error), then succeed",
    )
    fail_permanently: bool = Field(default=False, description="fail with a non-retryable error")
    fail_message: str = Field(
        default="echo: injected failure", description="message of the injected failure"
    )


def _echo(ctx: StepContext, config: EchoConfig) -> dict[str, Any]:
    if config.sleep_seconds:
        time.sleep(config.sleep_seconds)
    if config.fail_permanently:
        raise StepExecutionError(config.fail_message)
    if ctx.attempt < config.fail_until_attempt:
        raise RetryableError(f"{config.fail_message} (attempt {ctx.attempt})")
    out = dict(config.model_extra or {})
    if ctx.item is not None:
        out.setdefault("item", ctx.item)
    return out


ECHO: StepKind[EchoConfig] = StepKind(
    "ms-echo", EchoConfig, _echo, "Return the rendered config; optionally sleep or fail"
)
