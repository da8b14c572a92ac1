"""A small JSON client for Qlik APIs over the one outbound client (`mhi.http`): the one place
that turns Qlik's HTTP answers into our errors.

Qlik Cloud's API key goes only to Qlik Cloud hosts (`*.qlikcloud.com`, or what the operator sets
in `MHI_QLIK_CLOUD_HOSTS`); the on-premises QRS server's address is the account's secret
`qlik-qrs-base-url` (or the setting `MHI_QLIK_QRS_BASE_URL`), never the flow's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mhi.config import Settings
from mhi.errors import AuthError, StepExecutionError, UpstreamUnavailableError
from mhi.http import Call, Destination, HostScope, OutboundClient, Outcome, RetryRules, Tls
from mhi.http.answers import body_excerpt, tries
from mhi.http.endpoints import host_scope
from mhi.http.redact import redact

logger = logging.getLogger(__name__)

CLOUD = "qlik-cloud"  # settings names: MHI_QLIK_CLOUD_HOSTS
CLOUD_HOSTS = ("*.qlikcloud.com",)  # tenants are https://{tenant}.{region}.qlikcloud.com
QRS = "qlik-qrs"  # secret qlik-qrs-base-url, setting MHI_QLIK_QRS_BASE_URL


def cloud_scope(settings: Settings) -> HostScope:
    """The hosts Qlik Cloud credentials may go to."""
    return host_scope(settings, CLOUD, CLOUD_HOSTS)


class QlikNotFoundError(StepExecutionError):
    """Qlik answered 404 for an app, task, reload or automation."""

    kind = "qlik_not_found"


class RateLimitedError(UpstreamUnavailableError):
    """Qlik asked us to wait longer than this call may sleep."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class QlikApi:
    """JSON over HTTP to one Qlik service, with retries and error translation."""

    service: str  # "Qlik Cloud" or "Qlik Sense QRS": how errors name the service
    base_url: str
    headers: Mapping[str, str]
    rules: RetryRules
    outbound: OutboundClient
    scope: HostScope
    timeout: float = 30.0
    secrets: tuple[str, ...] = ()
    # Per-try additions to (params, headers), e.g. the QRS anti-CSRF xrfkey.
    prepare: Callable[[dict[str, str], dict[str, str]], None] | None = None
    tls: Tls = field(default_factory=Tls)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        allow_404: bool = False,
        idempotent: bool | None = None,
    ) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON or None).

        POSTs count as non-idempotent unless `idempotent=True` (cancel, stop).

        Raises:
            AuthError: 401/403.
            RateLimitedError: still 429 after the retries this call may spend.
            UpstreamUnavailableError: 5xx, timeouts, connection failures.
            QlikNotFoundError: 404 (unless `allow_404`).
            StepExecutionError: any other 4xx, or a redirect (never followed).
            UrlRefusedError: the URL is not one the policy or Qlik's hosts allow.
        """
        data = json.dumps(body).encode() if body is not None else None

        def build() -> Call:
            query, headers = dict(params or {}), dict(self.headers)
            if self.prepare is not None:
                self.prepare(query, headers)
            if data is not None:
                headers["Content-Type"] = "application/json"
            return Call(method, self.base_url + path, query, headers, data)

        safe = method != "POST" if idempotent is None else idempotent
        dest = Destination(self.service, self.scope, self.timeout, self.tls, self.secrets)
        outcome = self.outbound.send(dest, build, replace(self.rules, idempotent=safe))
        return self._decode(method, path, outcome, allow_404)

    def _decode(self, method: str, path: str, outcome: Outcome, allow_404: bool) -> tuple[int, Any]:
        where = f"{self.service} {method} {path}"
        response = outcome.response
        if response is None:
            raise UpstreamUnavailableError(f"{where}: {outcome.error} after {tries(outcome.tries)}")
        status = response.status
        if status < 300:
            return status, _json_or_none(response.body)
        detail = redact(body_excerpt(response), self.secrets)
        if status == 404 and allow_404:
            return status, None
        if status in (401, 403):
            raise AuthError(
                f"{where}: credentials rejected (HTTP {status}); check the secret and its "
                f"permissions: {detail}"
            )
        if status == 429:
            raise RateLimitedError(
                f"{where}: rate limited (HTTP 429) after {tries(outcome.tries)}: {detail}",
                outcome.retry_after,
            )
        if status >= 500:
            raise UpstreamUnavailableError(
                f"{where}: HTTP {status} after {tries(outcome.tries)}: {detail}"
            )
        if status == 404:
            raise QlikNotFoundError(f"{where}: not found (HTTP 404): {detail}")
        if status < 400:
            raise StepExecutionError(f"{where}: HTTP {status}: redirects are not followed")
        raise StepExecutionError(f"{where}: HTTP {status}: {detail}")


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
