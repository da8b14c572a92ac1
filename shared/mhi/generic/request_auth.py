"""Credentials of `ms-http-request`, from the account's secrets, and the hosts they may reach.

`auth.credentials` is a prefix (`http`, or `http-<name>`): a bearer token is the secret
`<prefix>-bearer-token`, an API key `<prefix>-api-key`, basic auth `<prefix>-username` and
`<prefix>-password`, OAuth2 client credentials `<prefix>-client-id`, `<prefix>-client-secret`
and `<prefix>-token-url`. The secret `<prefix>-hosts` (or the deployment setting
`MHI_<PREFIX>_HOSTS`) lists the hosts the credentials may be sent to: a flow chooses its URL, the
operator chooses where the account's credentials go. OAuth2 tokens are fetched through the same
guarded client, cached per process until shortly before they expire, and refreshed once when
the API answers 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from mhi.config import Settings
from mhi.errors import AuthError, SecretAccessError, UpstreamUnavailableError
from mhi.generic.request_config import AuthConfig
from mhi.http import (
    Call,
    Destination,
    HostScope,
    OutboundClient,
    RetryRules,
    host_scope,
    redact,
)
from mhi.http.answers import tries
from mhi.http.endpoints import setting_name
from mhi.http.policy import UrlPolicy

# What a handler may read (terraform grants these; other prefixes: `extra_secrets`).
SECRETS = (
    "http-api-key",
    "http-bearer-token",
    "http-client-id",
    "http-client-secret",
    "http-hosts",
    "http-password",
    "http-token-url",
    "http-username",
)
SecretReader = Callable[[str], str]


@dataclass
class Token:
    """An access token and when to stop using it (a little before it expires)."""

    value: str
    expires_at: float


@dataclass(frozen=True)
class TokenRequest:
    """One client-credentials token request: where, what, to which hosts, what to hide."""

    url: str
    form: dict[str, str]
    scope: HostScope
    hidden: list[str]
    names: str  # the secrets involved, for an error message


TokenFetch = Callable[[TokenRequest], Token]
_tokens: dict[tuple[str, str, str], Token] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    """Forget every cached OAuth2 token (tests)."""
    with _tokens_lock:
        _tokens.clear()


@dataclass
class Credentials:
    """Headers to add, the hosts they may go to, and the values to hide."""

    config: AuthConfig
    scope: HostScope
    headers: Callable[[], dict[str, str]]
    refresh: Callable[[], bool] | None = None
    secrets: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Name the secrets (never their values) for an error message."""
        return "secrets " + ", ".join(repr(n) for n in self.config.secret_names())


def _read(read: SecretReader, account: str, name: str) -> str:
    value = read(name).strip()
    if not value:
        raise SecretAccessError(f"secret {account}--{name} is empty", account=account)
    return value


def _scope(settings: Settings, config: AuthConfig, read: SecretReader, account: str) -> HostScope:
    name = f"{config.credentials}-hosts"
    try:
        listed = [p for p in read(name).split(",") if p.strip()]
    except SecretAccessError:
        listed = []
    scope = host_scope(settings, config.credentials, listed)
    if not scope.patterns:
        raise SecretAccessError(
            f"auth {config.type}: set the secret {account}--{name} (or the setting "
            f"{setting_name(config.credentials, 'hosts')}) to the hosts these credentials may "
            "be sent to, e.g. api.example.com or *.example.com",
            account=account,
        )
    return scope


def credentials(
    settings: Settings,
    config: AuthConfig,
    read: SecretReader,
    account: str,
    fetch: TokenFetch,
) -> Credentials:
    """Build the credentials of a request from the account's secrets."""
    scope = _scope(settings, config, read, account)
    prefix = config.credentials
    if config.type == "bearer":
        token = _read(read, account, f"{prefix}-bearer-token")
        return Credentials(
            config, scope, lambda: {"Authorization": f"Bearer {token}"}, None, [token]
        )
    if config.type == "api_key":
        key = _read(read, account, f"{prefix}-api-key")
        return Credentials(config, scope, lambda: {config.header: key}, None, [key])
    if config.type == "basic":
        user = _read(read, account, f"{prefix}-username")
        password = _read(read, account, f"{prefix}-password")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        header = {"Authorization": f"Basic {basic}"}
        return Credentials(config, scope, lambda: header, None, [user, password, basic])
    return _oauth2(settings, config, read, account, scope, fetch)


def _oauth2(
    settings: Settings,
    config: AuthConfig,
    read: SecretReader,
    account: str,
    scope: HostScope,
    fetch: TokenFetch,
) -> Credentials:
    prefix = config.credentials
    client_id = _read(read, account, f"{prefix}-client-id")
    client_secret = _read(read, account, f"{prefix}-client-secret")
    token_url = _read(read, account, f"{prefix}-token-url")
    UrlPolicy.from_settings(settings).check(token_url, f"secret {account}--{prefix}-token-url")
    scope = scope.plus([token_url])  # the operator set it: the client secret may go there
    digest = hashlib.sha256(f"{client_id}\0{client_secret}".encode()).hexdigest()[:24]
    key = (token_url, config.scope or "", digest)
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if config.scope:
        form["scope"] = config.scope
    hidden = [client_id, client_secret]
    names = ", ".join(repr(n) for n in config.secret_names())
    request = TokenRequest(token_url, form, scope, hidden, names)

    def token(fresh: bool = False) -> str:
        with _tokens_lock:
            cached = None if fresh else _tokens.get(key)
        if cached is None or cached.expires_at <= time.time():
            cached = fetch(request)
            with _tokens_lock:
                _tokens[key] = cached
        if cached.value not in hidden:
            hidden.append(cached.value)
        return cached.value

    def refresh() -> bool:
        token(fresh=True)
        return True

    return Credentials(
        config, scope, lambda: {"Authorization": f"Bearer {token()}"}, refresh, hidden
    )


def token_fetcher(outbound: OutboundClient, timeout: float) -> TokenFetch:
    """Return a function that asks a token endpoint for a client-credentials token."""

    def fetch(req: TokenRequest) -> Token:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in req.form.items())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        dest = Destination("token endpoint", req.scope, timeout, secrets=tuple(req.hidden))
        rules = RetryRules(max_tries=3, budget_seconds=30.0)
        out = outbound.send(dest, lambda: Call("POST", req.url, {}, headers, body.encode()), rules)
        r = out.response
        if r is None or r.status == 429 or r.status >= 500:
            last = out.error or f"HTTP {r.status if r else '?'}"
            raise UpstreamUnavailableError(f"token endpoint: {last} after {tries(out.tries)}")
        try:
            data = json.loads(r.body)
        except ValueError:
            data = None
        if r.status != 200 or not isinstance(data, dict) or "access_token" not in data:
            code = data.get("error") if isinstance(data, dict) else None
            why = redact(str(code or f"HTTP {r.status}"), req.hidden)[:100]
            raise AuthError(
                f"token endpoint refused the client credentials ({why}); check {req.names}"
            )
        return Token(str(data["access_token"]), time.time() + _lifetime(data.get("expires_in")))

    return fetch


def _lifetime(expires_in: object) -> float:
    """Seconds to use a token: its `expires_in` (default an hour) less a margin of 5 minutes,
    or of half its life when it is short."""
    try:
        seconds = float(str(expires_in)) if expires_in is not None else 3600.0
    except ValueError:
        seconds = 3600.0
    return seconds - min(300.0, seconds / 2)
