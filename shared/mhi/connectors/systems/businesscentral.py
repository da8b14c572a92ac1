"""Microsoft Dynamics 365 Business Central (API v2.0): sales invoices, general ledger entries,
customers, vendors, items, purchase invoices and sales credit memos.

[DOC] Entra client credentials (scope `https://api.businesscentral.dynamics.com/.default`);
company-scoped sets; `$filter=lastModifiedDateTime gt ...` (spaces sent as `%20`); server-driven
paging through `@odata.nextLink` with `Prefer: odata.maxpagesize`; 6,000 requests per 5 minutes.

Hosts: `api.businesscentral.dynamics.com` and `login.microsoftonline.com` only (the client secret
and bearer token go nowhere else, next links included); the operator may move them with the
secrets `businesscentral-base-url` / `-token-url` or `MHI_BUSINESSCENTRAL_HOSTS`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mhi.connectors.auth import Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.spec import Credentials, Dataset, Endpoints, ModifiedSince, System
from mhi.connectors.systems._microsoft import (
    ENTRA_HOSTS,
    NEXT_LINK,
    PAGE_HEADERS,
    TOKEN,
    EntraConfig,
    entra_auth,
    modified_filter,
)

SCOPE = "https://api.businesscentral.dynamics.com/.default"


class BusinessCentralConfig(EntraConfig):
    """Options of `ms-extractor-businesscentral`."""

    system_name: ClassVar[str] = "businesscentral"

    environment: str = Field(
        "Production", pattern=r"^[A-Za-z0-9_-]{1,50}$", description="Production, Sandbox, ..."
    )
    company_id: str = Field(
        pattern=r"^[0-9a-fA-F-]{36}$", description="company GUID (GET /companies lists them)"
    )


def _set(name: str, entity_set: str, required: tuple[str, ...], summary: str) -> Dataset:
    return Dataset(
        name=name,
        path="/companies({company_id})/" + entity_set,
        key=("id",),
        paging=NEXT_LINK,
        incremental=ModifiedSince("lastModifiedDateTime", modified_filter),
        required=("lastModifiedDateTime", *required),
        headers=PAGE_HEADERS,
        summary=summary,
    )


def auth(creds: Credentials, config: BusinessCentralConfig, endpoints: Endpoints) -> Auth:
    """Entra client credentials for the Business Central API."""
    return entra_auth(creds, config, endpoints, SCOPE)


def default_base(config: BusinessCentralConfig) -> str:
    """The environment's API root."""
    return (
        "https://api.businesscentral.dynamics.com/v2.0/"
        f"{config.tenant_id}/{config.environment}/api/v2.0"
    )


SYSTEM = System(
    name="businesscentral",
    config_model=BusinessCentralConfig,
    datasets=(
        _set(
            "sales_invoices",
            "salesInvoices",
            ("number", "postingDate", "totalAmountIncludingTax"),
            "posted and draft sales invoices",
        ),
        _set(
            "general_ledger_entries",
            "generalLedgerEntries",
            ("entryNumber", "postingDate", "accountNumber"),
            "ledger entries: account, debit, credit, posting date",
        ),
        _set("customers", "customers", ("number", "displayName"), "customers"),
        _set("vendors", "vendors", ("number", "displayName"), "vendors"),
        _set("items", "items", ("number", "displayName"), "items"),
        _set("purchase_invoices", "purchaseInvoices", ("number",), "purchase invoices"),
        _set("sales_credit_memos", "salesCreditMemos", ("number",), "sales credit memos"),
    ),
    auth=auth,
    api_hosts=("api.businesscentral.dynamics.com", *ENTRA_HOSTS),
    default_base=default_base,
    token=TOKEN,
    requests_per_second=20.0,  # 6,000 per 5 minutes per service principal
    page_size=1000,
    summary="Business Central: ledger entries, invoices, customers",
)

KIND = make_kind(SYSTEM)
