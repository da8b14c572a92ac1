"""Built-in utility steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.steps.sdk import StepContext, StepKind


class EchoConfig(BaseModel):
    """Any keys: they come back as the step's output."""

    model_config = ConfigDict(extra="allow")


def _echo(ctx: StepContext, config: EchoConfig) -> dict[str, Any]:
    out = dict(config.model_extra or {})
    if ctx.item is not None:
        out.setdefault("item", ctx.item)
    return out


ECHO: StepKind[EchoConfig] = StepKind("ms-echo", EchoConfig, _echo, "Return the rendered config")
