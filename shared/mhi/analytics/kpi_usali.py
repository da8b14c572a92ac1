"""KPIs beyond rooms, by hotel and period, from the room KPIs and the modelled revenue and cost
sources (`mhi.analytics.facts`). Definitions: USALI, Uniform System of Accounts for the Lodging
Industry, 11th revised edition (HFTP/AHLA, 2014), and ReviewPro's Global Review Index.

Revenue by department: rooms from the PMS (the room KPIs), food and beverage from POS tickets,
other operated (events) from event tickets, all net of tax and fees. Costs come from the ledger
(PGC group 6 lines), their cost centre mapped onto a USALI department; ledger revenue lines are
not added to revenue (the operational sources already count it: adding both would count twice).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mhi.analytics.kpi import period_start
from mhi.analytics.kpi_spec import SUFFIXES, shift
from mhi.errors import StepExecutionError

OPERATED = ("rooms", "food_and_beverage", "other_operated")
COMPARED = ("total_revenue", "trevpar", "gop", "goppar", "cost_per_occupied_room")
# cost centre words (upper case) -> USALI department; anything else is undistributed
_DEPARTMENT_WORDS: Mapping[str, str] = {
    **dict.fromkeys(("ROOMS", "ROOM", "HAB", "HABITACIONES", "ALOJAMIENTO"), "rooms"),
    **dict.fromkeys(("F&B", "FB", "A&B", "AYB", "FOOD", "RESTAURANT", "BAR"), "food_and_beverage"),
    **dict.fromkeys(("EVENTS", "EVENTOS", "SPA", "OTHER_OPERATED"), "other_operated"),
}


def usali_department(cost_centre: pd.Series, overrides: Mapping[str, str]) -> pd.Series:
    """Map cost centres onto USALI departments (`overrides` first); the rest is undistributed."""
    words = {**_DEPARTMENT_WORDS, **{k.upper(): v for k, v in overrides.items()}}
    return cost_centre.astype("string").str.strip().str.upper().map(words).fillna("undistributed")


def _hotels(
    keys: pd.Series, hotels: list[str], hotel_of: Mapping[str, str], what: str
) -> pd.Series:
    """Attribute rows to hotels: `hotel_of[key]`, or the only hotel; raise on unmapped keys."""
    found = [hotel_of.get(str(k)) if pd.notna(k) else None for k in keys]
    mapped = pd.Series(found, index=keys.index, dtype="string")
    if len(hotels) == 1:
        return mapped.fillna(hotels[0])
    unmapped = sorted(set(keys[mapped.isna()].astype(str)))
    if unmapped:
        raise StepExecutionError(
            f"{len(hotels)} hotels: say which hotel each {what} belongs to in hotel_of "
            f"(unmapped: {', '.join(unmapped[:10])})"
        )
    return mapped


def _by_period(frame: pd.DataFrame, day: str, value: str, grain: str, name: str) -> pd.DataFrame:
    periods = period_start(pd.to_datetime(frame[day]), grain)
    out = frame.assign(period=periods).groupby(["period", "hotel"], observed=True)[value].sum()
    return out.rename(name).reset_index()


def usali_kpis(
    rooms: pd.DataFrame,
    grain: str,
    *,
    pos: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    ledger: pd.DataFrame | None = None,
    hotel_of: Mapping[str, str] | None = None,
    departments: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return per period and hotel: revenue by department, total revenue, TRevPAR, costs, GOP,
    GOPPAR and cost per occupied room.

    `rooms` holds period, hotel, room_revenue, rooms_sold, rooms_available (a room KPI table).
    - total_revenue: Σ operated departments' revenue (USALI Summary Operating Statement)
    - trevpar: total_revenue / rooms_available (USALI 11th ed., Total RevPAR)
    - departmental_expenses: Σ costs of operated departments; undistributed_expenses: the rest
    - gop: total_revenue − departmental_expenses − undistributed_expenses (USALI Gross
      Operating Profit)
    - goppar: gop / rooms_available (USALI GOP per available room)
    - cost_per_occupied_room: rooms department expenses / rooms_sold (USALI CPOR)
    """
    missing = {"period", "hotel", "room_revenue", "rooms_sold", "rooms_available"} - set(rooms)
    if missing:
        raise StepExecutionError(f"room KPIs lack {sorted(missing)}")
    hotel_of = hotel_of or {}
    hotels = sorted(rooms["hotel"].astype(str).unique())
    out = rooms[["period", "hotel", "room_revenue", "rooms_sold", "rooms_available"]].copy()
    out = out.rename(columns={"room_revenue": "rooms_revenue"})
    out["period"] = pd.to_datetime(out["period"]).astype("datetime64[us]")
    out["hotel"] = out["hotel"].astype(str)
    parts = [("food_and_beverage_revenue", pos, "outlet", "business_date")]
    parts.append(("other_operated_revenue", events, "event_id", "sale_date"))
    for name, frame, key, day in parts:
        if frame is None or frame.empty:
            out[name] = 0.0
            continue
        frame = frame.assign(hotel=_hotels(frame[key], hotels, hotel_of, key).astype(str))
        if "event_date" in frame.columns:  # USALI: an event's revenue falls on the event's date
            frame = frame.assign(**{day: frame["event_date"].fillna(frame[day])})
        out = out.merge(_by_period(frame, day, "net_revenue_reporting", grain, name), "left")
        out[name] = out[name].fillna(0.0)
    out["total_revenue"] = out[[f"{d}_revenue" for d in OPERATED]].sum(axis=1)
    out = _with_costs(out, ledger, grain, hotels, hotel_of, departments or {})
    available = out["rooms_available"].where(out["rooms_available"] > 0)
    out["trevpar"] = out["total_revenue"] / available
    out["gop"] = out["total_revenue"] - out["departmental_expenses"] - out["undistributed_expenses"]
    out["goppar"] = out["gop"] / available
    sold = out["rooms_sold"].where(out["rooms_sold"] > 0)
    out["cost_per_occupied_room"] = out["rooms_expenses"] / sold
    out = with_comparisons(out, grain, COMPARED)
    return out.sort_values(["hotel", "period"]).reset_index(drop=True)


def _with_costs(
    out: pd.DataFrame,
    ledger: pd.DataFrame | None,
    grain: str,
    hotels: list[str],
    hotel_of: Mapping[str, str],
    departments: Mapping[str, str],
) -> pd.DataFrame:
    """Add rooms, departmental and undistributed expenses from the ledger's cost lines."""
    names = ("rooms_expenses", "departmental_expenses", "undistributed_expenses")
    if ledger is None or ledger.empty:
        return out.assign(**dict.fromkeys(names, 0.0))
    costs = ledger[ledger["kind"] == "cost"]
    dept = usali_department(costs["department"], departments)
    costs = costs.assign(
        hotel=_hotels(costs["department"], hotels, hotel_of, "cost centre").astype(str),
        rooms=costs["amount_reporting"].where(dept == "rooms", 0.0),
        operated=costs["amount_reporting"].where(dept.isin(OPERATED), 0.0),
        undistributed=costs["amount_reporting"].where(dept == "undistributed", 0.0),
    )
    for name, column in zip(names, ("rooms", "operated", "undistributed"), strict=True):
        out = out.merge(_by_period(costs, "posting_date", column, grain, name), how="left")
        out[name] = out[name].fillna(0.0)
    return out


def with_comparisons(
    frame: pd.DataFrame, grain: str, metrics: tuple[str, ...], keys: tuple[str, ...] = ("hotel",)
) -> pd.DataFrame:
    """Add, as the room KPIs do, each metric of the previous period (`_prev`, change `_pop`)
    and of the same period last year (`_ly`, change `_yoy`; changes as fractions)."""
    out = frame
    for comparison, (suffix, change) in SUFFIXES.items():
        other = frame[["period", *keys, *metrics]].copy()
        moved = {p: shift(p.date(), grain, comparison) for p in other["period"].unique()}
        other["period"] = pd.to_datetime(other["period"].map(moved)).astype("datetime64[us]")
        out = out.merge(
            other.rename(columns={m: m + suffix for m in metrics}), on=["period", *keys], how="left"
        )
        for m in metrics:
            base = out[m + suffix].where(out[m + suffix] != 0)
            out[m + change] = out[m] / base - 1
    return out


def review_kpis(reviews: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Return per period, hotel and review source: review_volume, review_score (mean, 0-10) and
    reputation_index (mean score × 10, 0-100, as ReviewPro's Global Review Index)."""
    periods = period_start(pd.to_datetime(reviews["review_date"]), grain)
    keys = ["period", "hotel", "review_source"]
    grouped = reviews.assign(period=periods).groupby(keys, observed=True)["score"]
    out = grouped.agg(review_volume="count", review_score="mean").reset_index()
    out["reputation_index"] = out["review_score"] * 10
    out["period"] = out["period"].astype("datetime64[us]")
    return with_comparisons(
        out, grain, ("review_volume", "review_score"), ("hotel", "review_source")
    )
