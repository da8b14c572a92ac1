"""HTTP plumbing shared by the Qlik and notification steps: URL policy, retries, redaction.

Every outbound call goes through `check_url` (https only; plain http only to loopback hosts, so a
flow cannot be used to probe internal addresses) and never follows redirects. Transient answers
(429, 502, 503, 504, connection errors, timeouts) are retried a bounded number of times,
honouring `Retry-After`; error messages name the service and the status, never a credential or
a secret URL.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from mhi.errors import StepConfigError, UpstreamUnavailableError
from mhi.http_headers import parse_retry_after

logger = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
# Answers that mean "not processed, try again": the only ones a non-idempotent call retries
# (after a timeout a POST may have been applied, so the caller checks before repeating it).
REJECTED_STATUS = frozenset({429, 503})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_BLOCKED_HOSTS = frozenset({"metadata.google.internal", "metadata"})


def check_url(url: str, what: str, *, allow_private: bool = True) -> str:
    """Return `url` if it may be called; raise StepConfigError saying why not.

    Args:
        url: the URL from a flow's config (or a secret).
        what: how the error names it (`webhook_url`, `tenant_url`, ...).
        allow_private: whether https to a private/link-local IP literal is allowed (on-premise
            Qlik Sense lives on internal addresses; webhooks never need to).
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as e:
        raise StepConfigError(f"{what}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise StepConfigError(f"{what}: scheme {parts.scheme!r} is not allowed, use https")
    if parts.username or parts.password:
        raise StepConfigError(f"{what}: credentials inside the URL are not allowed")
    if not host:
        raise StepConfigError(f"{what}: the URL has no host")
    if parts.scheme == "http":
        if host not in LOOPBACK_HOSTS:
            raise StepConfigError(
                f"{what}: must use https (plain http only to 127.0.0.1/localhost)"
            )
        return url
    if host in _BLOCKED_HOSTS:
        raise StepConfigError(f"{what}: host {host!r} is not allowed")
    if not allow_private and _is_private_ip(host):
        raise StepConfigError(f"{what}: private, loopback or link-local addresses are not allowed")
    return url


def valid_url(url: str, what: str, *, allow_private: bool = True) -> str:
    """`check_url` for pydantic validators: raise ValueError so the error gets its path."""
    try:
        return check_url(url, what, allow_private=allow_private)
    except StepConfigError as e:
        raise ValueError(str(e)) from None


def _is_private_ip(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_global


def public_label(url: str) -> str:
    """Return `scheme://host/path` of a URL (no query, no credentials) for outputs and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Return the wait a `Retry-After` header asks for (seconds or HTTP date), if any."""
    return None if response is None else parse_retry_after(response.headers.get("Retry-After"))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value inside `text` with `***`."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites library log records that would show a secret (urllib3 logs request paths)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = redact(message, self.secrets), None
        return True


_LIBRARY_FILTER = _RedactingFilter()
_LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


def hide_in_library_logs(url: str) -> None:
    """Keep a secret URL (a Slack webhook) out of HTTP libraries' debug log lines."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    _LIBRARY_FILTER.secrets.update(v for v in (url, path) if len(v) > 1)
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        if _LIBRARY_FILTER not in library_logger.filters:
            library_logger.addFilter(_LIBRARY_FILTER)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for one logical call: tries, exponential backoff, a total sleep budget."""

    max_tries: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    budget_seconds: float = 45.0  # total sleeping allowed for one call
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, failed_try: int) -> float:
        """Return the pause after try number `failed_try` (from 1), with jitter."""
        base = min(self.max_backoff, self.initial_backoff * 2.0 ** (failed_try - 1))
        return float(base * (0.5 + random.random() / 2))


class RateLimitedError(UpstreamUnavailableError):
    """A service asked us to wait longer than this call may sleep."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Outcome:
    """The end of a retried call: the last response (if any) and how many tries it took."""

    response: requests.Response | None
    tries: int
    error: str | None = None  # set when no HTTP answer came back at all
    waited: float = 0.0
    retry_after: float | None = None


def send(
    session: requests.Session,
    method: str,
    url: str,
    policy: RetryPolicy,
    *,
    timeout: float = 30.0,
    idempotent: bool = True,
    **kwargs: Any,
) -> Outcome:
    """Send one request with retries on transient answers; return the final outcome.

    A non-idempotent request is retried only when the server said it did not process it
    (429, 503). Never raises for an HTTP status or a network error: the caller decides.
    """
    waited, tries = 0.0, 0
    retry_on = TRANSIENT_STATUS if idempotent else REJECTED_STATUS
    while True:
        tries += 1
        response, error = _try_once(session, method, url, timeout, kwargs)
        transient = (response is None and idempotent) or (
            response is not None and response.status_code in retry_on
        )
        if not transient or tries >= policy.max_tries:
            return Outcome(response, tries, error, waited, retry_after_seconds(response))
        pause = retry_after_seconds(response)
        pause = policy.backoff(tries) if pause is None else pause
        if waited + pause > policy.budget_seconds:
            return Outcome(response, tries, error, waited, retry_after_seconds(response))
        status = "no answer" if response is None else f"HTTP {response.status_code}"
        logger.warning("%s %s: %s, retrying in %.1fs", method, _host(url), status, pause)
        policy.sleep(pause)
        waited += pause


def _try_once(
    session: requests.Session, method: str, url: str, timeout: float, kwargs: Mapping[str, Any]
) -> tuple[requests.Response | None, str | None]:
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs), None
    except requests.Timeout:
        return None, f"no answer within {timeout:g}s"
    except requests.ConnectionError:
        # The exception text repeats the URL (a Slack URL is a secret): name the class only.
        return None, "connection failed"
    except requests.RequestException as e:
        return None, f"request failed ({type(e).__name__})"


def tries(n: int) -> str:
    """Return `1 try` / `n tries`."""
    return "1 try" if n == 1 else f"{n} tries"


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def body_excerpt(response: requests.Response, limit: int = 300) -> str:
    """Return a short, single-line excerpt of a response body for error messages."""
    try:
        data = response.json()
    except ValueError:
        text = response.text
    else:
        text = _json_message(data) or response.text
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _json_message(data: Any) -> str | None:
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return " ".join(str(first.get(k)) for k in ("title", "detail") if first.get(k))
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return None
