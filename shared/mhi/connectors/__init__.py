"""Connectors: a small framework (auth, paging, retries, landing, watermarks, schema checks)
and one declarative module per source system under `mhi.connectors.systems`."""

from mhi.connectors.auth import (
    ApiKeyHeader,
    Auth,
    BasicAuth,
    OAuth2ClientCredentials,
    SignedQuery,
)
from mhi.connectors.extract import extract, make_kind, select_datasets
from mhi.connectors.http import HttpClient, RateLimiter, RetryPolicy
from mhi.connectors.paging import (
    CursorToken,
    NextLink,
    OffsetLimit,
    Page,
    PageNumber,
    Paging,
    Request,
    Single,
)
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    DateWindow,
    DeltaLink,
    Endpoints,
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
    "Endpoints",
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
]
