"""Secrets on Secret Manager: `projects/<p>/secrets/<account>--<name>/versions/latest`.

Values are cached per process for a short time (a rotated secret is picked up within the TTL)
and never reach a log line or an error message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mhi.adapters.gcp.api_errors import TRANSIENT_API_ERRORS
from mhi.adapters.gcp.clients import project_id
from mhi.adapters.local.env_secrets import secret_id
from mhi.config import Settings
from mhi.errors import SecretAccessError, UpstreamUnavailableError

if TYPE_CHECKING:
    from google.cloud import secretmanager

CACHE_TTL_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 10.0

_DENIED = (gexc.PermissionDenied, gexc.Unauthenticated)
_ABSENT = (gexc.NotFound, gexc.FailedPrecondition)  # no such secret / version disabled


def secret_version(project: str, account: str, name: str) -> str:
    """Return the resource name of the latest version of an account's secret."""
    return f"projects/{project}/secrets/{secret_id(account, name)}/versions/latest"


class SecretManagerStore:
    """`SecretStore` on Secret Manager. An account names only secrets under `<account>--`."""

    def __init__(
        self,
        client_factory: Callable[[], secretmanager.SecretManagerServiceClient],
        project: str,
        *,
        ttl: float = CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = client_factory
        self._client: secretmanager.SecretManagerServiceClient | None = None
        self.project = project
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _client_once(self) -> secretmanager.SecretManagerServiceClient:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def get(self, account: str, name: str) -> str:
        """Return the latest value of secret `name` of `account`.

        Raises:
            SecretAccessError: no such secret (or version), or this service account may not
                read it.
            UpstreamUnavailableError: Secret Manager is unavailable; try again later.
        """
        resource = secret_version(self.project, account, name)
        now = self._clock()
        cached = self._cache.get(resource)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        value = self._access(resource, account)
        self._cache[resource] = (now, value)
        return value

    def _access(self, resource: str, account: str) -> str:
        sid = resource.split("/")[3]
        try:
            response = self._client_once().access_secret_version(
                name=resource, timeout=REQUEST_TIMEOUT_SECONDS
            )
        except _DENIED as e:
            raise SecretAccessError(
                f"secret {sid!r}: permission denied (grant roles/secretmanager.secretAccessor "
                f"on it to this function's service account)",
                account=account,
            ) from e
        except _ABSENT as e:
            raise SecretAccessError(
                f"secret {sid!r} not found in project {self.project!r} (or its latest version "
                f"is disabled): create it with `gcloud secrets create {sid}`",
                account=account,
            ) from e
        except TRANSIENT_API_ERRORS as e:
            raise UpstreamUnavailableError(
                f"secret {sid!r}: Secret Manager unavailable ({type(e).__name__})"
            ) from e
        try:
            return str(response.payload.data.decode("utf-8"))
        except UnicodeDecodeError:
            raise SecretAccessError(f"secret {sid!r} is not UTF-8 text", account=account) from None


def from_settings(settings: Settings) -> SecretManagerStore:
    """Build the store for `_M_PROJECT_ID`; the client is created on first use."""

    def client() -> secretmanager.SecretManagerServiceClient:
        from google.cloud import secretmanager

        return secretmanager.SecretManagerServiceClient()

    return SecretManagerStore(client, project_id(settings))
