"""KPIs as SQL: every fact and metric defined once here, compiled for DuckDB or BigQuery.

A query reads the model tables of one schema (`<schema>.reservations`, `.stay_nights`,
`.room_inventory`) and returns the KPI table: one row per period and dimension values, the
metrics, then each comparison's metrics. The warehouse runs it where the data is; only the
result (or nothing: the step materialises it in place) comes back. Formulas and sources:
`mhi.analytics.metrics`; the pandas reference implementation: `mhi.analytics.kpi`.

Shape: one aggregate per fact source (nights by stay date, inventory by date, bookings by
arrival date, pace over the nights of every booking), their keys unioned, left-joined, the
metric expressions over the facts, then a self-join for each comparison.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from mhi.analytics.kpi_spec import SUFFIXES, KpiSpec, all_ranges, period_start, window_start
from mhi.analytics.metrics import METRICS
from mhi.analytics.sql_dialect import Dialect

SOURCES = ("nights", "inventory", "bookings", "pace")
_MEDIAN = "<median lead_time>"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


# Facts: one aggregate each, over the rows of its source. {on_books:T} is 1 when the night is
# on the books at T: booked by T and not cancelled by T (a cancellation without a date counts
# from the start); {as_of} and {before} are the snapshot dates.
FACTS: dict[str, tuple[str, str]] = {
    "rooms_sold": ("nights", "COUNT(*)"),
    "rated_rooms": ("nights", "COUNT(room_revenue)"),
    "room_revenue": ("nights", "SUM(room_revenue)"),
    "other_revenue": ("nights", "SUM(other_revenue)"),
    "rooms_available": ("inventory", "SUM(rooms_available)"),
    "bookings": ("bookings", "COUNT(*)"),
    "arrivals": ("bookings", _count("NOT is_cancelled")),
    "cancellations": ("bookings", _count("status = 'cancelled'")),
    "no_shows": ("bookings", _count("status = 'no_show'")),
    "confirmed_bookings": ("bookings", _count("status = 'confirmed'")),
    "checked_in_bookings": ("bookings", _count("status = 'checked_in'")),
    "checked_out_bookings": ("bookings", _count("status = 'checked_out'")),
    "arrival_nights": (
        "bookings",
        "SUM(CASE WHEN NOT is_cancelled AND nights > 0 THEN nights END)",
    ),
    "stays": ("bookings", _count("NOT is_cancelled AND nights > 0")),
    "lead_sum": ("bookings", "SUM(lead_time)"),
    "lead_n": ("bookings", "COUNT(lead_time)"),
    "lead_median": ("bookings", _MEDIAN),
    "rooms_on_books": ("pace", "SUM(CASE WHEN stay_date >= {as_of} THEN {ob_as_of} END)"),
    "pickup": ("pace", "SUM(CASE WHEN stay_date >= {as_of} THEN {ob_as_of} - {ob_before} END)"),
    "final_pickup": ("pace", "SUM(CASE WHEN stay_date < {as_of} THEN {ob_night} - {ob_prior} END)"),
}

_COUNTS = ("bookings", "arrivals", "cancellations", "no_shows")
_COUNTS += ("confirmed_bookings", "checked_in_bookings", "checked_out_bookings")
# Room revenue with the unrated rooms valued at the rated rooms' ADR (so RevPAR = occ × ADR).
_EST_REVENUE = (
    "(CASE WHEN COALESCE({rooms_sold}, 0) = 0 THEN 0 WHEN {rated_rooms} = {rooms_sold} "
    "THEN {room_revenue} ELSE {room_revenue} * {rooms_sold} / NULLIF({rated_rooms}, 0) END)"
)
# Metrics: one expression each, over the facts (a fact is NULL where its source had no row).
METRIC_SQL: dict[str, str] = {
    "rooms_available": "{rooms_available}",
    "rooms_sold": "COALESCE({rooms_sold}, 0)",
    "unrated_rooms": "COALESCE({rooms_sold}, 0) - COALESCE({rated_rooms}, 0)",
    "room_revenue": "COALESCE({room_revenue}, 0)",
    "occupancy": "COALESCE({rooms_sold}, 0) / NULLIF({rooms_available}, 0)",
    "adr": "{room_revenue} / NULLIF({rated_rooms}, 0)",
    "revpar": f"{_EST_REVENUE} / NULLIF({{rooms_available}}, 0)",
    "trevpar": (
        f"({_EST_REVENUE} + COALESCE({{other_revenue}}, 0)) / NULLIF({{rooms_available}}, 0)"
    ),
    **{m: f"COALESCE({{{m}}}, 0)" for m in _COUNTS},
    "cancellation_rate": "COALESCE({cancellations}, 0) / NULLIF({bookings}, 0)",
    "no_show_rate": "COALESCE({no_shows}, 0) / NULLIF({bookings}, 0)",
    "alos": "{arrival_nights} / NULLIF({stays}, 0)",
    "avg_lead_time": "{lead_sum} / NULLIF({lead_n}, 0)",
    "median_lead_time": "{lead_median}",
    "rooms_on_books": "{rooms_on_books}",
    "pickup": "{pickup}",
    "final_pickup": "{final_pickup}",
}


@dataclass(frozen=True)
class SqlContext:
    """What the query needs beyond the spec: the model schema, the snapshot date, the data's
    first and last dates (from a profile query), optionally rooms per hotel that replace the
    model's room inventory, and whether there is any inventory at all."""

    schema: str
    as_of: date
    first: date
    last: date
    rooms: Mapping[str, int] = field(default_factory=dict)
    has_inventory: bool = True


def fact_names(metric: str) -> list[str]:
    """Return the facts a metric's expression reads."""
    return [f for _, f, _, _ in string.Formatter().parse(METRIC_SQL[metric]) if f]


def _needed_facts(metrics: list[str]) -> dict[str, list[str]]:
    by_source: dict[str, list[str]] = {}
    for m in metrics:
        for f in fact_names(m):
            names = by_source.setdefault(FACTS[f][0], [])
            if f not in names:
                names.append(f)
    return {s: by_source[s] for s in SOURCES if s in by_source}


class Compiler:
    """Builds the KPI query; the pace-curve and check queries reuse its parts."""

    def __init__(self, spec: KpiSpec, d: Dialect, ctx: SqlContext) -> None:
        self.spec, self.d, self.ctx = spec, d, ctx
        self.dims = list(spec.dimensions)
        self.lo = window_start(spec)
        self.hi = spec.end

    def table(self, name: str) -> str:
        return f"{self.ctx.schema}.{name}"

    def ranges(self) -> list[tuple[date, date, date]]:
        first = self.spec.start or self.ctx.first
        return all_ranges(self.spec, first, self.spec.end or self.ctx.last)

    # --- rows of each source ---------------------------------------------------------------

    def base(self, source: str) -> tuple[str, str, list[str], list[str]]:
        """Return (FROM item, date expression, columns, conditions) of a source's rows."""
        d, comp = self.d, [] if self.spec.include_complimentary else ["NOT is_complimentary"]
        if source == "nights":
            cols = ["room_revenue", "other_revenue"]
            return self.table("stay_nights"), d.as_date("stay_date"), cols, comp
        if source == "bookings":
            cols = ["status", "is_cancelled", "nights", "lead_time"]
            return self.table("reservations"), d.as_date("arrival_date"), cols, []
        if source == "inventory":
            hotels = f"hotel IN (SELECT hotel FROM {self.table('reservations')})"
            return self.inventory(), d.as_date(d.quote("date")), ["rooms_available"], [hotels]
        cols = ["is_cancelled", "booking_date", "status_date", "stay_date"]
        return self.pace_nights(), "stay_date", cols, []

    def inventory(self) -> str:
        if not self.ctx.rooms:
            return self.table("room_inventory")
        d, first = self.d, self.ctx.first
        rooms = " UNION ALL ".join(
            f"SELECT {d.string(h)} AS hotel, {int(n)} AS rooms_available"
            for h, n in sorted(self.ctx.rooms.items())
        )
        count = (self.ctx.last - first).days + 1
        day = d.add_days(d.date(first), "_i")
        return (
            f"(SELECT h.hotel, {day} AS {d.quote('date')}, h.rooms_available FROM ({rooms}) AS h "
            f"CROSS JOIN {d.unnest(d.int_range(str(count)), '_i')})"
        )

    def pace_nights(self) -> str:
        d = self.d
        arrival = d.as_date("r.arrival_date")
        keep = ["r.nights > 0"]
        if not self.spec.include_complimentary:
            keep.append("NOT r.is_complimentary")
        if self.lo is not None:
            keep.append(f"{d.as_date('r.departure_date')} > {d.date(self.lo)}")
        if self.hi is not None:
            keep.append(f"{arrival} <= {d.date(self.hi)}")
        cols = ", ".join(f"r.{c}" for c in dict.fromkeys([*self.dims, "is_cancelled"]))
        return (
            f"(SELECT {cols}, {d.as_date('r.booking_date')} AS booking_date, "
            f"{d.as_date('r.status_date')} AS status_date, "
            f"{d.add_days(arrival, '_i')} AS stay_date "
            f"FROM {self.table('reservations')} AS r "
            f"CROSS JOIN {d.unnest(d.int_range('r.nights'), '_i')} WHERE {' AND '.join(keep)})"
        )

    def rows(self, source: str, period: str, lo: date | None, hi: date | None) -> str:
        from_item, day, cols, where = self.base(source)
        dims = [c for c in self.dims if source != "inventory" or c == "hotel"]
        where = [*where, *([f"{day} >= {self.d.date(lo)}"] if lo else [])]
        where += [f"{day} <= {self.d.date(hi)}"] if hi else []
        select = ", ".join([f"{period} AS period", *dims, *cols])
        sql = f"SELECT {select} FROM {from_item} AS s"
        return sql + (f" WHERE {' AND '.join(where)}" if where else "")

    def source_rows(self, source: str) -> str:
        if self.spec.grain != "all":
            _, day, _, _ = self.base(source)
            return self.rows(source, self.d.trunc(day, self.spec.grain), self.lo, self.hi)
        return " UNION ALL ".join(
            self.rows(source, self.d.date(p), lo, hi) for p, lo, hi in self.ranges()
        )

    # --- facts, keys, metrics, comparisons --------------------------------------------------

    def fact_query(self, source: str, facts: list[str]) -> str:
        d, keys = self.d, self.keys(source)
        rows = self.source_rows(source)
        if _MEDIAN in [FACTS[f][1] for f in facts] and not d.median_is_aggregate:
            window = d.median_window("lead_time", keys)
            rows = f"SELECT q.*, {window} AS _median FROM ({rows}) AS q"
        median = d.median("lead_time") if d.median_is_aggregate else "ANY_VALUE(_median)"
        snap = self.snapshots()
        aggs = [f"{FACTS[f][1].replace(_MEDIAN, median).format(**snap)} AS {f}" for f in facts]
        return f"SELECT {', '.join([*keys, *aggs])} FROM ({rows}) AS r GROUP BY {', '.join(keys)}"

    def snapshots(self) -> dict[str, str]:
        d, as_of = self.d, self.ctx.as_of
        before = as_of - timedelta(days=self.spec.pickup_days)

        def on_books(t: str) -> str:
            cancelled = f"is_cancelled AND (status_date IS NULL OR status_date <= {t})"
            return f"(CASE WHEN booking_date <= {t} AND NOT ({cancelled}) THEN 1 ELSE 0 END)"

        prior = d.add_days("stay_date", -self.spec.pickup_days)
        return {
            "as_of": d.date(as_of),
            "ob_as_of": on_books(d.date(as_of)),
            "ob_before": on_books(d.date(before)),
            "ob_night": on_books("stay_date"),
            "ob_prior": on_books(prior),
        }

    def keys(self, source: str) -> list[str]:
        if source == "inventory":
            return ["period", *(["hotel"] if "hotel" in self.dims else [])]
        return ["period", *self.dims]

    def compile(self) -> str:
        needed = _needed_facts(list(self.spec.metrics))
        if not (self.ctx.has_inventory or self.ctx.rooms):
            needed.pop("inventory", None)  # no room inventory anywhere: its metrics are NULL
        ctes = [f"f_{s} AS ({self.fact_query(s, facts)})" for s, facts in needed.items()]
        key_sources = [s for s in needed if s != "inventory" or set(self.dims) <= {"hotel"}]
        keys = ", ".join(["period", *self.dims])
        union = " UNION DISTINCT ".join(f"SELECT {keys} FROM f_{s}" for s in key_sources)
        ctes.append(f"k AS ({union})")
        ctes.append(f"kpis AS ({self.cube(needed)})")
        return "WITH " + ",\n".join(ctes) + "\n" + self.final()

    def cube(self, needed: dict[str, list[str]]) -> str:
        joins, refs = [], {f: self.d.as_int("NULL") for f in FACTS}
        for s, facts in needed.items():
            on = " AND ".join(f"f_{s}.{k} = k.{k}" for k in self.keys(s))
            joins.append(f"LEFT JOIN f_{s} ON {on}")
            refs |= {f: f"f_{s}.{f}" for f in facts}
        cols = [f"k.{c}" for c in ["period", *self.dims]]
        for m in self.spec.metrics:
            expr = METRIC_SQL[m].format(**refs)
            kind = METRICS[m].kind
            cast = self.d.as_int if kind == "count" else self.d.as_float
            cols.append(f"{cast(expr)} AS {m}")
        return f"SELECT {', '.join(cols)} FROM k {' '.join(joins)}"

    def final(self) -> str:
        spec, d = self.spec, self.d
        cols = [f"c.{c}" for c in ["period", *self.dims, *spec.metrics]]
        joins = []
        for i, comparison in enumerate(spec.active_comparisons()):
            alias = f"p{i}"
            suffix, change = SUFFIXES[comparison]
            cols += [f"{alias}.{m} AS {m}{suffix}" for m in spec.metrics]
            cols += [
                f"{d.as_float(f'c.{m}')} / NULLIF({alias}.{m}, 0) - 1 AS {m}{change}"
                for m in spec.metrics
            ]
            on = [f"{alias}.period = {self.shifted('c.period', comparison)}"]
            on += [f"{alias}.{k} = c.{k}" for k in self.dims]
            joins.append(f"LEFT JOIN kpis AS {alias} ON {' AND '.join(on)}")
        sql = f"SELECT {', '.join(cols)} FROM kpis AS c {' '.join(joins)}".rstrip()
        trim = self.trim()
        return sql + (f" WHERE c.period >= {trim}" if trim else "")

    def shifted(self, expr: str, comparison: str) -> str:
        d, grain = self.d, self.spec.grain
        if grain == "all":
            ranges = self.ranges()
            return d.date(ranges[1 + self.spec.active_comparisons().index(comparison)][0])
        if comparison == "last_year":
            return d.add_days(expr, -364) if grain in ("day", "week") else d.add_months(expr, -12)
        if grain in ("day", "week"):
            return d.add_days(expr, -7 if grain == "week" else -1)
        return d.add_months(expr, -1 if grain == "month" else -12)

    def trim(self) -> str | None:
        if self.spec.grain == "all":
            return self.d.date(self.ranges()[0][0]) if self.spec.active_comparisons() else None
        if self.spec.start is None:
            return None
        return self.d.date(period_start(self.spec.start, self.spec.grain))


def compile_kpis(spec: KpiSpec, d: Dialect, ctx: SqlContext, *, ordered: bool = False) -> str:
    """Return the SQL of the KPI table `spec` asks for, in dialect `d` (`ordered`: sorted by
    period and dimensions, for reading; a materialised table needs no order)."""
    sql = Compiler(spec, d, ctx).compile()
    keys = ", ".join(f"c.{k}" for k in ["period", *spec.dimensions])
    return sql + (f" ORDER BY {keys}" if ordered else "")
