"""Holded (invoicing): invoices, credit notes, sales receipts, purchases, payments, contacts and
products.

[DOC] header `key`; lists page with `?page=N` and return bare arrays (no envelope, no total).
The published OpenAPI (`energio-es/holded-mcp`, `holded_api_specs/invoice-api.json`) defines no
page size, and at least one list serves 250 per page: a short page proves nothing, so a listing
ends only on an empty page (one request more per listing; pages are counted in the output).
Documents have no modified time: they filter on the document date (`starttmp`/`endtmp`, Unix
seconds), so each run re-reads a trailing 60 days (payments and status change after issue).
Contacts and products: full refresh.

Host: `api.holded.com` only (the key goes nowhere else); the operator may point an account
elsewhere with the secret `holded-base-url` or the setting `MHI_HOLDED_BASE_URL`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from mhi.connectors.auth import ApiKeyHeader, Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import PageNumber
from mhi.connectors.spec import Credentials, Dataset, DateWindow, Endpoints, ExtractConfig, System

PAGING = PageNumber(
    records_key=None,
    page_param="page",
    size_param=None,
    has_more_key=None,
    short_page_ends=False,
)


class HoldedConfig(ExtractConfig):
    """Options of `ms-extractor-holded`. Holded chooses its own page size (no parameter is
    published); a listing ends on an empty page."""

    system_name: ClassVar[str] = "holded"
    page_size: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("page_size")
    @classmethod
    def _no_page_size(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "Holded takes no page size (it serves pages of its own size, 250 for some "
                "lists); remove page_size"
            )
        return None


def doc_dates(lo: date, hi: date) -> dict[str, Any]:
    """Return `starttmp`/`endtmp`: the first and last second of the window, Unix seconds."""
    start = datetime.combine(lo, time(0), UTC)
    end = datetime.combine(hi + timedelta(days=1), time(0), UTC) - timedelta(seconds=1)
    return {"starttmp": int(start.timestamp()), "endtmp": int(end.timestamp())}


TRAILING = DateWindow(doc_dates, lookback=timedelta(days=60))


def _document(name: str, doc_type: str, summary: str) -> Dataset:
    return Dataset(
        name=name,
        path=f"/documents/{doc_type}",
        key=("id",),
        paging=PAGING,
        incremental=TRAILING,
        required=("date", "docNumber", "total"),
        summary=summary,
    )


def auth(creds: Credentials, config: HoldedConfig, endpoints: Endpoints) -> Auth:
    """The API key header `key`."""
    return ApiKeyHeader("key", creds.get("api-key"), creds.name("api-key"))


SYSTEM = System(
    name="holded",
    config_model=HoldedConfig,
    datasets=(
        _document("invoices", "invoice", "sales invoices with lines and payment status"),
        _document("credit_notes", "creditnote", "credit notes"),
        _document("sales_receipts", "salesreceipt", "sales receipts"),
        _document("purchases", "purchase", "purchase invoices"),
        Dataset(
            "payments",
            "/payments",
            key=("id",),
            paging=PAGING,
            incremental=TRAILING,
            required=("date", "amount"),
            summary="payments",
        ),
        Dataset("contacts", "/contacts", key=("id",), paging=PAGING, required=("name",)),
        Dataset("products", "/products", key=("id",), paging=PAGING, required=("name",)),
    ),
    auth=auth,
    api_hosts=("api.holded.com",),
    default_base=lambda c: "https://api.holded.com/api/invoicing/v1",
    requests_per_second=10.0,  # unpublished; integrators self-throttle to 10/s
    page_size=250,  # what Holded served in the one public report; nothing is sent
    history_days=730,
    summary="Holded: invoices, contacts, products",
)

KIND = make_kind(SYSTEM)
