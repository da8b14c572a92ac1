"""Revenue and cost sources in the canonical model: declarative mappings from raw extracts.

A `FactMapping` is data: for each canonical field the raw names that may hold it (first present
wins), its type (text, date, amount, integer), whether it is required, which rows are not facts
(e.g. cancelled tickets) and how net revenue is derived (gross minus a deduction such as tax or
booking fees). Every raw row is either modelled or rejected with its reason; amounts are
converted to the reporting currency with the configured rates (no rate: rejected, never guessed).
The mappings themselves are in `mhi.analytics.fact_sources`.

Departments follow USALI 11th edition operated departments: `food_and_beverage` (outlets, POS),
`other_operated` (events and ticketing), `rooms`; documents that name none are `unallocated`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from mhi.errors import StepExecutionError

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
