"""HTTP for connectors: GET JSON from one system through the one outbound client (`mhi.http`),
with the system's credentials (sent only to its hosts, refreshed once after a 401), a
per-system rate limit, retries on 429/5xx/timeouts/malformed JSON, and counters for the output.

Nothing here ever formats a full URL, a header or a library exception into a message: URLs can
carry keys (ReviewPro signs the query string). Messages name the system, the method and the host
and path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from mhi.connectors.auth import Auth
from mhi.connectors.errors import (
    MalformedResponseError,
    UnexpectedResponseError,
    UpstreamRequestError,
)
from mhi.errors import AuthError, UpstreamUnavailableError
from mhi.http import Call, Destination, HostScope, OutboundClient, Outcome, RetryRules
from mhi.http.client import Response
from mhi.http.policy import Resolver

logger = logging.getLogger(__name__)

# Injectable for tests and the benchmark: backoff and rate-limit waits go through `sleep`, and
# names resolve through `resolver` (None: the system resolver).
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic
resolver: Resolver | None = None


class RequestRate(Protocol):
    """Paces one system's requests: `acquire` returns once the next request may go (the
    process's `RateLimiter`, or a rate shared across instances: `mhi.connectors.rates`)."""

    def acquire(self) -> float:
        """Wait for the next request's turn; return how long that took (seconds)."""
        ...


class RateLimiter:
    """Space requests at least `1 / per_second` apart (shared by every thread of a process)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for the next slot; return how long we waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            sleep(wait)
        return max(wait, 0.0)


_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter(system: str, per_second: float) -> RateLimiter:
    """Return the process-wide rate limiter of a system (one per system and rate)."""
    with _limiters_lock:
        return _limiters.setdefault((system, per_second), RateLimiter(per_second))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry 429/5xx/timeouts/malformed bodies."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def rules(self) -> RetryRules:
        """The outbound client's rules: urllib3's backoff, sleeping at most what this policy's
        schedule would (a longer Retry-After fails the call retryable, for a later attempt)."""
        return RetryRules(
            max_tries=self.max_attempts,
            backoff_seconds=self.base_delay,
            max_backoff_seconds=self.max_delay,
            budget_seconds=max(self.max_delay, 1.0) * max(self.max_attempts - 1, 1),
        )


@dataclass
class HttpStats:
    """Counters a step reports."""

    requests: int = 0
    retries: int = 0
    token_refreshes: int = 0
    waited_seconds: float = 0.0


def describe(url: str) -> str:
    """Return `host/path` of a URL: what messages may show (never the query string)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


@dataclass
class HttpClient:
    """GET JSON from one system with auth, retries, rate limit and timeouts."""

    system: str
    auth: Auth
    outbound: OutboundClient
    scope: HostScope
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: RequestRate = field(default_factory=lambda: RateLimiter(0))
    stats: HttpStats = field(default_factory=HttpStats)

    def __post_init__(self) -> None:
        self.auth.use_post(self.post_form)

    def _destination(self) -> Destination:
        return Destination(self.system, self.scope, self.timeout, secrets=self.auth.secrets())

    def get_json(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET `url` and return its JSON body.

        Raises:
            AuthError: credentials rejected (after one token refresh where the scheme has one).
            UpstreamUnavailableError: 429/5xx/timeouts/connection errors on every try.
            MalformedResponseError: invalid JSON on every try.
            UnexpectedResponseError: a body that is not JSON at all (e.g. an HTML page).
            UpstreamRequestError: any other 4xx, or a redirect (never followed).
            UrlRefusedError: the URL is not one the policy or the system's hosts allow.
        """
        where = f"{self.system}: GET {describe(url)}"

        def build() -> Call:
            query = {**(params or {}), **self.auth.params()}
            extra = {"Accept": "application/json", **(headers or {}), **self.auth.headers()}
            return Call("GET", url, query, extra)

        outcome = self.outbound.send(
            self._destination(),
            build,
            self.retry.rules(),
            refresh=self._refresh,
            expect_json=True,
            before_try=self._pace,
        )
        self._count(outcome)
        return self._result(outcome, where)

    def post_form(self, url: str, form: Mapping[str, str], timeout: float) -> tuple[Any, Any, str]:
        """POST a form (a token request) to this system's hosts; return (status, JSON, problem)."""
        dest = Destination(
            self.system, self.scope, timeout, secrets=(*self.auth.secrets(), *form.values())
        )
        body = "&".join(f"{_q(k)}={_q(v)}" for k, v in form.items()).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        rules = RetryRules(max_tries=3, backoff_seconds=self.retry.base_delay, budget_seconds=30.0)
        out = self.outbound.send(dest, lambda: Call("POST", url, {}, headers, body), rules)
        if out.response is None:
            return None, None, out.error or "no answer"
        try:
            data = out.response.json()
        except ValueError:
            data = None
        return out.response.status, data, ""

    def _pace(self) -> None:
        self.stats.waited_seconds += self.rate.acquire()

    def _refresh(self) -> bool:
        if not self.auth.refresh():
            return False
        self.stats.token_refreshes += 1
        return True

    def _count(self, outcome: Outcome) -> None:
        self.stats.requests += outcome.tries + (1 if outcome.refreshed else 0)
        self.stats.retries += outcome.tries - 1
        self.stats.waited_seconds += outcome.waited

    def _result(self, outcome: Outcome, where: str) -> Any:
        response = outcome.response
        if response is None or response.status in (429, 500, 502, 503, 504):
            last = outcome.error or f"HTTP {response.status if response else '?'}"
            wait = f" (Retry-After {outcome.retry_after:g}s)" if outcome.retry_after else ""
            raise UpstreamUnavailableError(
                f"{where} failed {outcome.tries} times; last: {last}{wait}", system=self.system
            )
        if response.status in (401, 403):
            raise AuthError(
                f"{where}: credentials rejected (HTTP {response.status}); check "
                f"{self.auth.describe()}",
                system=self.system,
            )
        if response.status >= 300:
            raise UpstreamRequestError(
                f"{where} answered HTTP {response.status}: {self._error_text(response)}",
                system=self.system,
                status=response.status,
            )
        return self._body(outcome, response, where)

    def _body(self, outcome: Outcome, response: Response, where: str) -> Any:
        ctype = response.headers.get("content-type", "")
        if "json" not in ctype.lower():
            raise UnexpectedResponseError(
                f"{where} answered {ctype or 'no content type'} instead of JSON "
                "(check the base URL secret and the path)",
                system=self.system,
            )
        if outcome.error:
            raise MalformedResponseError(
                f"{where} failed {outcome.tries} times; last: {outcome.error}", system=self.system
            )
        return outcome.data

    def _error_text(self, response: Response) -> str:
        if 300 <= response.status < 400:
            return "redirects are not followed (check the base URL secret)"
        try:
            body = response.json()
            err = body.get("error", body) if isinstance(body, dict) else body
            text = json.dumps(err)[:300]
        except ValueError:
            text = response.text()[:300]
        return self.auth.redact(text)


def _q(text: str) -> str:
    return quote(str(text), safe="")
