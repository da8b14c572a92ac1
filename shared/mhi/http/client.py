"""The one outbound HTTP client: every call to a system outside (connectors, Qlik, Mailgun, Slack,
webhooks) goes through `OutboundClient.send`.

Each try: the caller's `build()` gives the request (so a token refreshed after a 401, a ReviewPro
signature or a webhook timestamp is fresh on every try); the URL passes the policy
(`mhi.http.policy`) and the destination's host scope; the host is resolved once per client, every
address checked, and the connection pool is pinned to the checked address, with the original
host for TLS SNI, certificate checks and the Host header, so nothing resolves the name a second
time. Redirects are never followed. Query strings are encoded here, spaces as `%20`.

Retries follow `RetryRules` (urllib3's `Retry` plus a sleep budget); a 401 may trigger one
credential refresh; with `expect_json` a body that is not valid JSON counts as a transient
failure. Errors and logs never carry a URL's path or query: they name the service and the host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NameResolutionError, ProtocolError, ReadTimeoutError, SSLError

from mhi.http.addresses import IPAddress
from mhi.http.policy import (
    HostScope,
    LookupUnavailableError,
    Target,
    UrlPolicy,
    UrlRefusedError,
)
from mhi.http.redact import install_library_filter, redact, remember_secrets
from mhi.http.retry import RetryRules, next_pause

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 2**20
QUERY_SAFE = "$:,@!*'()/"  # kept as is; a space becomes %20, never '+'
USER_AGENT = "mhi-orchestrator/1"


def encode_query(params: Mapping[str, Any]) -> str:
    """Encode query parameters, spaces as `%20` (Microsoft Graph rejects `+`)."""
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            pairs.append(f"{quote(str(key), safe=QUERY_SAFE)}={quote(text, safe=QUERY_SAFE)}")
    return "&".join(pairs)


@dataclass(frozen=True)
class Call:
    """One request as the caller builds it for one try."""

    method: str
    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Response:
    """A received answer: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON (raises ValueError when it is not)."""
        return json.loads(self.body)

    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Outcome:
    """The end of a retried call: the last answer (if any), tries, time slept, and why not."""

    response: Response | None
    tries: int
    error: str | None = None  # no usable answer: connection failure, timeout, malformed JSON
    waited: float = 0.0
    retry_after: float | None = None
    refreshed: bool = False
    data: Any = None  # the decoded JSON when `expect_json`


@dataclass(frozen=True)
class Tls:
    """TLS options of a destination (on-premises Qlik: client certificate, private CA)."""

    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where a call goes: the service's name (for messages), its host scope (None: any public
    host, for calls that carry no credentials), timeouts, TLS and the values to redact."""

    service: str
    scope: HostScope | None = None
    timeout: float = 30.0
    tls: Tls = field(default_factory=Tls)
    secrets: tuple[str, ...] = ()


class OutboundClient:
    """Pinned connection pools and the retry loop. Thread-safe; close it when done."""

    def __init__(
        self,
        policy: UrlPolicy,
        sleep: Callable[[float], None] = time.sleep,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.policy, self.sleep, self.max_body_bytes = policy, sleep, max_body_bytes
        self._pools: dict[tuple[Any, ...], urllib3.HTTPConnectionPool] = {}
        self._addresses: dict[tuple[str, int], IPAddress] = {}
        self._lock = threading.Lock()
        install_library_filter()

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def send(
        self,
        dest: Destination,
        build: Callable[[], Call],
        rules: RetryRules,
        *,
        refresh: Callable[[], bool] | None = None,
        expect_json: bool = False,
        before_try: Callable[[], None] | None = None,
    ) -> Outcome:
        """Send one logical call with retries; never raises for an HTTP status or network error.

        Raises:
            UrlRefusedError: the URL (or an address its host resolves to) is refused.
        """
        retry, waited, tries, refreshed = rules.start(), 0.0, 0, False
        while True:
            tries += 1
            if before_try is not None:
                before_try()
            call = build()
            response, error, exc = self._try(dest, call)
            outcome = Outcome(response, tries, error, waited, refreshed=refreshed)
            if _unauthorized(response) and refresh is not None and not refreshed and refresh():
                refreshed, tries = True, tries - 1  # one refresh, not counted as a try
                continue
            if expect_json and _json_answer(response) and error is None:
                assert response is not None
                outcome.data, outcome.error = _decode(response)
                exc = ProtocolError(outcome.error) if outcome.error else None
            status = outcome.response.status if outcome.response else None
            headers = outcome.response.headers if outcome.response else {}
            pause, outcome.retry_after, retry = next_pause(
                rules, retry, call.method, status, headers, exc
            )
            if pause is None or waited + pause > rules.budget_seconds:
                return outcome
            self._log_retry(dest, call, outcome, pause, rules)
            self.sleep(pause)
            waited += pause

    def _log_retry(
        self, dest: Destination, call: Call, outcome: Outcome, pause: float, rules: RetryRules
    ) -> None:
        status = f"HTTP {outcome.response.status}" if outcome.response else "no answer"
        logger.warning(
            "%s: %s %s: %s; retry %d of %d in %.2fs",
            dest.service,
            call.method,
            self._label(call.url),
            outcome.error or status,
            outcome.tries,
            rules.max_tries - 1,
            pause,
        )

    # ---- one try --------------------------------------------------------------------------

    def _try(
        self, dest: Destination, call: Call
    ) -> tuple[Response | None, str | None, Exception | None]:
        target = self.policy.check(call.url, dest.service, dest.scope)
        try:
            address = self._address(target, dest.service)
        except LookupUnavailableError as e:  # nothing was sent: repeat like a refused connection
            return None, str(e), NameResolutionError(target.host, None, e)  # type: ignore[arg-type]
        if call.params:
            joiner = "&" if "?" in target.path else "?"
            path = target.path + joiner + encode_query(call.params)
        else:
            path = target.path
        headers = {"User-Agent": USER_AGENT, **call.headers, "Host": target.host_header}
        remember_secrets(dest.secrets)
        pool = self._pool(target, address, dest)
        try:
            raw = pool.urlopen(
                call.method,
                path,
                body=call.body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=dest.timeout, read=dest.timeout),
            )
        except (Urllib3Error, OSError) as e:
            return None, _describe(e, dest.timeout), _as_urllib3(e)
        return self._read(raw)

    def _read(
        self, raw: urllib3.BaseHTTPResponse
    ) -> tuple[Response | None, str | None, Exception | None]:
        try:
            body = raw.read(self.max_body_bytes + 1)
        except (Urllib3Error, OSError) as e:
            raw.close()
            return None, f"answer cut short ({type(e).__name__})", ProtocolError("cut short")
        if len(body) > self.max_body_bytes:
            raw.close()
            too_big = f"answer larger than {self.max_body_bytes // 2**20} MiB"
            return None, too_big, ProtocolError(too_big)
        raw.release_conn()
        headers = {k.lower(): v for k, v in raw.headers.items()}
        return Response(raw.status, headers, body), None, None

    def _address(self, target: Target, what: str) -> IPAddress:
        key = (target.host, target.port)
        with self._lock:
            known = self._addresses.get(key)
        if known is None:
            known = self.policy.resolve(target, what)
            with self._lock:
                self._addresses[key] = known
        return known

    def _pool(
        self, target: Target, address: IPAddress, dest: Destination
    ) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, str(address), target.port, target.host, dest.tls)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _new_pool(target, address, dest.tls)
        return pool

    @staticmethod
    def _label(url: str) -> str:
        try:
            return url.split("://", 1)[1].split("/", 1)[0].split("@")[-1]
        except IndexError:
            return "?"


def _new_pool(target: Target, address: IPAddress, tls: Tls) -> urllib3.HTTPConnectionPool:
    host = str(address)
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(host, target.port, maxsize=4, block=False)
    server_name = target.host if target.address is None else None
    return urllib3.HTTPSConnectionPool(
        host,
        target.port,
        maxsize=4,
        block=False,
        cert_reqs="CERT_REQUIRED" if tls.verify else "CERT_NONE",
        ca_certs=tls.ca_file,  # None: the system's trust store
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        server_hostname=server_name,
        assert_hostname=(target.host if tls.verify else False),
    )


def _json_answer(response: Response | None) -> bool:
    """A 2xx answer that says it is JSON (anything else is the caller's to judge)."""
    if response is None or response.status >= 300:
        return False
    return "json" in response.headers.get("content-type", "").lower()


def _unauthorized(response: Response | None) -> bool:
    return response is not None and response.status == 401


def _decode(response: Response) -> tuple[Any, str | None]:
    try:
        return json.loads(response.body), None
    except json.JSONDecodeError as e:
        return None, f"malformed JSON ({e.msg} at byte {e.pos})"
    except UnicodeDecodeError as e:
        return None, f"malformed JSON (not UTF-8 at byte {e.start})"


def _describe(error: BaseException, timeout: float) -> str:
    """Name a network failure without its text (urllib3 messages repeat the URL)."""
    if isinstance(error, ReadTimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
        error, urllib3.exceptions.NewConnectionError
    ):
        return f"could not connect within {timeout:g}s"
    if isinstance(error, SSLError):
        return "TLS handshake failed (certificate or protocol)"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "connection failed (refused or unreachable)"
    return f"connection failed ({type(error).__name__})"


def _as_urllib3(error: BaseException) -> Exception:
    """The urllib3 error `Retry` classifies: a connect error (the request never left: safe to
    repeat even when not idempotent) or a read error (it may have been applied)."""
    if isinstance(error, Urllib3Error):
        return error
    return ProtocolError(type(error).__name__)


__all__ = [
    "Call",
    "Destination",
    "OutboundClient",
    "Outcome",
    "Response",
    "Tls",
    "UrlRefusedError",
    "encode_query",
    "redact",
]
