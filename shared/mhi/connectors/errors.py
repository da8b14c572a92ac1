"""Connector errors: subclasses of the product's one error model (`mhi.errors`)."""

from __future__ import annotations

from mhi.errors import PermanentError, UpstreamUnavailableError


class MalformedResponseError(UpstreamUnavailableError):
    """The source answered 200 with a body that is not valid JSON, on every try.

    Retryable: truncated or garbled bodies are usually transient (proxy resets, partial
    transfers), and the step's own retry policy bounds how often the flow tries again.
    """

    kind = "malformed_response"


class UnexpectedResponseError(PermanentError):
    """The source answered with a shape that can never be read: HTML instead of JSON, or an
    envelope without the expected list. Retrying gives the same answer; fix the base URL or path.
    """

    kind = "unexpected_response"


class UpstreamRequestError(PermanentError):
    """The source rejected a request with a 4xx other than 401/403/429 (bad parameter, unknown
    id). Retrying the same request gives the same answer."""

    kind = "upstream_rejected"
