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
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from mhi.errors import AuthError, UpstreamUnavailableError

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
        """Replace every secret value in `text` with `***`."""
        for value in self._values:
            if value:
                text = text.replace(value, "***")
        return text


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
    post: Callable[..., requests.Response] | None = None
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

    def _fetch(self) -> _Token:
        from mhi.connectors.http import describe, session

        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if self.scope:
            form["scope"] = self.scope
        where = f"token endpoint {describe(self.token_url)}"
        try:
            resp = (self.post or session().post)(self.token_url, data=form, timeout=self.timeout)
        except requests.RequestException as e:
            raise UpstreamUnavailableError(f"{where}: {type(e).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise UpstreamUnavailableError(f"{where} answered HTTP {resp.status_code}")
        body = _json_or_empty(resp)
        if resp.status_code != 200 or "access_token" not in body:
            code = self.redact(str(body.get("error", f"HTTP {resp.status_code}")))[:100]
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


def _json_or_empty(resp: requests.Response) -> dict[str, object]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def clear_token_cache() -> None:
    """Forget every cached token (tests; a rotated secret is picked up on the next 401 anyway)."""
    with _tokens_lock:
        _tokens.clear()
