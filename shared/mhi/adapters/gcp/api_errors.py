"""Google API errors that mean "try again later", shared by every GCP adapter."""

from __future__ import annotations

from google.api_core import exceptions as gexc

# Throttling, server errors and timeouts (HTTP and gRPC alike); the library's own retry gave up.
TRANSIENT_API_ERRORS: tuple[type[Exception], ...] = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.DeadlineExceeded,
    gexc.RetryError,
)
