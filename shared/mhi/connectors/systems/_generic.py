"""The shared contract for systems without a public extraction API (Avalon, Axional, Madisa).

UNCONFIRMED, all of it (api-reference §8c: no public source describes these APIs), until each
vendor provides a spec: `GET {base}/{resource}` with `updated_from`/`updated_to` (ISO-8601 UTC,
`updated_to` exclusive), `page` + `page_size`, envelope `{"data": [...], "page", "page_size",
"total", "has_more"}`, records keyed by `id` with `updated_at`. Auth: `X-Api-Key` (default) or
OAuth2 client credentials at `{base}/oauth/token`.

These systems have no public host: the base URL is the account's secret `<prefix>-base-url` (or
the setting `MHI_<SYSTEM>_BASE_URL`), never the flow's; the token endpoint defaults to
`{base}/oauth/token` and can be moved with the secret `<prefix>-token-url`. Credentials go only
to those hosts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from mhi.connectors.auth import ApiKeyHeader, Auth, OAuth2ClientCredentials
from mhi.connectors.paging import PageNumber
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    Endpoints,
    ExtractConfig,
    ModifiedSince,
    TokenEndpoint,
    iso_z,
)

PAGING = PageNumber(records_key="data", page_param="page", size_param="page_size")


class GenericConfig(ExtractConfig):
    """Options of the generic-contract extractors. UNCONFIRMED contract (no public API docs);
    the API root is the account's secret `<prefix>-base-url`, never set in a flow."""

    auth_scheme: Literal["api_key", "oauth2"] = Field(
        "api_key",
        description="api_key: secret <prefix>-api-key as X-Api-Key; oauth2: secrets "
        "<prefix>-client-id and <prefix>-client-secret at {base}/oauth/token (or the secret "
        "<prefix>-token-url)",
    )


def default_token(config: GenericConfig, base: str) -> str:
    """The assumed token endpoint: `{base}/oauth/token`."""
    return f"{base}/oauth/token"


def token_secret(creds: Credentials) -> str:
    """The secret that moves the token endpoint."""
    return creds.name("token-url")


TOKEN = TokenEndpoint(default_token, token_secret)


def updated_params(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Return `updated_from` / `updated_to` for a window."""
    out: dict[str, Any] = {}
    if since is not None:
        out["updated_from"] = iso_z(since)
    if until is not None:
        out["updated_to"] = iso_z(until)
    return out


def dataset(
    name: str,
    required: tuple[str, ...],
    summary: str,
    *,
    resource: str | None = None,
    rescan: timedelta = timedelta(minutes=10),
) -> Dataset:
    """Declare a generic-contract dataset (`rescan`: overlap re-read on each run)."""
    return Dataset(
        name=name,
        path=f"/{resource or name}",
        key=("id",),
        paging=PAGING,
        incremental=ModifiedSince("updated_at", updated_params, overlap=rescan),
        required=("updated_at", *required),
        summary=summary,
    )


def auth(creds: Credentials, config: GenericConfig, endpoints: Endpoints) -> Auth:
    """Build the configured scheme from the account's secrets."""
    if config.auth_scheme == "oauth2":
        return OAuth2ClientCredentials(
            token_url=endpoints.token or default_token(config, endpoints.base),
            client_id=creds.get("client-id"),
            client_secret=creds.get("client-secret"),
            scope=None,
            secret_names=(creds.name("client-id"), creds.name("client-secret")),
            timeout=config.timeout_seconds,
        )
    return ApiKeyHeader("X-Api-Key", creds.get("api-key"), creds.name("api-key"))
