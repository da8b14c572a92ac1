"""A small JSON client for Qlik APIs: one place that turns HTTP answers into our errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from mhi.errors import AuthError, StepExecutionError, UpstreamUnavailableError
from mhi.qlik.http import (
    Outcome,
    RateLimitedError,
    RetryPolicy,
    body_excerpt,
    redact,
    send,
    tries,
)

logger = logging.getLogger(__name__)


class QlikNotFoundError(StepExecutionError):
    """Qlik answered 404 for an app, task, reload or automation."""

    kind = "qlik_not_found"


@dataclass
class QlikApi:
    """JSON over HTTP to one Qlik service, with retries and error translation."""

    service: str  # "Qlik Cloud" or "Qlik Sense QRS": how errors name the service
    base_url: str
    headers: Mapping[str, str]
    policy: RetryPolicy
    session: requests.Session = field(default_factory=requests.Session)
    timeout: float = 30.0
    secrets: tuple[str, ...] = ()
    # Per-call additions to (params, headers), e.g. the QRS anti-CSRF xrfkey.
    prepare: Callable[[dict[str, str], dict[str, str]], None] | None = None
    request_options: dict[str, Any] = field(default_factory=dict)  # cert / verify (QRS)

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
            StepExecutionError: any other 4xx.
        """
        query, headers = dict(params or {}), dict(self.headers)
        if self.prepare is not None:
            self.prepare(query, headers)
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        kwargs.update(self.request_options)
        if body is not None:
            kwargs["json"] = body
        safe = method != "POST" if idempotent is None else idempotent
        outcome = send(
            self.session,
            method,
            self.base_url + path,
            self.policy,
            timeout=self.timeout,
            idempotent=safe,
            **kwargs,
        )
        return self._decode(method, path, outcome, allow_404)

    def _decode(self, method: str, path: str, outcome: Outcome, allow_404: bool) -> tuple[int, Any]:
        where = f"{self.service} {method} {path}"
        response = outcome.response
        if response is None:
            raise UpstreamUnavailableError(f"{where}: {outcome.error} after {tries(outcome.tries)}")
        status = response.status_code
        if status < 300:
            return status, _json_or_none(response)
        detail = self._clean(body_excerpt(response))
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
        raise StepExecutionError(f"{where}: HTTP {status}: {detail}")

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
