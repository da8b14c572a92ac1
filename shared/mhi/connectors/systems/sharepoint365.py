"""SharePoint (Microsoft Graph): list items and document-library files.

[DOC] Entra client credentials (scope `https://graph.microsoft.com/.default`, app permission
`Sites.Read.All` or `Sites.Selected`). Both datasets read Graph's delta feeds: pages follow
`@odata.nextLink`; the final `@odata.deltaLink` is the watermark the next run resumes from, and
410 Gone (expired delta token) restarts the feed. Deleted items arrive with a `deleted` facet.

Hosts: `graph.microsoft.com` and `login.microsoftonline.com` only: a next or delta link pointing
anywhere else is refused before any token is sent. The operator may move them with the secrets
`sharepoint365-base-url` / `-token-url` or `MHI_SHAREPOINT365_HOSTS`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mhi.connectors.auth import Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.spec import Credentials, Dataset, DeltaLink, Endpoints, System
from mhi.connectors.systems._microsoft import (
    DELTA,
    ENTRA_HOSTS,
    PAGE_HEADERS,
    TOKEN,
    EntraConfig,
    entra_auth,
)

SCOPE = "https://graph.microsoft.com/.default"
GRAPH_ID = r"^[A-Za-z0-9.,!_-]{1,300}$"


class SharePointConfig(EntraConfig):
    """Options of `ms-extractor-sharepoint365`."""

    system_name: ClassVar[str] = "sharepoint365"

    site_id: str | None = Field(
        None, pattern=GRAPH_ID, description="'{hostname},{site guid},{web guid}'"
    )
    list_id: str | None = Field(None, pattern=GRAPH_ID, description="for list_items")
    drive_id: str | None = Field(None, pattern=GRAPH_ID, description="for files")


def auth(creds: Credentials, config: SharePointConfig, endpoints: Endpoints) -> Auth:
    """Entra client credentials for Microsoft Graph."""
    return entra_auth(creds, config, endpoints, SCOPE)


SYSTEM = System(
    name="sharepoint365",
    config_model=SharePointConfig,
    datasets=(
        Dataset(
            "list_items",
            "/sites/{site_id}/lists/{list_id}/items/delta",
            key=("id",),
            paging=DELTA,
            incremental=DeltaLink(),
            required=("lastModifiedDateTime",),
            params={"$expand": "fields"},
            headers=PAGE_HEADERS,
            summary="list items with their columns under `fields`",
        ),
        Dataset(
            "files",
            "/drives/{drive_id}/root/delta",
            key=("id",),
            paging=DELTA,
            incremental=DeltaLink(),
            required=("name", "lastModifiedDateTime"),
            headers=PAGE_HEADERS,
            summary="document-library items: name, size, hashes, path, download URL",
        ),
    ),
    auth=auth,
    api_hosts=("graph.microsoft.com", *ENTRA_HOSTS),
    default_base=lambda c: "https://graph.microsoft.com/v1.0",
    token=TOKEN,
    requests_per_second=4.0,  # limits are per app and tenant: stay well under them
    page_size=500,
    summary="SharePoint (Microsoft Graph): list items and files",
)

KIND = make_kind(SYSTEM)
