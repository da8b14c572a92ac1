"""Cloud Storage failures translated into the product's error model, at the adapter boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from google.cloud.storage.retry import DEFAULT_RETRY

from mhi.adapters.gcp.api_errors import TRANSIENT_API_ERRORS
from mhi.errors import AuthError, PermanentError, StoreConflictError, UpstreamUnavailableError

# The library's policy (429, 5xx, connection resets; exponential backoff with jitter), bounded so
# a function instance gives up and lets Pub/Sub redeliver rather than burn its whole timeout.
RETRY: gretry.Retry = DEFAULT_RETRY.with_timeout(30.0)
REQUEST_TIMEOUT_SECONDS = 20.0

_TRANSIENT = (
    *TRANSIENT_API_ERRORS,
    auth_exc.TransportError,
    ConnectionError,
    TimeoutError,
)


@contextmanager
def translated(op: str, uri: str) -> Iterator[None]:
    """Turn google-cloud-storage exceptions raised in the block into OrchestratorErrors.

    `PreconditionFailed` and `NotFound` on an object are expected answers: callers catch them
    inside the block. What reaches here is a failure of the service or of the configuration.
    """
    try:
        yield
    except (gexc.Unauthorized, gexc.Forbidden, auth_exc.DefaultCredentialsError) as e:
        raise AuthError(f"{op} {uri}: access denied ({_short(e)})") from e
    except gexc.NotFound as e:
        raise PermanentError(f"{op} {uri}: bucket not found ({_short(e)})") from e
    except gexc.Conflict as e:
        raise StoreConflictError(f"{op} {uri}: conflict ({_short(e)})") from e
    except _TRANSIENT as e:
        raise UpstreamUnavailableError(
            f"{op} {uri}: Cloud Storage unavailable ({_short(e)})"
        ) from e
    except _requests_errors() as e:
        raise UpstreamUnavailableError(
            f"{op} {uri}: Cloud Storage unreachable ({_short(e)})"
        ) from e
    except gexc.GoogleAPICallError as e:
        raise PermanentError(f"{op} {uri}: Cloud Storage refused ({_short(e)})") from e


def _requests_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.ConnectionError, requests.Timeout)


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]
