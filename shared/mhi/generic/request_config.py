"""Config of `ms-http-request`: one call to an HTTP API (light module).

```json
{"method": "POST", "url": "https://reports.example.com/api/revenue",
 "body": {"run": "{{ run.id }}", "rows": "{{ steps.reshape.output.records }}"},
 "auth": {"type": "bearer", "credentials": "http-reports"}, "expect_status": [200, 201]}
```

The URL passes the one URL policy (`mhi.http.policy`) when the flow is validated and again when
the call is made. Credentials never come from the flow: `auth` names a prefix of the account's
secrets, and they are sent only to the hosts the operator listed for that prefix.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mhi.constants import MAX_OUTPUT_BYTES
from mhi.generic.common import GenericConfig, Scalar
from mhi.http.policy import valid_url

AuthType = Literal["bearer", "api_key", "basic", "oauth2_client_credentials"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
CREDENTIALS_RE = re.compile(r"^http(-[a-z0-9]+)*$")
HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers the client sets itself (or that would let a flow smuggle a second request).
MANAGED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)
# Secret suffixes per scheme, read as `<credentials>-<suffix>`; `hosts` always.
AUTH_SECRETS: dict[str, tuple[str, ...]] = {
    "bearer": ("bearer-token",),
    "api_key": ("api-key",),
    "basic": ("username", "password"),
    "oauth2_client_credentials": ("client-id", "client-secret", "token-url"),
}


class AuthConfig(GenericConfig):
    """Credentials from the account's secrets (never from the flow), and where they may go."""

    type: AuthType = Field(
        description="bearer (secret <credentials>-bearer-token), api_key (<credentials>-api-key "
        "in a header), basic (<credentials>-username, <credentials>-password) or "
        "oauth2_client_credentials (<credentials>-client-id, -client-secret, -token-url)"
    )
    credentials: str = Field(
        default="http",
        description="prefix of the account's secrets: http, or http-<name> for another set "
        "(e.g. http-crm reads http-crm-bearer-token); the secret <credentials>-hosts lists the "
        "hosts they may be sent to (names or *.suffix, comma-separated)",
    )
    header: str = Field(default="X-Api-Key", description="api_key: the header carrying the key")
    scope: str | None = Field(
        default=None, max_length=1000, description="oauth2_client_credentials: the scope to ask"
    )

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: str) -> str:
        if not CREDENTIALS_RE.match(value) or len(value) > 40:
            raise ValueError(
                f"credentials {value!r} must be http or http-<name> (lower-case letters, digits "
                "and '-'): the step reads only the account's http-* secrets"
            )
        return value

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not HEADER_RE.match(value) or value.lower() in MANAGED_HEADERS:
            raise ValueError(f"header {value!r} is not a header name this step may set")
        return value

    def secret_names(self) -> tuple[str, ...]:
        """The secrets this scheme reads, plus the hosts secret."""
        return tuple(f"{self.credentials}-{s}" for s in (*AUTH_SECRETS[self.type], "hosts"))


class HttpRequestConfig(GenericConfig):
    """Call an HTTP API: the response (or a part of it) becomes the step's output; a large one
    goes to a file in the run's artifacts."""

    method: Method = Field(default="GET", description="the HTTP method")
    url: str = Field(
        description="https URL of a public host (the URL policy: no private, loopback or "
        "metadata address in any spelling; http only to loopback where a deployment allows it)"
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="request headers (not Host, Content-Length and other connection headers; "
        "not Authorization when auth is set)",
    )
    query: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="query string parameters (a list repeats the name, null leaves it out)",
    )
    body: Any = Field(
        default=None, description="JSON body (any JSON value, templates allowed); null: none"
    )
    auth: AuthConfig | None = Field(default=None, description="credentials to send")
    expect_status: list[int] = Field(
        default_factory=list,
        description="the statuses that mean success (default: any 2xx); any other fails the step",
    )
    timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, description="connect and read timeout of each try"
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="tries of one call (429, 5xx, timeouts, connection failures; a call that is "
        "not idempotent only when it surely did not take effect)",
    )
    max_retry_wait_seconds: float = Field(
        default=60.0, ge=0, le=600, description="total sleeping between tries"
    )
    idempotent: bool | None = Field(
        default=None,
        description="whether repeating the call is harmless (default: GET, HEAD, PUT, DELETE are; "
        "POST and PATCH are not, and carry an Idempotency-Key header that stays the same "
        "across the step's attempts)",
    )
    select: str | None = Field(
        default=None,
        max_length=500,
        description="keep only this part of the JSON response: a dotted path, list indexes as "
        "numbers (data.items.0.id)",
    )
    inline_max_bytes: int = Field(
        default=32 * 1024,
        ge=0,
        le=MAX_OUTPUT_BYTES // 2,
        description="a (selected) response larger than this is written to the run's artifacts "
        "and the output names the file",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return valid_url(value, "url", info.context)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not HEADER_RE.match(name) or name.lower() in MANAGED_HEADERS:
                raise ValueError(f"header {name!r} is not a header name this step may set")
            if any(c in text for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: a value may not hold line breaks")
        return value

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"expect_status {bad} are not HTTP statuses (100-599)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpRequestConfig:
        names = {h.lower() for h in self.headers}
        if self.auth is not None and (
            "authorization" in names or self.auth.header.lower() in names
        ):
            raise ValueError("headers: leave the credentials' header to auth")
        if self.body is not None and self.method in ("GET", "HEAD"):
            raise ValueError(f"a {self.method} request has no body")
        return self

    def is_idempotent(self) -> bool:
        """Whether a try may be repeated after the request may have reached the server."""
        return self.method in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent
