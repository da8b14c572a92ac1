"""The sources the model maps beyond reservations: one declarative `FactMapping` per extractor
dataset (POS tickets, event tickets and events, ERP invoices, the ledger, review scores, the
documents list), with code only where a source needs it (the ledger's P&L groups, score range).
"""

from __future__ import annotations

import pandas as pd

from mhi.analytics.facts import Column, FactMapping, Kind
from mhi.errors import StepConfigError

# Invoice columns: (canonical, Holded names, Business Central names, type, required).
_INVOICE_COLUMNS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], Kind, bool], ...] = (
    ("invoice_id", ("id",), ("id",), "text", True),
    ("invoice_number", ("docNumber",), ("number",), "text", True),
    ("invoice_date", ("date",), ("invoiceDate", "postingDate"), "date", True),
    ("customer", ("contactName",), ("customerName",), "text", False),
    ("gross_amount", ("total",), ("totalAmountIncludingTax",), "amount", True),
    ("net_amount", ("subtotal",), ("totalAmountExcludingTax",), "amount", False),
    ("tax", ("tax",), ("totalTaxAmount",), "amount", False),
    ("currency", ("currency",), ("currencyCode",), "text", False),
    ("status", ("status",), ("status",), "text", False),
)
_HOLDED, _BC = 1, 2


def _invoices(name: str, raw_table: str, which: int) -> FactMapping:
    """Sales invoices of an ERP: one canonical invoices table for every ERP (Holded, BC)."""
    columns = {c[0]: Column(c[which], c[3], c[4]) for c in _INVOICE_COLUMNS}  # type: ignore[arg-type]
    return FactMapping(
        name,
        raw_table,
        "invoices",
        "unallocated",
        columns,
        key="invoice_id",
        gross="gross_amount",
        deduct="tax",
        net="net_amount",
        default_currency="EUR",
    )


def _pgc_group(accounts: pd.Series) -> pd.Series:
    """Return the Spanish chart of accounts (PGC) group: the account's first digit."""
    return accounts.astype("string").str.strip().str[0]


def _ledger_check(out: pd.DataFrame) -> pd.Series:
    """Leave out balance-sheet lines: only PGC group 6 (expenses) and 7 (income) are P&L."""
    group = _pgc_group(out["account"])
    return pd.Series(
        ("account group " + group + ": balance sheet, not a cost or revenue").where(
            ~group.isin(["6", "7"])
        ),
        index=out.index,
        dtype="string",
    )


# PGC subgroups (first two digits) of expenses -> cost category; other 6x lines are "other"
_COST_CATEGORIES = {"60": "purchases", "62": "services", "63": "taxes", "64": "payroll"}


def _ledger_derive(rows: pd.DataFrame) -> pd.DataFrame:
    """Name each line cost or revenue (and a cost's category: payroll, purchases, services,
    taxes, other); revenue is credit - debit, cost debit - credit."""
    revenue = _pgc_group(rows["account"]) == "7"
    sign = revenue.map({True: -1.0, False: 1.0}).astype("float64")
    sub = rows["account"].astype("string").str.strip().str[:2]
    category = sub.map(_COST_CATEGORIES).fillna("other").where(~revenue, "revenue")
    return rows.assign(
        category=category.astype("string"),
        kind=revenue.map({True: "revenue", False: "cost"}).astype("string"),
        net_revenue=rows["net_revenue"] * sign,
        net_revenue_reporting=rows["net_revenue_reporting"] * sign,
    ).rename(columns={"net_revenue": "amount", "net_revenue_reporting": "amount_reporting"})


_AXIONAL = FactMapping(
    "axional_journal_entries",
    "raw.axional_journal_entries",
    "ledger",
    "unallocated",
    {
        "entry_id": Column(("id", "entry_id", "line_id"), required=True),
        "account": Column(("account", "account_code"), required=True),
        "department": Column(("cost_centre", "cost_center", "department")),
        "posting_date": Column(("posting_date", "date"), "date", True),
        "debit": Column(("debit",), "amount", True),
        "credit": Column(("credit",), "amount", True),
        "description": Column(("description", "concept")),
        "status": Column(("status",)),
        "currency": Column(("currency",)),
    },
    key="entry_id",
    gross="debit",
    deduct="credit",
    exclude={"status": ("draft", "cancelled", "reversed")},
    default_currency="EUR",
    check=_ledger_check,
    derive=_ledger_derive,
)


def _score_check(out: pd.DataFrame) -> pd.Series:
    """Leave out scores outside 0-10 (ReviewPro scores out of 10; other scales say `out_of`)."""
    bad = out["score"].notna() & ~out["score"].between(0, 10)
    return pd.Series(pd.NA, index=out.index, dtype="string").mask(bad, "score outside 0-10")


_REVIEWPRO = FactMapping(
    "reviewpro_reviews",
    "raw.reviewpro_survey_responses",
    "review_scores",
    None,
    {
        "review_id": Column(("id", "review_id", "response_id"), required=True),
        "hotel": Column(("productId", "pid", "hotel", "lodging_id"), required=True),
        "review_date": Column(("date", "review_date", "published_at"), "date", True),
        "score": Column(("customScore", "score", "rating", "overall"), "score", True),
        "source": Column(("source", "site", "channel")),
    },
    key="review_id",
    check=_score_check,
    derive=lambda rows: rows.assign(review_source=rows["source"].fillna("reviewpro")).drop(
        columns="source"
    ),
)


_SHAREPOINT = FactMapping(
    "sharepoint365_list_items",
    "raw.sharepoint365_list_items",
    "documents",
    None,
    {
        "document_id": Column(("id",), required=True),
        "title": Column(("fields.Title", "fields.FileLeafRef", "name"), required=True),
        "url": Column(("webUrl",)),
        "owner": Column(("createdBy.user.displayName", "createdBy.user.email")),
        "created_at": Column(("createdDateTime",), "date"),
        "modified_at": Column(("lastModifiedDateTime",), "date", True),
    },
    key="document_id",
)


_FOURVENUES_EVENTS = FactMapping(
    "fourvenues_events",
    "raw.fourvenues_events",
    "events",
    "other_operated",
    {
        "event_id": Column(("_id", "id"), required=True),
        "event_name": Column(("name", "title"), required=True),
        "event_date": Column(("date", "start"), "date", True),
    },
    key="event_id",
)


MAPPINGS: dict[str, FactMapping] = {
    m.name: m
    for m in (
        FactMapping(
            "madisa_tickets",
            "raw.madisa_tickets",
            "pos_tickets",
            "food_and_beverage",
            {
                "ticket_id": Column(("id", "ticket_id"), required=True),
                "outlet": Column(("outlet_id", "outlet", "outlet_code"), required=True),
                "business_date": Column(("closed_at", "opened_at", "date"), "date", True),
                "covers": Column(("covers", "pax"), "integer"),
                "gross_amount": Column(("total", "total_amount", "amount"), "amount", True),
                "tax": Column(("tax", "tax_amount", "vat"), "amount"),
                "currency": Column(("currency", "currency_code")),
                "status": Column(("status",)),
                "deleted": Column(("deleted", "is_deleted")),
            },
            key="ticket_id",
            gross="gross_amount",
            deduct="tax",
            exclude={"status": ("cancelled", "void", "voided"), "deleted": ("true", "1")},
        ),
        FactMapping(
            "fourvenues_tickets",
            "raw.fourvenues_tickets",
            "event_tickets",
            "other_operated",
            {
                "ticket_id": Column(("_id", "id"), required=True),
                "event_id": Column(("event_id", "event"), required=True),
                "sale_date": Column(("updated_at", "created_at", "date"), "date", True),
                "gross_amount": Column(("total_paid", "total"), "amount", True),
                "fees": Column(("total_fees", "fees"), "amount"),
                "refunded": Column(("refunded",), "amount"),
                "status": Column(("status",)),
                "currency": Column(("currency",)),
            },
            key="ticket_id",
            gross="gross_amount",
            deduct="fees",
            exclude={"status": ("cancelled", "refunded")},
            default_currency="EUR",
        ),
        _invoices("holded_invoices", "raw.holded_invoices", _HOLDED),
        _invoices("businesscentral_sales_invoices", "raw.businesscentral_sales_invoices", _BC),
        _AXIONAL,
        _REVIEWPRO,
        _FOURVENUES_EVENTS,
        _SHAREPOINT,
    )
}


def fact_mapping(name: str) -> FactMapping:
    """Return the named mapping, or raise StepConfigError listing the known ones."""
    if name not in MAPPINGS:
        raise StepConfigError(f"unknown fact source {name!r}: known are {', '.join(MAPPINGS)}")
    return MAPPINGS[name]
