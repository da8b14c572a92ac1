"""Auth schemes: API key header or query, HTTP basic, OAuth2 client credentials (cached token,
refreshed before expiry and once on 401) and signed query strings (ReviewPro).

Schemes hold secret values only in memory; `describe()` names the secrets (never the values) and
`redact()` scrubs them from any text that is about to reach a message.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mhi.errors import AuthError, UpstreamUnavailableError
from mhi.http.redact import redact

# POST a form to a token endpoint: (url, form, timeout) -> (status, decoded JSON body or None).
# The connector's HTTP client provides it (the same guarded client as every other call); None
# means the endpoint could not be reached (the text says why).
TokenPost = Callable[[str, Mapping[str, str], float], tuple[int | None, Any, str]]

logger = logging.getLogger(__name__)


class Auth:
    """Base scheme: adds nothing. Subclasses override `headers`/`params`/`refresh`."""

    secret_names: tuple[str, ...] = ()
    _values: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        """Return the headers to add to a request."""
        return {}

    def params(self) -> dict[str, str]:
        """Return the query parameters to add to a request."""
        return {}

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; return False when the scheme has none."""
        return False

    def describe(self) -> str:
        """Name the secrets this scheme uses (for error messages)."""
        names = ", ".join(repr(n) for n in self.secret_names)
        return f"secrets {names}" if names else "the credentials"

    def redact(self, text: str) -> str:
        """Replace every secret value in `text` with `***` (the one rule of `mhi.http`)."""
        return redact(text, self._values)

    def secrets(self) -> tuple[str, ...]:
        """The secret values this scheme sends (for the HTTP client's redaction)."""
        return tuple(v for v in self._values if v)

    def use_post(self, post: TokenPost) -> None:
        """Give a scheme that fetches tokens the client to fetch them with."""


class ApiKeyHeader(Auth):
    """A static key in a header (`X-Api-Key`, Holded's `key`)."""

    def __init__(self, header: str, key: str, secret_name: str) -> None:
        self.header, self._values, self.secret_names = header, (key,), (secret_name,)

    def headers(self) -> dict[str, str]:
        """Return the key header."""
        return {self.header: self._values[0]}


class BasicAuth(Auth):
    """HTTP basic (RFC 7617)."""

    def __init__(self, user: str, password: str, secret_names: tuple[str, str]) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._header = f"Basic {token}"
        self._values, self.secret_names = (user, password, token), secret_names

    def headers(self) -> dict[str, str]:
        """Return the Authorization header."""
        return {"Authorization": self._header}


class SignedQuery(Auth):
    """ReviewPro: `api_key` plus `sig = sha256(key + secret + unix_seconds)` in the query."""

    def __init__(
        self,
        key: str,
        secret: str,
        secret_names: tuple[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._values, self.secret_names, self.clock = (key, secret), secret_names, clock

    def params(self) -> dict[str, str]:
        """Return `api_key` and a fresh `sig`."""
        key, secret = self._values
        sig = hashlib.sha256(f"{key}{secret}{int(self.clock())}".encode()).hexdigest()
        return {"api_key": key, "sig": sig}


@dataclass
class _Token:
    value: str
    expires_at: float


# Process-wide token cache: a warm function instance reuses a token across steps. Keyed by the
# token URL, scope and a digest of the client credentials, never by the values themselves.
_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


@dataclass
class OAuth2ClientCredentials(Auth):
    """OAuth2 client credentials: POST the token URL, cache the bearer token until shortly
    before `expires_in`, refresh it once when the API answers 401."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None
    secret_names: tuple[str, ...] = ()
    timeout: float = 30.0
    clock: Callable[[], float] = time.time
    post: TokenPost | None = None
    _values: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._values = (self.client_id, self.client_secret)
        digest = hashlib.sha256(f"{self.client_id}\0{self.client_secret}".encode()).hexdigest()
        self._key = (self.token_url, self.scope or "", digest[:24])

    def headers(self) -> dict[str, str]:
        """Return `Authorization: Bearer <token>`, fetching a token when none is valid."""
        with _tokens_lock:
            token = _tokens.get(self._key)
        if token is None or token.expires_at <= self.clock():
            token = self._fetch()
        self._values = (self.client_id, self.client_secret, token.value)
        return {"Authorization": f"Bearer {token.value}"}

    def refresh(self) -> bool:
        """Drop the cached token and fetch a new one."""
        with _tokens_lock:
            _tokens.pop(self._key, None)
        self._fetch()
        return True

    def use_post(self, post: TokenPost) -> None:
        """Fetch tokens through the connector's HTTP client (unless a test gave its own)."""
        if self.post is None:
            self.post = post

    def _fetch(self) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if self.scope:
            form["scope"] = self.scope
        where = f"token endpoint {_host_path(self.token_url)}"
        if self.post is None:
            raise AuthError(f"{where}: no HTTP client to fetch a token with")
        status, body, problem = self.post(self.token_url, form, self.timeout)
        if status is None:
            raise UpstreamUnavailableError(f"{where}: {problem}")
        if status == 429 or status >= 500:
            raise UpstreamUnavailableError(f"{where} answered HTTP {status}")
        body = body if isinstance(body, dict) else {}
        if status != 200 or "access_token" not in body:
            code = self.redact(str(body.get("error", f"HTTP {status}")))[:100]
            raise AuthError(
                f"{where} rejected the client credentials ({code}); check {self.describe()}"
            )
        expires_in = float(str(body.get("expires_in", 3600)))
        # Renew 5 minutes early (or halfway for short-lived tokens).
        margin = min(300.0, expires_in / 2)
        token = _Token(str(body["access_token"]), self.clock() + expires_in - margin)
        with _tokens_lock:
            _tokens[self._key] = token
        logger.info("%s: new access token, valid %.0fs", where, expires_in)
        return token


def _host_path(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def clear_token_cache() -> None:
    """Forget every cached token (tests; a rotated secret is picked up on the next 401 anyway)."""
    with _tokens_lock:
        _tokens.clear()
