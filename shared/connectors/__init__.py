"""Connectors: a small framework (auth, paging, retries, landing, watermarks, schema checks)
and one declarative module per source system under `shared.connectors.systems`."""

from shared.connectors.auth import (
    ApiKeyHeader,
    Auth,
    BasicAuth,
    OAuth2ClientCredentials,
    SignedQuery,
)
from shared.connectors.extract import extract, make_kind, select_datasets
from shared.connectors.http import HttpClient, RateLimiter, RetryPolicy, session
from shared.connectors.paging import (
    CursorToken,
    NextLink,
    OffsetLimit,
    Page,
    PageNumber,
    Paging,
    Request,
    Single,
)
from shared.connectors.spec import (
    Credentials,
    Dataset,
    DateWindow,
    DeltaLink,
    ExtractConfig,
    FullRefresh,
    ModifiedSince,
    System,
)

__all__ = [
    "ApiKeyHeader",
    "Auth",
    "BasicAuth",
    "Credentials",
    "CursorToken",
    "Dataset",
    "DateWindow",
    "DeltaLink",
    "ExtractConfig",
    "FullRefresh",
    "HttpClient",
    "ModifiedSince",
    "NextLink",
    "OAuth2ClientCredentials",
    "OffsetLimit",
    "Page",
    "PageNumber",
    "Paging",
    "RateLimiter",
    "Request",
    "RetryPolicy",
    "SignedQuery",
    "Single",
    "System",
    "extract",
    "make_kind",
    "select_datasets",
    "session",
]
