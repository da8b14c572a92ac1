"""KPIs run where the data is: profile the model tables, check, then send one query to the
warehouse (DuckDB locally, BigQuery in production) and either materialise its result there or
read it back. Only small results (a row per hotel, the worst over-capacity night) travel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from mhi.analytics import kpi_checks
from mhi.analytics.kpi_queries import (
    capacity_sql,
    capacity_sql_from,
    pace_curve_sql,
    profile_sql,
)
from mhi.analytics.kpi_spec import KpiSpec
from mhi.analytics.kpi_sql import SqlContext, compile_kpis
from mhi.analytics.sql_dialect import Dialect, dialect
from mhi.errors import PermanentError, StepExecutionError

if TYPE_CHECKING:
    import pandas as pd

    from mhi.ports import Warehouse, WriteMode

logger = logging.getLogger(__name__)

_STALE = ("not found", "unrecognized name", "does not have a column", "no such column")


@dataclass
class KpiPlan:
    """A checked KPI computation: its context, dialect and what the reader should know."""

    spec: KpiSpec
    ctx: SqlContext
    dialect: Dialect
    warnings: list[str] = field(default_factory=list)
    last_arrival: date | None = None

    def sql(self, *, ordered: bool = False) -> str:
        """Return the KPI query."""
        return compile_kpis(self.spec, self.dialect, self.ctx, ordered=ordered)

    def pace_sql(self, *, ordered: bool = False) -> str:
        """Return the pace-curve query."""
        return pace_curve_sql(self.spec, self.dialect, self.ctx, ordered=ordered)


def plan_kpis(
    warehouse: Warehouse,
    account: str,
    schema: str,
    spec: KpiSpec,
    rooms: Mapping[str, int] | None = None,
) -> KpiPlan:
    """Profile the model tables of `schema` and run every check; return the plan.

    Raises:
        StepExecutionError: a model table is missing, empty, or has no data in the range.
        StepConfigError: inventory missing (when asked to fail) or over capacity; TRevPAR
            without other revenue.
    """
    d = dialect(warehouse.dialect)
    found = _profile(warehouse, account, schema, d, spec, rooms)
    profile, has_inventory = found.profile, found.has_inventory
    if profile.empty:
        raise StepExecutionError("no reservations to compute KPIs from")
    first, last, last_booking, last_arrival = _data_range(profile)
    kpi_checks.check_range(spec, first, last)
    as_of = spec.as_of or last_booking or last
    ctx = SqlContext(schema, as_of, first, last, dict(rooms or {}), has_inventory)
    plan = KpiPlan(spec, ctx, d, last_arrival=last_arrival)
    kpi_checks.dropped_comparisons(spec, plan.warnings)
    hotels = profile["hotel"].astype(str)
    missing = kpi_checks.missing_inventory(hotels, found.have, spec, plan.warnings)
    needs = spec.needs()
    if "inventory" in needs and len(missing) < len(profile) and has_inventory:
        worst = found.capacity
        if worst is None:  # configured rooms: the query needs the data's range
            sql = capacity_sql(plan.spec, plan.dialect, plan.ctx)
            worst = _query(warehouse, account, sql, plan.ctx.schema)
        _over_capacity(worst)
    if "other" in needs and found.other_nights == 0:
        kpi_checks.no_other_revenue()
    return plan


@dataclass
class _Profile:
    """What the profile query found (`profile_sql`)."""

    profile: pd.DataFrame  # per hotel: first/last arrival, last departure and booking, bookings
    have: list[str]  # the hotels with room inventory
    other_nights: int  # stay nights with other revenue (when asked for)
    has_inventory: bool  # rooms configured, or an inventory table
    capacity: pd.DataFrame | None  # the worst over-capacity night, if the query looked


def _profile(
    warehouse: Warehouse,
    account: str,
    schema: str,
    d: Dialect,
    spec: KpiSpec,
    rooms: Mapping[str, int] | None,
) -> _Profile:
    """Profile and check the model tables in one query (`profile_sql`). Configured rooms
    replace the inventory table, so it is not read; without them the query reads it and, when
    a metric needs inventory, finds the worst over-capacity night too. Only when the query
    fails are the tables looked up one by one: a missing model table is named with what makes
    it, a missing inventory table means no inventory."""
    other = "other" in spec.needs()
    inventory = not rooms
    table = f"{schema}.room_inventory"
    checks_capacity = inventory and "inventory" in spec.needs()
    capacity = capacity_sql_from(spec, d, schema, table) if checks_capacity else None
    try:
        sql = profile_sql(d, schema, inventory=inventory, other=other, capacity=capacity)
        frame = _query(warehouse, account, sql, schema)
    except PermanentError:
        missing = [
            t
            for t in ("reservations", "stay_nights")
            if not warehouse.exists(account, f"{schema}.{t}")
        ]
        if missing:
            raise StepExecutionError(
                f"table {schema}.{missing[0]} does not exist for account {account}: "
                "run an ms-data-modeling step first"
            ) from None
        if not inventory or warehouse.exists(account, table):
            raise
        inventory, capacity = False, None
        frame = _query(warehouse, account, profile_sql(d, schema, other=other), schema)
    kind = frame["kind"]
    profile = frame[kind == "hotel"].drop(columns=["kind", "rooms", "nights", "peak"])
    profile = profile.rename(columns={"n": "bookings"}).sort_values("hotel").reset_index(drop=True)
    worst = frame[kind == "capacity"].rename(columns={"first_arrival": "d", "n": "sold"})
    return _Profile(
        profile,
        list(rooms) if rooms else [str(h) for h in frame.loc[kind == "inventory", "hotel"]],
        int(frame.loc[kind == "stay_nights", "n"].sum()),
        bool(rooms) or inventory,
        worst if inventory and capacity else None,
    )


def _data_range(profile: pd.DataFrame) -> tuple[date, date, date | None, date]:
    import pandas as pd

    def day(col: str) -> pd.Timestamp:
        return pd.to_datetime(profile[col]).max()

    first = pd.to_datetime(profile["first_arrival"]).min().date()
    last_arrival = day("last_arrival").date()
    stays = day("last_departure")
    last = max(last_arrival, (stays - pd.Timedelta(days=1)).date()) if pd.notna(stays) else None
    booked = day("last_booking")
    return first, last or last_arrival, booked.date() if pd.notna(booked) else None, last_arrival


def _over_capacity(worst: pd.DataFrame) -> None:
    """Raise for the worst over-capacity night of `capacity_sql`, if there is one."""
    import pandas as pd

    if worst.empty:
        return
    row = worst.iloc[0]
    kpi_checks.over_capacity(
        str(row["hotel"]),
        int(row["rooms"]),
        int(row["sold"]),
        pd.Timestamp(row["d"]).date(),
        int(row["nights"]),
        int(row["peak"]),
    )


def _query(warehouse: Warehouse, account: str, sql: str, schema: str) -> pd.DataFrame:
    try:
        return warehouse.query(account, sql)
    except PermanentError as e:
        if _stale(e):
            raise _explained(e, schema) from e
        raise


def _stale(error: PermanentError) -> bool:
    return any(s in str(error).lower() for s in _STALE)


def _explained(error: PermanentError, schema: str) -> PermanentError:
    """Add the likely cause to a missing-column error: model tables of an older version."""
    return PermanentError(
        f"{error} (the tables of {schema} may predate this version: re-run the "
        "ms-data-modeling step with no date to rebuild them)"
    )


def query_kpis(warehouse: Warehouse, account: str, plan: KpiPlan) -> pd.DataFrame:
    """Run the KPI query and return its table, sorted by period and dimensions."""
    table = _query(warehouse, account, plan.sql(ordered=True), plan.ctx.schema)
    if table.empty:
        raise StepExecutionError(kpi_checks.no_data(plan.spec, plan.ctx.first, plan.ctx.last))
    return _dated(table)


def query_pace_curve(warehouse: Warehouse, account: str, plan: KpiPlan) -> pd.DataFrame:
    """Run the pace-curve query and return its table."""
    return _dated(_query(warehouse, account, plan.pace_sql(ordered=True), plan.ctx.schema))


def materialize_kpis(
    warehouse: Warehouse,
    account: str,
    plan: KpiPlan,
    table: str,
    *,
    mode: WriteMode = "replace",
    pace: bool = False,
) -> int:
    """Write the KPI (or pace-curve) table inside the warehouse; return its rows."""
    keys: Sequence[str] = ["period", *plan.spec.dimensions, *(["days_before"] if pace else [])]
    sql = plan.pace_sql() if pace else plan.sql()
    try:
        rows = warehouse.materialize(account, table, sql, mode=mode, keys=keys)
    except PermanentError as e:
        if _stale(e):
            raise _explained(e, plan.ctx.schema) from e
        raise
    if rows == 0 and not pace:
        raise StepExecutionError(kpi_checks.no_data(plan.spec, plan.ctx.first, plan.ctx.last))
    logger.info("kpi %s: %d rows (%s)", table, rows, plan.dialect.name)
    return rows


def read_hotel_rows(
    warehouse: Warehouse, account: str, table: str, columns: Sequence[str], limit: int = 12
) -> pd.DataFrame:
    """Read `columns` of a hotel-level KPI table for its first `limit` hotels (for charts)."""
    cols = ", ".join(columns)
    sql = (
        f"SELECT {cols} FROM {table} WHERE hotel IN (SELECT hotel FROM "
        f"(SELECT DISTINCT hotel FROM {table}) AS h ORDER BY hotel LIMIT {int(limit)}) "
        "ORDER BY hotel, period"
    )
    return _dated(warehouse.query(account, sql))


def read_last_periods(
    warehouse: Warehouse, account: str, table: str, plan: KpiPlan
) -> pd.DataFrame:
    """Read, per hotel, the rows of the periods that end by the last arrival (headline)."""
    d, grain = plan.dialect, plan.spec.grain
    if grain == "all" or plan.last_arrival is None:
        return _dated(warehouse.query(account, f"SELECT * FROM {table}"))
    if grain == "day":
        end = "t.period"
    elif grain == "week":
        end = d.add_days("t.period", 6)
    else:
        end = d.add_days(d.add_months("t.period", 1 if grain == "month" else 12), -1)
    cutoff = d.date(plan.last_arrival)
    last = (
        f"SELECT hotel, MAX(period) AS p FROM {table} AS t WHERE {end} <= {cutoff} GROUP BY hotel"
    )
    sql = f"SELECT t.* FROM {table} AS t JOIN ({last}) AS m ON m.hotel = t.hotel AND m.p = t.period"
    return _dated(warehouse.query(account, sql))


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if "period" in frame.columns:
        frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[us]")
    return frame
