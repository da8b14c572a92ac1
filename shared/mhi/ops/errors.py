"""Errors of the operations service: each says what is wrong, which input, and an HTTP status."""

from __future__ import annotations

from mhi.errors import InvalidMessageError


class OpsError(InvalidMessageError):
    """A request the service refuses; `field` names the input at fault (None: the request)."""

    kind = "bad_request"
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(OpsError):
    """No such run or flow."""

    kind = "not_found"
    status = 404


class Conflict(OpsError):
    """The run is not in a state that allows the action (or another request won a race)."""

    kind = "conflict"
    status = 409
