"""Revenue and cost sources in the canonical model: declarative mappings from raw extracts.

A `FactMapping` is data: for each canonical field the raw names that may hold it (first present
wins), its type (text, date, amount, integer), whether it is required, which rows are not facts
(e.g. cancelled tickets) and how net revenue is derived (gross minus a deduction such as tax or
booking fees). Every raw row is either modelled or rejected with its reason; amounts are
converted to the reporting currency with the configured rates (no rate: rejected, never guessed).

Departments follow USALI 11th edition operated departments: `food_and_beverage` (outlets, POS),
`other_operated` (events and ticketing), `rooms`; documents that name none are `unallocated`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from mhi.errors import StepConfigError, StepExecutionError

Kind = Literal["text", "date", "amount", "integer", "score"]


@dataclass(frozen=True)
class Column:
    """One canonical field: raw aliases, type, whether a row without it is rejected."""

    aliases: tuple[str, ...]
    kind: Kind = "text"
    required: bool = False


@dataclass(frozen=True)
class FactMapping:
    """How one source's raw records become rows of a model fact table."""

    name: str
    raw_table: str
    target: str
    department: str | None
    columns: Mapping[str, Column]
    key: str
    gross: str | None = None
    deduct: str | None = None
    net: str | None = None
    # code where a mapping must: why a typed row is left out (NA: keep), then derived columns
    check: Callable[[pd.DataFrame], pd.Series] | None = None
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_currency: str | None = None


@dataclass
class FactResult:
    """Modelled rows and rejected rows (raw row number and reason)."""

    rows: pd.DataFrame
    rejected: pd.DataFrame

    def rejected_by_reason(self) -> dict[str, int]:
        """Return how many rows each reason rejected."""
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}


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


def _dates(s: pd.Series) -> pd.Series:
    """Parse ISO text, epoch seconds or epoch milliseconds to day precision (UTC)."""
    numeric = pd.to_numeric(s, errors="coerce")
    if numeric.notna().any() and (numeric.notna() | s.isna()).all():
        unit = "ms" if numeric.abs().max() > 1e11 else "s"
        parsed = pd.to_datetime(numeric, unit=unit, utc=True)
    else:
        text = s.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[us]")


def _typed(raw: pd.Series, kind: Kind) -> pd.Series:
    if kind == "date":
        return _dates(raw)
    if kind == "score":  # a number, or a JSON object such as {"value": 8.6}
        inner = raw.astype("string").str.extract(r'"value"\s*:\s*(-?[0-9.]+)', expand=False)
        return pd.to_numeric(inner.fillna(raw.astype("string")), errors="coerce")
    if kind in ("amount", "integer"):
        number = pd.to_numeric(raw, errors="coerce").astype("float64")
        return number.round().astype("Int64") if kind == "integer" else number
    return raw.astype("string").str.strip()


def _dig(value: Any, path: list[str]) -> Any:
    """Return the value at `path` inside a dict or a JSON object text; None when absent."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _values(raw: pd.DataFrame, alias: str) -> pd.Series:
    """Return a raw column, or a nested value for a dotted alias (`createdBy.user.name`)."""
    column, *path = alias.split(".")
    if not path:
        return raw[column]
    return raw[column].map(lambda v: _dig(v, path)).astype("object")


def _typed_frame(mapping: FactMapping, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Return the typed canonical columns and, per row, why it is rejected (NA: kept so far)."""
    cols = mapping.columns
    have = set(raw.columns)
    found = {
        k: next((a for a in c.aliases if a.split(".")[0] in have), None) for k, c in cols.items()
    }
    absent = [k for k, c in cols.items() if c.required and found[k] is None]
    if absent:
        looked = {k: cols[k].aliases for k in absent}
        raise StepExecutionError(f"{mapping.raw_table} lacks {absent}; looked for {looked}")
    out = pd.DataFrame(index=raw.index)
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    for name, col in cols.items():
        src = found[name]
        # an optional column the source lacks is empty: every source of a table has its columns
        values = _values(raw, src) if src else pd.Series(pd.NA, index=raw.index, dtype="object")
        out[name] = _typed(values, col.kind)
        if col.required:
            bad = out[name].isna() | (out[name].astype("string").str.len() == 0)
            reason = reason.mask(reason.isna() & bad, f"{name} missing or unreadable ({src})")
    for name, words in mapping.exclude.items():
        hit = out[name].astype("string").str.lower().isin(words)
        reason = reason.mask(reason.isna() & hit, f"{name} is {'/'.join(words)}: not counted")
    if mapping.check is not None:
        reason = reason.fillna(mapping.check(out).astype("string"))
    twice = reason.isna() & out[mapping.key].duplicated(keep="last")
    return out, reason.mask(twice, f"duplicate {mapping.key}: a later record replaces it")


def model_facts(
    mapping: FactMapping, raw: pd.DataFrame, currency: str, fx_rates: Mapping[str, float]
) -> FactResult:
    """Map raw records onto the mapping's fact table; every row modelled or rejected."""
    out, reason = _typed_frame(mapping, raw)
    if mapping.gross is not None:
        out = _to_reporting(out, mapping, currency.upper(), fx_rates)
        reason = reason.mask(reason.isna() & out.pop("_no_rate"), "no fx rate for its currency")
    keep = reason.isna()
    rows = out[keep]
    if mapping.derive is not None:
        rows = mapping.derive(rows)
    if mapping.department is not None:
        own = rows["department"] if "department" in rows.columns else None
        rows["department"] = mapping.department if own is None else own.fillna(mapping.department)
    rows.insert(0, "source", mapping.name)
    number = raw["_row"] if "_row" in raw.columns else pd.Series(range(1, len(raw) + 1), raw.index)
    rejected = pd.DataFrame(
        {"source": mapping.name, "row": number[~keep], "reason": reason[~keep].astype(str)}
    ).reset_index(drop=True)
    return FactResult(rows.reset_index(drop=True), rejected)


def _to_reporting(
    out: pd.DataFrame, mapping: FactMapping, currency: str, fx_rates: Mapping[str, float]
) -> pd.DataFrame:
    """Add net revenue in the source and reporting currencies; flag rows without a rate."""
    own = out["currency"].str.upper() if "currency" in out.columns else None
    if own is None:
        own = pd.Series(mapping.default_currency or currency, index=out.index, dtype="string")
    own = own.fillna(mapping.default_currency or currency)
    rates = {currency: 1.0, **{k.upper(): float(v) for k, v in fx_rates.items()}}
    rate = own.map(rates).astype("float64")
    deduction = out[mapping.deduct].fillna(0.0) if mapping.deduct in out.columns else 0.0
    net = out[str(mapping.gross)] - deduction
    if mapping.net is not None:  # a net amount the source states wins over gross - deduction
        net = out[mapping.net].fillna(net)
    return out.assign(
        currency=own,
        net_revenue=net,
        net_revenue_reporting=(net * rate).round(2),
        reporting_currency=currency,
        _no_rate=rate.isna(),
    )
