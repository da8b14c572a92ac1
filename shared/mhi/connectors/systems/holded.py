"""Holded (invoicing): invoices, credit notes, sales receipts, purchases, payments, contacts and
products.

[DOC] header `key`; lists page with `?page=N` and return bare arrays (no envelope, no total), so
a page shorter than the page size (500) ends the listing. Documents have no modified time: they
filter on the document date (`starttmp`/`endtmp`, Unix seconds), so each run re-reads a trailing
60 days (payments and status change after issue). Contacts and products: full refresh.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import Field

from mhi.connectors.auth import ApiKeyHeader, Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import PageNumber
from mhi.connectors.spec import Credentials, Dataset, DateWindow, ExtractConfig, System

PAGING = PageNumber(records_key=None, page_param="page", size_param=None, has_more_key=None)


class HoldedConfig(ExtractConfig):
    """Options of `ms-extractor-holded`."""

    page_size: int | None = Field(
        None,
        ge=1,
        le=500,
        description="the page size Holded serves (500); a shorter page ends a listing",
    )


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


def auth(creds: Credentials, config: HoldedConfig, base: str) -> Auth:
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
    base_url=lambda c: "https://api.holded.com/api/invoicing/v1",
    requests_per_second=10.0,  # unpublished; integrators self-throttle to 10/s
    page_size=500,
    history_days=730,
    summary="Holded: invoices, contacts, products",
)

KIND = make_kind(SYSTEM)
