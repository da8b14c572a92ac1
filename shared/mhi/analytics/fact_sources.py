"""The sources the model maps beyond reservations: one declarative `FactMapping` per extractor
dataset (POS tickets, event tickets and events, ERP sales and supplier invoices, the ledger,
review scores, the documents catalogue from SharePoint lists and document libraries), with code
only where a source needs it (the ledger's P&L groups, score range, a drive's folders and
deleted items).
"""

from __future__ import annotations

import pandas as pd

from mhi.analytics.facts import Column, FactMapping, Kind
from mhi.errors import StepConfigError

# Invoice columns: (canonical, type, required, Holded names, Business Central names, Axional
# names; Axional's are the ASSUMPTION contract of its connector, api-reference §8c).
_Names = tuple[str, ...]
_INVOICE_COLUMNS: tuple[tuple[str, Kind, bool, tuple[_Names, _Names, _Names]], ...] = (
    ("invoice_id", "text", True, (("id",), ("id",), ("id",))),
    ("invoice_number", "text", True, (("docNumber",), ("number",), ("number",))),
    ("invoice_date", "date", True, (("date",), ("invoiceDate", "postingDate"), ("issue_date",))),
    ("customer", "text", False, (("contactName",), ("customerName",), ("customer_name",))),
    ("gross_amount", "amount", True, (("total",), ("totalAmountIncludingTax",), ("total",))),
    ("net_amount", "amount", False, (("subtotal",), ("totalAmountExcludingTax",), ("tax_base",))),
    ("tax", "amount", False, (("tax",), ("totalTaxAmount",), ("tax",))),
    ("currency", "text", False, (("currency",), ("currencyCode",), ("currency",))),
    ("status", "text", False, (("status",), ("status",), ("status",))),
)
_HOLDED, _BC, _AXIONAL_NAMES = 0, 1, 2
_NOT_BOOKED = ("draft", "cancelled", "void", "voided", "reversed")


def _invoices(name: str, raw_table: str, which: int) -> FactMapping:
    """Sales invoices of an ERP: one canonical invoices table for every ERP (Holded, BC,
    Axional). Axional's also name a cost centre (the department) and a status whose drafts and
    cancelled invoices are not revenue."""
    columns = {c[0]: Column(c[3][which], c[1], c[2]) for c in _INVOICE_COLUMNS}
    exclude: dict[str, tuple[str, ...]] = {}
    if which == _AXIONAL_NAMES:
        columns["department"] = Column(("cost_centre", "cost_center", "department"))
        exclude = {"status": _NOT_BOOKED}
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
        exclude=exclude,
        default_currency="EUR",
    )


def _as_cost(rows: pd.DataFrame) -> pd.DataFrame:
    """Name a supplier invoice's net amount what it is: a cost (as the ledger's cost lines)."""
    renamed = {"net_revenue": "amount", "net_revenue_reporting": "amount_reporting"}
    return rows.rename(columns=renamed).assign(kind="cost")


# Supplier invoices (Axional `invoices_received`): cost documents by supplier and cost centre.
# GOP takes its costs from the ledger, which books these invoices: they are not added to it.
_AXIONAL_RECEIVED = FactMapping(
    "axional_invoices_received",
    "raw.axional_invoices_received",
    "supplier_invoices",
    "unallocated",
    {
        **{
            c[0]: Column(c[3][_AXIONAL_NAMES], c[1], c[2])
            for c in _INVOICE_COLUMNS
            if c[0] != "customer"
        },
        "supplier": Column(("supplier_name", "supplier")),
        "department": Column(("cost_centre", "cost_center", "department")),
    },
    key="invoice_id",
    gross="gross_amount",
    deduct="tax",
    net="net_amount",
    exclude={"status": _NOT_BOOKED},
    default_currency="EUR",
    derive=_as_cost,
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


def _file_check(out: pd.DataFrame) -> pd.Series:
    """Keep documents only: a drive delta also lists deleted items (a `deleted` facet, often
    without name or date) and folders (a `folder` facet, the drive's root among them)."""
    reason = pd.Series(pd.NA, index=out.index, dtype="string")
    reason = reason.mask(out["deleted"].notna(), "deleted in SharePoint: not in the catalogue")
    reason = reason.mask(reason.isna() & out["folder"].notna(), "a folder, not a document")
    for name, raw in (("title", "name"), ("modified_at", "lastModifiedDateTime")):
        bad = out[name].isna() | (out[name].astype("string").str.len() == 0)
        reason = reason.mask(reason.isna() & bad, f"{name} missing or unreadable ({raw})")
    return reason


_SHAREPOINT_FILES = FactMapping(
    "sharepoint365_files",
    "raw.sharepoint365_files",
    "documents",
    None,
    {
        "document_id": Column(("id",), required=True),
        "title": Column(("name",)),  # required, checked after the deleted and folder facets
        "url": Column(("webUrl",)),
        "owner": Column(("createdBy.user.displayName", "createdBy.user.email")),
        "created_at": Column(("createdDateTime",), "date"),
        "modified_at": Column(("lastModifiedDateTime",), "date"),
        "modified_by": Column(("lastModifiedBy.user.displayName", "lastModifiedBy.user.email")),
        "library": Column(("parentReference.driveId",)),
        "mime_type": Column(("file.mimeType",)),
        "size_bytes": Column(("size",), "integer"),
        "folder": Column(("folder",)),
        "deleted": Column(("deleted",)),
    },
    key="document_id",
    check=_file_check,
    derive=lambda rows: rows.drop(columns=["folder", "deleted"]),
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
        _invoices("axional_invoices_issued", "raw.axional_invoices_issued", _AXIONAL_NAMES),
        _AXIONAL_RECEIVED,
        _AXIONAL,
        _REVIEWPRO,
        _FOURVENUES_EVENTS,
        _SHAREPOINT,
        _SHAREPOINT_FILES,
    )
}


def fact_mapping(name: str) -> FactMapping:
    """Return the named mapping, or raise StepConfigError listing the known ones."""
    if name not in MAPPINGS:
        raise StepConfigError(f"unknown fact source {name!r}: known are {', '.join(MAPPINGS)}")
    return MAPPINGS[name]
