"""Ulyses Cloud PMS (Tesipro): invoices, and (opt-in, unconfirmed) room stays, revenue, payments.

[DOC] (Ulyses UAPI pages) HTTP basic with an integration user;
`GET .../chain/{chainId}/property/{propertyId}/invoice` with `from`/`to`, `offset`/`limit`,
`sort`/`sortMode`; envelope `{"count","offset","limit","list"}`. The docs advise windows of one
to two weeks, so date ranges are read in 14-day chunks.

Ulyses has no single public host: the operation pages use `https://{env}.ulysescloud.com/api/v1`
and newer pages the prefix `/public/api/v1/con`, so the API root, prefix included, is the
account's secret `ulysescloud-base-url` (or the setting `MHI_ULYSESCLOUD_BASE_URL`), e.g.
`https://prod.ulysescloud.com/public/api/v1/con`. The integration user's password goes only to
that host.

UNCONFIRMED: `roomstays`, `revenue` and `payments` call `/roomstay`, `/revenue` and `/payment`,
which no public Ulyses page documents (they follow the invoice operation's shape): they are read
only when a flow names them, and their output is marked unconfirmed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from mhi.connectors.auth import Auth, BasicAuth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    DateWindow,
    Endpoints,
    ExtractConfig,
    System,
)
from mhi.http.endpoints import setting_name

PAGING = OffsetLimit(
    records_key="list", offset_param="offset", limit_param="limit", total_key="count"
)
SCOPE = "/chain/{chain_id}/property/{property_id}"
UNDOCUMENTED = (
    "the path {path} is in no public Ulyses page (it follows the invoice operation's shape)"
)


class UlysesConfig(ExtractConfig):
    """Options of `ms-extractor-ulysescloud`. Only `invoices` is documented publicly;
    `roomstays`, `revenue` and `payments` are UNCONFIRMED and read only when named. The API
    root (with its path prefix) is the account's secret `ulysescloud-base-url`."""

    system_name: ClassVar[str] = "ulysescloud"
    chain_id: int = Field(ge=1, description="Ulyses chain id")
    property_id: int = Field(ge=1, description="Ulyses property (hotel) id")
    environment: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("environment")
    @classmethod
    def _moved(cls, value: Any, info: ValidationInfo) -> None:
        if value is not None:
            name = f"{info.data.get('credentials') or cls.system_name}-base-url"
            raise ValueError(
                "environment is not read from a flow: the API root (host and path prefix) is "
                f"the account's secret {name!r} or the deployment setting "
                f"{setting_name(cls.system_name, 'base-url')}, e.g. "
                "https://prod.ulysescloud.com/api/v1; remove environment from the step config"
            )
        return None


def window(lo: date, hi: date) -> dict[str, Any]:
    """Return the `from`/`to` filter (dates, inclusive)."""
    return {"from": lo.isoformat(), "to": hi.isoformat()}


def _dataset(
    name: str,
    path: str,
    required: tuple[str, ...],
    summary: str,
    ahead: int = 0,
    documented: bool = False,
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
        summary=summary if documented else f"{summary} (UNCONFIRMED path, opt-in)",
        unconfirmed=None if documented else UNDOCUMENTED.format(path=path),
    )


def auth(creds: Credentials, config: UlysesConfig, endpoints: Endpoints) -> Auth:
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
            documented=True,
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
    requests_per_second=5.0,  # no published limit: stay polite
    page_size=100,
    history_days=365,
    summary="Ulyses Cloud PMS: invoices (room stays, revenue, payments opt-in)",
)

KIND = make_kind(SYSTEM)
