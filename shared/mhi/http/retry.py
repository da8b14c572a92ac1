"""Retry rules for one logical call: urllib3's `Retry` decides what is retried and how long to
back off (exponential, jittered, capped; `Retry-After` honoured), and our own rules sit on top:
a total sleep budget, and requests that must not be repeated once sent.

An idempotent call (GET, cancel, a webhook whose receivers dedupe on its id) is retried on
429/500/502/503/504, timeouts and connection failures. A call that is not (a Mailgun send, a
reload start) is retried only when it certainly did not take effect: the connection never opened,
or the server answered 429/503 ("not processed, try later").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
RETRY_AFTER_MAX = 3600  # seconds: a longer Retry-After counts as an hour


@dataclass(frozen=True)
class RetryRules:
    """How often and how patiently to retry one call."""

    max_tries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    budget_seconds: float = math.inf  # total sleeping allowed for the call
    idempotent: bool = True

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, not {self.max_tries}")

    def start(self) -> Retry:
        """Return the urllib3 `Retry` state of a fresh call."""
        statuses = RETRY_STATUSES if self.idempotent else NOT_PROCESSED_STATUSES
        return Retry(
            total=self.max_tries - 1,
            connect=self.max_tries - 1,
            read=(self.max_tries - 1) if self.idempotent else 0,
            status=self.max_tries - 1,
            other=0,
            redirect=0,
            allowed_methods=None,  # any method: idempotency is decided by `read` and `statuses`
            status_forcelist=statuses,
            backoff_factor=self.backoff_seconds,
            backoff_max=self.max_backoff_seconds,
            backoff_jitter=self.backoff_seconds,
            respect_retry_after_header=True,
            retry_after_max=RETRY_AFTER_MAX,
            raise_on_status=False,
        )

    def first_pause(self) -> float:
        """The pause before the first retry (urllib3 retries the first time at once; we wait a
        little, so a struggling server is not hit twice in the same instant)."""
        return min(self.backoff_seconds, self.max_backoff_seconds) / 2


def next_pause(
    rules: RetryRules,
    retry: Retry,
    method: str,
    status: int | None,
    headers: Mapping[str, str],
    error: Exception | None,
) -> tuple[float | None, float | None, Retry]:
    """Decide after one try: (seconds to wait, or None to stop; the `Retry-After` the answer
    asked for; the new `Retry` state). `error` is the urllib3 error of a try that got no usable
    answer (a connect error may be repeated even when not idempotent, a read error not)."""
    try:
        if error is not None:
            retry = retry.increment(method, "/", error=error)
        elif status is not None and retry.is_retry(method, status, "retry-after" in headers):
            seen = HTTPResponse(body=b"", status=status, preload_content=False)
            retry = retry.increment(method, "/", response=seen)
        else:
            return None, None, retry
    except (MaxRetryError, HTTPError, OSError):
        return None, _retry_after(retry, headers) if (status or 0) >= 300 else None, retry
    wait = _retry_after(retry, headers)
    if wait is not None:
        return wait, wait, retry
    return retry.get_backoff_time() or rules.first_pause(), None, retry


def _retry_after(retry: Retry, headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(retry.parse_retry_after(value))
    except HTTPError:
        return None
