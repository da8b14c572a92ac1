"""The canonical hotel model: reservations, stay nights and room inventory, with validation.

Pure pandas, vectorised (no Python loop over bookings). Every raw row either becomes a
reservation or a row of the rejection report that says why; nothing is dropped silently.

Rejection reasons (the `reason` column of the report):
  missing_key              hotel, reservation id, arrival or departure is empty
  bad_date                 a date that does not parse (the detail quotes it)
  not_a_number             a numeric field holding text (the detail names field and value)
  departure_before_arrival departure earlier than arrival
  stay_too_long            more than MAX_NIGHTS nights (almost always a mistyped year)
  unknown_currency         a currency that is neither the reporting one nor in `fx_rates`
  unknown_status           a status outside the known vocabulary (see sources.STATUS_WORDS)
  inconsistent_status      the source's cancel flag disagrees with its status

Revenue exclusions (the report's `action` is `revenue_excluded`): the booking stays, with its
nights, status and lead time in every count, and only its revenue is left out (adr and
room_revenue empty, `revenue_excluded` true); KPIs take ADR over the rooms with a valid rate.
  negative_rate            a negative nightly rate or room revenue
  absurd_rate              a rate above RATE_OUTLIER_FACTOR times the hotel's median rate in
                           the batch (a mistyped amount: 5,400 where 54.00 was meant)
  missing_rate             a booking that is not cancelled but carries no rate at all
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from mhi.analytics.metrics import RATE_OUTLIER_FACTOR, SEGMENT_DIMENSIONS
from mhi.analytics.nights import (  # noqa: F401  (the model's day-level tables, re-exported)
    NIGHT_COLUMNS,
    expand_nights,
    inventory_for,
    room_inventory,
    stay_nights,
)
from mhi.analytics.parsing import Checks, blank, per_unique, quote, to_datetime
from mhi.analytics.personal import MODEL_GUEST_COLUMNS
from mhi.analytics.sources import STATUS_WORDS

MAX_NIGHTS = 365
SEGMENT_COLUMNS = SEGMENT_DIMENSIONS
RESERVATION_COLUMNS = (
    "hotel",
    "reservation_id",
    "status",
    "is_cancelled",
    "booking_date",
    "arrival_date",
    "departure_date",
    "nights",
    "lead_time",
    "status_date",
    "adults",
    "children",
    "babies",
    "guests",
    *SEGMENT_COLUMNS,
    "is_complimentary",
    "adr",
    "room_revenue",
    "revenue_excluded",
    "other_revenue",
    "currency",
    "source",
    "source_row",
)
REJECT_COLUMNS = ("source", "source_row", "hotel", "reservation_id", "reason", "detail")
COMPLIMENTARY_SEGMENTS = ("complementary", "complimentary", "comp")


@dataclass
class ModelResult:
    """Reservations that passed validation, the rejected rows, the kept bookings whose revenue
    was excluded, and notes on defaulted values."""

    reservations: pd.DataFrame
    rejects: pd.DataFrame
    deleted: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))

    def rejected_by_reason(self) -> dict[str, int]:
        """Return the number of rejected rows per reason."""
        return {str(k): int(v) for k, v in self.rejects["reason"].value_counts().items()}

    def excluded_by_reason(self) -> dict[str, int]:
        """Return the number of kept bookings whose revenue was excluded, per reason."""
        return {str(k): int(v) for k, v in self.excluded["reason"].value_counts().items()}


def _parse_dates(staged: pd.DataFrame, checks: Checks, columns: tuple[str, ...]) -> None:
    for col in columns:
        if col not in staged.columns:
            continue
        raw = staged[col]
        parsed = to_datetime(raw)
        checks.fail(parsed.isna() & ~blank(raw), "bad_date", quote(col, raw))
        staged[col] = parsed


def _parse_numbers(staged: pd.DataFrame, checks: Checks, columns: tuple[str, ...]) -> None:
    for col in columns:
        if col not in staged.columns:
            continue
        raw = staged[col]
        parsed = pd.to_numeric(raw, errors="coerce") if raw.dtype.kind not in "iuf" else raw
        if raw.dtype.kind not in "iufb":
            bad = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").isna()
            checks.fail(bad & ~blank(raw), "not_a_number", quote(col, raw))
        staged[col] = parsed.astype("float64")


def _normalise_status(staged: pd.DataFrame, checks: Checks) -> pd.Series:
    status = per_unique(
        staged["status"],
        lambda u: (
            u.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True).map(STATUS_WORDS)
        ),
    )
    checks.fail(status.isna(), "unknown_status", quote("status", staged["status"]))
    cancelled = status.isin(["cancelled", "no_show"])
    if "_cancel_flag" in staged.columns:
        flag = staged["_cancel_flag"] == 1
        checks.fail(
            status.notna() & (flag != cancelled),
            "inconsistent_status",
            lambda m: (
                "is_canceled="
                + staged["_cancel_flag"][m].astype("string")
                + " but status="
                + status[m]
            ),
        )
    return status


def _revenue(staged: pd.DataFrame, nights: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (adr, room_revenue) from whichever amount the source gives."""
    nan = pd.Series(np.nan, index=staged.index)
    other = staged.get("other_revenue", nan).fillna(0.0)
    room = staged.get("room_revenue", nan)
    if "total_amount" in staged.columns:
        room = room.fillna(staged["total_amount"] - other)
    per_night = room / nights.where(nights > 0)
    adr = staged.get("adr", nan).fillna(per_night)
    room = room.fillna(adr * nights)
    return adr, room


def _fx(
    staged: pd.DataFrame, checks: Checks, currency: str, fx_rates: Mapping[str, float]
) -> pd.Series:
    rates = {currency.upper(): 1.0, **{k.upper(): float(v) for k, v in fx_rates.items()}}
    if "currency" not in staged.columns:
        return pd.Series(1.0, index=staged.index)
    code = per_unique(staged["currency"], lambda u: u.str.strip().str.upper())
    code = code.fillna(currency.upper())
    factor = code.map(rates)
    known = ", ".join(sorted(rates))
    checks.fail(
        factor.isna(), "unknown_currency", lambda m: "currency=" + code[m] + f" (known: {known})"
    )
    return factor.astype("float64")


def _text(staged: pd.DataFrame, col: str) -> pd.Series:
    if col not in staged.columns:
        return pd.Series("Unknown", index=staged.index, dtype="string")
    text = per_unique(staged[col], lambda u: u.str.strip())
    return text.mask(text.isna() | (text == ""), "Unknown")


def _defaults(staged: pd.DataFrame, notes: list[str]) -> None:
    for col in ("adults", "children", "babies"):
        if col not in staged.columns:
            staged[col] = 0.0
            continue
        missing = int(staged[col].isna().sum())
        if missing:
            notes.append(f"{col} missing on {missing} rows: counted as 0")
        staged[col] = staged[col].fillna(0.0)


def _validate(staged: pd.DataFrame, checks: Checks, status: pd.Series) -> pd.Series:
    for key in ("hotel", "reservation_id", "arrival_date", "departure_date"):
        checks.fail(blank(staged[key]), "missing_key", f"{key} is empty")
    _parse_dates(staged, checks, ("arrival_date", "departure_date", "booking_date", "updated_at"))
    nums = ("adr", "room_revenue", "total_amount", "other_revenue", "adults", "children", "babies")
    _parse_numbers(staged, checks, nums)
    nights = (staged["departure_date"] - staged["arrival_date"]).dt.days
    checks.fail(
        nights < 0,
        "departure_before_arrival",
        lambda m: (
            "departure "
            + staged["departure_date"][m].dt.strftime("%Y-%m-%d")
            + " before arrival "
            + staged["arrival_date"][m].dt.strftime("%Y-%m-%d")
        ),
    )
    checks.fail(
        nights > MAX_NIGHTS, "stay_too_long", lambda m: nights[m].astype("string") + " nights"
    )
    return nights


def _rate_checks(
    hotel: pd.Series, adr: pd.Series, room: pd.Series, cancelled: pd.Series, factor: float | None
) -> Checks:
    """Return the bookings whose revenue is excluded (they stay for every count)."""
    flags = Checks(adr.index)
    shown = lambda m: "adr=" + adr[m].round(2).astype("string")  # noqa: E731
    flags.fail((adr < 0) | (room < 0), "negative_rate", shown)
    if factor:
        median = adr.where(adr > 0).groupby(hotel, dropna=False).transform("median")
        flags.fail(
            adr > factor * median,
            "absurd_rate",
            lambda m: (
                shown(m) + f" > {factor:g} x the hotel's median " + median[m].astype("string")
            ),
        )
    flags.fail(~cancelled & adr.isna() & room.isna(), "missing_rate", "no rate or amount")
    return flags


def model_reservations(
    staged: pd.DataFrame,
    *,
    source: str,
    currency: str = "EUR",
    fx_rates: Mapping[str, float] | None = None,
    rate_outlier_factor: float | None = RATE_OUTLIER_FACTOR,
) -> ModelResult:
    """Validate staging rows and return canonical reservations plus the rejection report
    (`rate_outlier_factor` None: no absurd-rate check)."""
    staged = staged.copy()
    notes: list[str] = []
    checks = Checks(staged.index)
    source_row = staged.pop("_row") if "_row" in staged.columns else None
    deleted = _truthy(staged.pop("deleted")) if "deleted" in staged.columns else None
    if "status" not in staged.columns:
        staged["status"] = "confirmed"
        notes.append("the source has no status: every booking counted as confirmed")
    nights = _validate(staged, checks, staged["status"])
    status = _normalise_status(staged, checks)
    cancelled = status.isin(["cancelled", "no_show"]).fillna(False)
    factor = _fx(staged, checks, currency, fx_rates or {})
    adr, room = _revenue(staged, nights)
    hotel = per_unique(staged["hotel"], lambda u: u.str.strip())
    flags = _rate_checks(hotel, adr * factor, room * factor, cancelled, rate_outlier_factor)
    _defaults(staged, notes)
    row = source_row if source_row is not None else pd.Series(staged.index + 1, index=staged.index)
    res = pd.DataFrame(
        {
            "hotel": hotel,
            "reservation_id": staged["reservation_id"].astype("string").str.strip(),
            "status": status,
            "is_cancelled": cancelled,
            "booking_date": staged.get("booking_date", pd.Series(pd.NaT, index=staged.index)),
            "arrival_date": staged["arrival_date"].dt.normalize(),
            "departure_date": staged["departure_date"].dt.normalize(),
            "nights": nights,
            "status_date": staged.get("updated_at", pd.Series(pd.NaT, index=staged.index)),
            "adults": staged["adults"],
            "children": staged["children"],
            "babies": staged["babies"],
        }
    )
    parts = _Parts(adr * factor, room * factor, factor, row, deleted, flags)
    return _finish(res, staged, checks, parts, notes, source=source, currency=currency)


class _Parts(NamedTuple):
    adr: pd.Series
    room: pd.Series
    factor: pd.Series
    row: pd.Series
    deleted: pd.Series | None
    flags: Checks


def _finish(
    res: pd.DataFrame,
    staged: pd.DataFrame,
    checks: Checks,
    parts: _Parts,
    notes: list[str],
    *,
    source: str,
    currency: str,
) -> ModelResult:
    adr, room, factor, row, deleted, flags = parts
    res["booking_date"] = res["booking_date"].dt.normalize()
    res["lead_time"] = (res["arrival_date"] - res["booking_date"]).dt.days
    res["guests"] = res["adults"] + res["children"] + res["babies"]
    for col in SEGMENT_COLUMNS:
        res[col] = _text(staged, col)
    res["is_complimentary"] = res["market_segment"].str.lower().isin(COMPLIMENTARY_SEGMENTS)
    excluded = flags.reason.notna()
    res["adr"] = adr.mask(excluded)
    res["room_revenue"] = room.mask(excluded)
    res["revenue_excluded"] = excluded
    other = staged.get("other_revenue", pd.Series(np.nan, index=staged.index))
    res["other_revenue"] = other * factor
    res["currency"] = currency.upper()
    res["source"] = source
    res["source_row"] = pd.to_numeric(row, errors="coerce").astype("Int64")
    guests = [c for c in MODEL_GUEST_COLUMNS if c in staged.columns]
    if guests:
        res[guests] = staged[guests]
    bad = checks.reason.notna()
    gone = pd.Series(False, index=res.index) if deleted is None else deleted.fillna(False) & ~bad
    keep = _latest(res[~bad & ~gone], notes)
    return ModelResult(
        keep.reset_index(drop=True)[[*RESERVATION_COLUMNS, *guests]],
        _report(res, checks, bad, source),
        res.loc[gone, ["hotel", "reservation_id"]].reset_index(drop=True),
        notes,
        _report(res, flags, keep.index[keep["revenue_excluded"]], source),
    )


def _report(
    res: pd.DataFrame, checks: Checks, rows: pd.Index | pd.Series, source: str
) -> pd.DataFrame:
    """Return the report rows (source row, keys, reason, detail) of `rows`."""
    return pd.DataFrame(
        {
            "source": source,
            "source_row": res["source_row"][rows],
            "hotel": res["hotel"][rows],
            "reservation_id": res["reservation_id"][rows],
            "reason": checks.reason[rows],
            "detail": checks.detail[rows],
        },
        columns=list(REJECT_COLUMNS),
    ).reset_index(drop=True)


def _latest(keep: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Keep the latest version (by status date) of each reservation."""
    dup = keep.duplicated(["hotel", "reservation_id"], keep=False)
    if not dup.any():
        return keep
    order = keep["status_date"].fillna(pd.Timestamp.min)
    latest = keep.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o")
    latest = latest.drop_duplicates(["hotel", "reservation_id"], keep="last")
    notes.append(f"{len(keep) - len(latest)} older versions of a reservation superseded")
    return latest.sort_index()


def _truthy(s: pd.Series) -> pd.Series:
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "yes", "y", "t"])
