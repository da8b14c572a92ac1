"""The other queries of the KPI step, in the same dialects: the data profile, the checks, and
the booking-pace curve against the same time last year.

Pace curve [RM]: for each period and d = 0 .. days, the room-nights of the period that were on
the books d days before each night (booked by then, not cancelled by then), beside the same
period a year earlier (364 days for the day and week grains). A night on the books at d days
before has been booked b ≥ d days before and, if cancelled, cancelled c < d days before; so each
night adds +1 at min(b, days) and, once cancelled, −1 at min(c, b, days), and the curve is the
running sum from `days` down to 0. A value whose snapshot date would fall after `as_of` is
unknown and left empty.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from mhi.analytics.kpi_spec import KpiSpec, period_start, window_start
from mhi.analytics.kpi_sql import Compiler, SqlContext
from mhi.analytics.sql_dialect import Dialect


def profile_sql(
    d: Dialect,
    schema: str,
    *,
    inventory: bool = False,
    other: bool = False,
    capacity: str | None = None,
) -> str:
    """The data profile and the table checks in one round trip, one row per fact (`kind`):

    - `hotel`: per hotel, first and last arrival, last departure of a stay, last booking date
      and bookings (`n`);
    - `inventory` (with `inventory`): each hotel that has room inventory;
    - `stay_nights`: stay nights that carry other (F&B, extras) revenue when `other` is asked
      for, else at most one stay night; either way the query fails when the table is missing;
    - `capacity` (with a `capacity_sql` query): its row, if any, with the night in
      `first_arrival`, the rooms sold in `n`, and `rooms`, `nights` and `peak`.
    """
    day = d.as_date
    nights = (
        f"SELECT 'stay_nights', NULL, NULL, NULL, NULL, NULL, COUNT(other_revenue), {_NONE} "
        f"FROM {schema}.stay_nights"
        if other
        else f"SELECT 'stay_nights', NULL, NULL, NULL, NULL, NULL, COUNT(*), {_NONE} "
        f"FROM (SELECT 1 AS one FROM {schema}.stay_nights LIMIT 1) AS s"
    )
    parts = [
        f"SELECT 'hotel' AS kind, hotel, MIN({day('arrival_date')}) AS first_arrival, "
        f"MAX({day('arrival_date')}) AS last_arrival, "
        f"MAX(CASE WHEN nights > 0 THEN {day('departure_date')} END) AS last_departure, "
        f"MAX({day('booking_date')}) AS last_booking, COUNT(*) AS n, "
        f"{d.as_int('NULL')} AS rooms, {d.as_int('NULL')} AS nights, {d.as_int('NULL')} AS peak "
        f"FROM {schema}.reservations GROUP BY hotel",
        nights,
    ]
    if inventory:
        parts.append(
            f"SELECT 'inventory', hotel, NULL, NULL, NULL, NULL, NULL, {_NONE} "
            f"FROM (SELECT DISTINCT hotel FROM {schema}.room_inventory) AS i"
        )
    if capacity:
        parts.append(
            "SELECT 'capacity', hotel, d, NULL, NULL, NULL, sold, rooms, nights, peak "
            f"FROM ({capacity}) AS c"
        )
    return "\nUNION ALL ".join(parts) + "\nORDER BY kind, hotel"


_NONE = "NULL, NULL, NULL"  # rooms, nights and peak: the capacity row's alone


def capacity_sql(spec: KpiSpec, d: Dialect, ctx: SqlContext) -> str:
    """The worst night with more rooms occupied than available (complimentary included),
    with the number of such nights and that hotel's most rooms occupied; no row when none."""
    return capacity_sql_from(spec, d, ctx.schema, Compiler(spec, d, ctx).inventory())


def capacity_sql_from(spec: KpiSpec, d: Dialect, schema: str, inventory: str) -> str:
    """`capacity_sql` against the inventory `inventory` (a table or a subquery): without
    configured rooms the query needs nothing from the data profile, so it can travel with it."""
    lo, hi = window_start(spec), spec.end
    day_n, day_i = d.as_date("stay_date"), d.as_date(d.quote("date"))
    window_n, window_i = _window(d, day_n, lo, hi), _window(d, day_i, lo, hi)
    return (
        f"WITH sold AS (SELECT hotel, {day_n} AS d, COUNT(*) AS sold "
        f"FROM {schema}.stay_nights{window_n} GROUP BY hotel, d), "
        f"inv AS (SELECT hotel, {day_i} AS d, SUM(rooms_available) AS rooms "
        f"FROM {inventory} AS s{window_i} GROUP BY hotel, d), "
        "over_ AS (SELECT s.hotel, s.d, s.sold, i.rooms FROM sold AS s JOIN inv AS i "
        "ON i.hotel = s.hotel AND i.d = s.d WHERE s.sold > i.rooms) "
        "SELECT hotel, d, sold, rooms, (SELECT COUNT(*) FROM over_) AS nights, "
        "MAX(sold) OVER (PARTITION BY hotel) AS peak FROM over_ "
        "ORDER BY sold - rooms DESC, hotel, d LIMIT 1"
    )


def _window(d: Dialect, day: str, lo: date | None, hi: date | None) -> str:
    where = [f"{day} >= {d.date(lo)}"] if lo else []
    where += [f"{day} <= {d.date(hi)}"] if hi else []
    return f" WHERE {' AND '.join(where)}" if where else ""


def pace_curve_sql(spec: KpiSpec, d: Dialect, ctx: SqlContext, *, ordered: bool = False) -> str:
    """The pace curve table: period, dimensions, days_before, rooms_on_books and the same
    period last year (`_ly`) with the change (`_yoy`)."""
    days = spec.pace_curve_days or 0
    spec = replace(spec, metrics=("rooms_on_books",), comparisons=("last_year",))
    c = Compiler(spec, d, ctx)
    dims = list(spec.dimensions)
    keys = ["period", *dims]
    b = d.days_between("booking_date", "stay_date")
    cancel = f"LEAST(COALESCE({d.days_between('status_date', 'stay_date')}, {b}), {b})"
    rows = c.source_rows("pace")
    events = (
        f"SELECT {', '.join(keys)}, LEAST({b}, {days}) AS d, 1 AS delta FROM n WHERE {b} >= 0 "
        f"UNION ALL SELECT {', '.join(keys)}, LEAST({cancel}, {days}) AS d, -1 AS delta FROM n "
        f"WHERE is_cancelled AND {b} >= 0 AND {cancel} >= 0"
    )
    on = " AND ".join(f"h.{k} = g.{k}" for k in [*keys, "d"])
    ctes = [
        f"n AS ({rows})",
        f"h AS (SELECT {', '.join(keys)}, d, SUM(delta) AS delta FROM ({events}) AS e "
        f"GROUP BY {', '.join([*keys, 'd'])})",
        f"k AS (SELECT DISTINCT {', '.join(keys)} FROM n)",
        f"g AS (SELECT k.*, d FROM k CROSS JOIN {d.unnest(d.int_range(str(days + 1)), 'd')})",
        f"curve AS (SELECT {', '.join(f'g.{k}' for k in keys)}, g.d, "
        f"SUM(COALESCE(h.delta, 0)) OVER (PARTITION BY {', '.join(f'g.{k}' for k in keys)} "
        "ORDER BY g.d DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS otb "
        f"FROM g LEFT JOIN h ON {on})",
    ]
    return "WITH " + ",\n".join(ctes) + "\n" + _curve_select(c, dims, ordered)


def _curve_select(c: Compiler, dims: list[str], ordered: bool) -> str:
    d, spec = c.d, c.spec
    known = d.days_between(d.date(c.ctx.as_of), _period_end(c, "c.period"))
    ly = "FALSE"  # grain `all` compares with last year only for a range with start and end
    if spec.active_comparisons():
        ly = " AND ".join(
            [f"ly.period = {c.shifted('c.period', 'last_year')}", "ly.d = c.d"]
            + [f"ly.{k} = c.{k}" for k in dims]
        )
    value = f"CASE WHEN c.d >= {known} THEN c.otb END"
    base = f"CASE WHEN ly.d >= {d.days_between(d.date(c.ctx.as_of), _period_end(c, 'ly.period'))} "
    ly_value = base + "THEN ly.otb END"
    cols = [f"c.{k}" for k in ["period", *dims]] + [
        "c.d AS days_before",
        f"{d.as_int(value)} AS rooms_on_books",
        f"{d.as_int(ly_value)} AS rooms_on_books_ly",
        f"{d.as_float(value)} / NULLIF({ly_value}, 0) - 1 AS rooms_on_books_yoy",
    ]
    sql = f"SELECT {', '.join(cols)} FROM curve AS c LEFT JOIN curve AS ly ON {ly}"
    trim = (
        c.trim()
        if spec.grain == "all"
        else (d.date(period_start(spec.start, spec.grain)) if spec.start else None)
    )
    sql += f" WHERE c.period >= {trim}" if trim else ""
    order = ", ".join(f"c.{k}" for k in ["period", *dims]) + ", c.d"
    return sql + (f" ORDER BY {order}" if ordered else "")


def _period_end(c: Compiler, period: str) -> str:
    """The last day of the period starting at `period` (grain `all`: its range's last day)."""
    d, grain = c.d, c.spec.grain
    if grain == "all":
        ranges = c.ranges()
        return f"(CASE WHEN {period} = {d.date(ranges[0][0])} THEN {d.date(ranges[0][2])} " + (
            f"ELSE {d.date(ranges[1][2])} END)" if len(ranges) > 1 else "END)"
        )
    if grain == "day":
        return period
    if grain == "week":
        return d.add_days(period, 6)
    return d.add_days(d.add_months(period, 1 if grain == "month" else 12), -1)
