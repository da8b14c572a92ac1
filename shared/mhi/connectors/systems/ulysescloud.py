"""Ulyses Cloud PMS (Tesipro): invoices, room stays, revenue and payments.

[DOC] HTTP basic with an integration user; `GET .../chain/{chainId}/property/{propertyId}/invoice`
with `from`/`to`, `offset`/`limit`, `sort`/`sortMode`; envelope `{"count","offset","limit","list"}`.
The docs advise windows of one to two weeks, so date ranges are read in 14-day chunks.
ASSUMPTION: the paths of room stays, revenue and payments (`/roomstay`, `/revenue`, `/payment`)
were not captured from the docs; they follow the invoice operation's shape.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import Field

from mhi.connectors.auth import Auth, BasicAuth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit
from mhi.connectors.spec import Credentials, Dataset, DateWindow, ExtractConfig, System

PAGING = OffsetLimit(
    records_key="list", offset_param="offset", limit_param="limit", total_key="count"
)
SCOPE = "/chain/{chain_id}/property/{property_id}"


class UlysesConfig(ExtractConfig):
    """Options of `ms-extractor-ulysescloud`."""

    environment: str = Field("prod", pattern=r"^[a-z0-9-]{1,40}$", description="host prefix")
    chain_id: int = Field(ge=1, description="Ulyses chain id")
    property_id: int = Field(ge=1, description="Ulyses property (hotel) id")


def window(lo: date, hi: date) -> dict[str, Any]:
    """Return the `from`/`to` filter (dates, inclusive)."""
    return {"from": lo.isoformat(), "to": hi.isoformat()}


def _dataset(
    name: str, path: str, required: tuple[str, ...], summary: str, ahead: int = 0
) -> Dataset:
    return Dataset(
        name=name,
        path=SCOPE + path,
        key=("id",),
        paging=PAGING,
        incremental=DateWindow(
            window, lookback=timedelta(days=14), ahead=timedelta(days=ahead), chunk_days=14
        ),
        required=required,
        params={"sort": "id", "sortMode": "Asc"},
        summary=summary,
    )


def auth(creds: Credentials, config: UlysesConfig, base: str) -> Auth:
    """HTTP basic with the integration user."""
    return BasicAuth(
        creds.get("username"),
        creds.get("password"),
        (creds.name("username"), creds.name("password")),
    )


SYSTEM = System(
    name="ulysescloud",
    config_model=UlysesConfig,
    datasets=(
        _dataset(
            "invoices",
            "/invoice",
            ("invoiceSerie", "invoiceNumber", "invoiceDate"),
            "invoices by invoice date",
        ),
        _dataset(
            "roomstays",
            "/roomstay",
            ("reservationId", "arrivalDate", "departureDate", "status"),
            "room stays (reservations) by arrival date, a year ahead included",
            ahead=365,
        ),
        _dataset(
            "revenue",
            "/revenue",
            ("date", "productCode", "amount"),
            "consumption by date and product",
        ),
        _dataset("payments", "/payment", ("date", "amount", "method"), "payments by date"),
    ),
    auth=auth,
    base_url=lambda c: f"https://{c.environment}.ulysescloud.com/api/v1",
    requests_per_second=5.0,  # no published limit: stay polite
    page_size=100,
    history_days=365,
    summary="Ulyses Cloud PMS: reservations, availability, rates",
)

KIND = make_kind(SYSTEM)
