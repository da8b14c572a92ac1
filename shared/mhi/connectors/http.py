"""HTTP for connectors: one `requests.Session` per process, retries with exponential backoff and
jitter on 429/5xx/timeouts honouring `Retry-After`, a per-system rate limit, request timeouts.

Nothing here ever formats a full URL, a header or a requests exception into a message: URLs can
carry keys (ReviewPro signs the query string). Messages name the system, the method and the path.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from mhi.connectors.auth import Auth
from mhi.connectors.errors import (
    MalformedResponseError,
    UnexpectedResponseError,
    UpstreamRequestError,
)
from mhi.errors import AuthError, UpstreamUnavailableError
from mhi.http_headers import parse_retry_after

logger = logging.getLogger(__name__)

# Injectable for tests and the benchmark: backoff and rate-limit waits go through `sleep`.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_SECRET_QUERY = re.compile(
    r"(?i)\b(api_key|apikey|key|sig|signature|token|access_token|client_secret|code)=[^&\s\"]*"
)


class RedactQueryFilter(logging.Filter):
    """Blank credential-bearing query values in urllib3's DEBUG lines ('GET /x?api_key=...'):
    ReviewPro's documented auth travels in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with the values replaced by `***`."""
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactQueryFilter())

_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """Return the process's one `requests.Session` (connection pooling across steps)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                s = requests.Session()
                adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16)
                s.mount("https://", adapter)
                s.mount("http://", adapter)
                s.headers.update({"Accept": "application/json", "User-Agent": "mhi-extractor/1"})
                _session = s
    return _session


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

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try `attempt` (1-based): Retry-After, else backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)  # "equal jitter": never a thundering herd


@dataclass
class HttpStats:
    """Counters a step reports."""

    requests: int = 0
    retries: int = 0
    token_refreshes: int = 0
    waited_seconds: float = 0.0


@dataclass
class _Try:
    problem: str
    retry_after: float | None = None
    malformed: bool = False


def describe(url: str) -> str:
    """Return `host/path` of a URL: what messages may show (never the query string)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


@dataclass
class HttpClient:
    """GET JSON from one system with auth, retries, rate limit and timeouts."""

    system: str
    auth: Auth
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    stats: HttpStats = field(default_factory=HttpStats)

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
            UpstreamRequestError: any other 4xx.
        """
        where = f"{self.system}: GET {describe(url)}"
        refreshed = False
        last = _Try("no attempt made")
        attempt = 0
        while attempt < self.retry.max_attempts:
            attempt += 1
            self.stats.waited_seconds += self.rate.acquire()
            outcome = self._try(url, params, headers or {}, where)
            if not isinstance(outcome, _Try):
                return outcome
            if outcome.problem == "auth":
                if refreshed or not self.auth.refresh():
                    raise self._auth_error(where)
                refreshed, attempt = True, attempt - 1
                self.stats.token_refreshes += 1
                continue
            last = outcome
            if attempt < self.retry.max_attempts:
                wait = self.retry.delay(attempt, outcome.retry_after)
                logger.warning(
                    "%s: %s; retry %d/%d in %.2fs",
                    where,
                    outcome.problem,
                    attempt,
                    self.retry.max_attempts - 1,
                    wait,
                )
                self.stats.retries += 1
                self.stats.waited_seconds += wait
                sleep(wait)
        error = MalformedResponseError if last.malformed else UpstreamUnavailableError
        raise error(f"{where} failed {attempt} times; last: {last.problem}", system=self.system)

    def _try(self, url: str, params: Any, headers: Mapping[str, str], where: str) -> Any:
        self.stats.requests += 1
        try:
            resp = session().get(
                url,
                params={**(params or {}), **self.auth.params()},
                headers={**headers, **self.auth.headers()},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return _Try(f"no answer within {self.timeout:g}s")
        except requests.RequestException as e:
            # str(e) embeds the full URL (query keys included): only the type is safe.
            return _Try(f"connection failed ({type(e).__name__})")
        return self._read(resp, where)

    def _read(self, resp: requests.Response, where: str) -> Any:
        status = resp.status_code
        if status in (401, 403):
            return _Try("auth")
        if status in RETRY_STATUSES:
            return _Try(f"HTTP {status}", parse_retry_after(resp.headers.get("Retry-After")))
        if status >= 400 or status in (301, 302, 303, 307, 308):
            raise UpstreamRequestError(
                f"{where} answered HTTP {status}: {self._error_text(resp)}",
                system=self.system,
                status=status,
            )
        ctype = resp.headers.get("Content-Type", "")
        if "json" not in ctype.lower():
            raise UnexpectedResponseError(
                f"{where} answered {ctype or 'no content type'} instead of JSON "
                "(check base_url and the path)",
                system=self.system,
            )
        try:
            return json.loads(resp.content)
        except json.JSONDecodeError as e:
            return _Try(f"malformed JSON ({e.msg} at byte {e.pos})", malformed=True)
        except UnicodeDecodeError as e:
            return _Try(f"malformed JSON (not UTF-8 at byte {e.start})", malformed=True)

    def _error_text(self, resp: requests.Response) -> str:
        try:
            body = resp.json()
            err = body.get("error", body) if isinstance(body, dict) else body
            text = json.dumps(err)[:300]
        except ValueError:
            text = resp.text[:300]
        return self.auth.redact(text)

    def _auth_error(self, where: str) -> AuthError:
        return AuthError(
            f"{where}: credentials rejected (HTTP 401/403); check {self.auth.describe()}",
            system=self.system,
        )
