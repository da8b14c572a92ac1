"""One error model for the whole product.

Every error we raise on purpose derives from `OrchestratorError` and says whether a retry can
help (`retryable`). Step failures travel to the controller as `ErrorInfo` (see `to_info`).
"""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Root of every error the product raises on purpose."""

    retryable: bool = False
    kind: str = "error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def to_info(self) -> dict[str, Any]:
        """Return the JSON shape carried in a failed callback's `error` field."""
        return {"kind": self.kind, "message": self.message, "retryable": self.retryable}


class RetryableError(OrchestratorError):
    """A transient failure: trying again later may succeed."""

    retryable = True
    kind = "transient"


class StoreConflictError(RetryableError):
    """The run store refused a write for a reason other than "already exists"."""

    kind = "store_conflict"


class UpstreamUnavailableError(RetryableError):
    """A remote service answered 429/5xx, timed out or could not be reached."""

    kind = "upstream_unavailable"


class PermanentError(OrchestratorError):
    """A failure that will happen again on retry: bad input, bad config, a rejected credential."""

    kind = "permanent"


class InvalidMessageError(PermanentError):
    """A message that can never be processed: bad JSON or a schema violation."""

    kind = "invalid_message"


class FlowDefinitionError(PermanentError):
    """A flow definition that cannot run. `problems` lists every problem with its JSON path."""

    kind = "invalid_flow"

    def __init__(self, problems: list[tuple[str, str]], **context: Any) -> None:
        self.problems = problems
        lines = [f"{path}: {msg}" if path else msg for path, msg in problems]
        super().__init__("invalid flow:\n  " + "\n  ".join(lines), **context)


class UnknownRunError(PermanentError):
    """A message names a run (or a step of a run) the run store does not hold."""

    kind = "unknown_run"


class StepConfigError(PermanentError):
    """A step's config is invalid for its step type."""

    kind = "invalid_config"


class StepExecutionError(PermanentError):
    """A deterministic failure inside a step."""

    kind = "step_failed"


class AuthError(PermanentError):
    """Credentials were rejected or are missing."""

    kind = "auth"


class SecretAccessError(PermanentError):
    """A secret is missing, or the account may not read it."""

    kind = "secret_access"


class StepTimeoutError(RetryableError):
    """A step attempt passed its deadline without reporting back."""

    kind = "timeout"
