"""Microsoft Entra client credentials and OData paging, shared by Business Central and Graph.

The token endpoint is `https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`
(sovereign clouds or a proxy: the secret `<prefix>-token-url` or `MHI_<SYSTEM>_TOKEN_URL`, never
the flow). OData `$filter` values travel with spaces as `%20`: Graph rejects `+`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mhi.connectors.auth import Auth, OAuth2ClientCredentials
from mhi.connectors.paging import NextLink
from mhi.connectors.spec import Credentials, Endpoints, ExtractConfig, TokenEndpoint, iso_z

ENTRA_HOSTS = ("login.microsoftonline.com",)
TENANT_PATTERN = r"^[A-Za-z0-9.-]{1,100}$"
PAGE_HEADERS = {"Prefer": "odata.maxpagesize={page_size}"}
NEXT_LINK = NextLink(records_key="value", next_key="@odata.nextLink", cursor_key=None)
DELTA = NextLink(records_key="value", next_key="@odata.nextLink", cursor_key="@odata.deltaLink")


class EntraConfig(ExtractConfig):
    """Options of the Microsoft extractors (Entra app: secrets `<prefix>-client-id` and
    `<prefix>-client-secret`)."""

    tenant_id: str = Field(pattern=TENANT_PATTERN, description="Entra tenant id or domain")


def default_token(config: EntraConfig, base: str) -> str:
    """The tenant's Entra token endpoint."""
    return f"https://login.microsoftonline.com/{config.tenant_id}/oauth2/v2.0/token"


def token_secret(creds: Credentials) -> str:
    """The secret that moves the token endpoint (sovereign clouds, proxies)."""
    return creds.name("token-url")


TOKEN = TokenEndpoint(default_token, token_secret)


def entra_auth(creds: Credentials, config: EntraConfig, endpoints: Endpoints, scope: str) -> Auth:
    """Client credentials against the tenant's Entra token endpoint."""
    return OAuth2ClientCredentials(
        token_url=endpoints.token or default_token(config, endpoints.base),
        client_id=creds.get("client-id"),
        client_secret=creds.get("client-secret"),
        scope=scope,
        secret_names=(creds.name("client-id"), creds.name("client-secret")),
        timeout=config.timeout_seconds,
    )


def modified_filter(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Return `$filter` on `lastModifiedDateTime` (OData v4: datetime literals unquoted)."""
    terms = []
    if since is not None:
        terms.append(f"lastModifiedDateTime gt {iso_z(since)}")
    if until is not None:
        terms.append(f"lastModifiedDateTime lt {iso_z(until)}")
    out: dict[str, Any] = {"$orderby": "lastModifiedDateTime"}
    if terms:
        out["$filter"] = " and ".join(terms)
    return out
