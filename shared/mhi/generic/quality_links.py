"""The checks of `ms-data-quality` that look beyond the rows themselves: referential integrity
(another table) and the row count against the last run (the results table)."""

from __future__ import annotations

from typing import Any

from mhi.errors import StepExecutionError
from mhi.generic.quality_checks import (
    CheckFn,
    Outcome,
    Scope,
    accepted_values,
    bad_values,
    count_rows,
    freshness,
    not_null,
    plural,
    row_count,
    unique,
    value_range,
)
from mhi.generic.quality_config import Check
from mhi.generic.relations import RecordsRelation, frame_records

MAX_LOOKUP_VALUES = 10_000


def relationship(s: Scope, c: Check) -> Outcome:
    """Every non-null value of the column is found in `to_table.to_column`."""
    assert c.column is not None and c.to_table is not None
    if not s.warehouse.exists(s.account, c.to_table):
        raise StepExecutionError(f"{c.label()}: to_table {c.to_table} does not exist")
    target = c.to_column or c.column
    if isinstance(s.relation, RecordsRelation):
        return _records_relationship(s, c, s.relation, target)
    q = s.relation.dialect.quote
    where = (
        f"_s.{q(c.column)} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {c.to_table} AS _r WHERE _r.{q(target)} = _s.{q(c.column)})"
    )
    return bad_values(s, c, where, {}, f"without a match in {c.to_table}.{target}")


def _records_relationship(s: Scope, c: Check, relation: RecordsRelation, target: str) -> Outcome:
    """Records live outside the warehouse: look their distinct values up there."""
    assert c.column is not None and c.to_table is not None
    values = [r.get(c.column) for r in relation.records]
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if len(distinct) > MAX_LOOKUP_VALUES:
        raise StepExecutionError(
            f"{c.label()}: {len(distinct)} distinct values, more than {MAX_LOOKUP_VALUES} to "
            "look up: check a table instead (source)"
        )
    found: set[Any] = set()
    if distinct:
        q = s.relation.dialect.quote
        holes = ", ".join(f"@v{i}" for i in range(len(distinct)))
        sql = (
            f"SELECT DISTINCT {q(target)} AS found FROM {c.to_table} WHERE {q(target)} IN ({holes})"
        )
        params = {f"v{i}": v for i, v in enumerate(distinct)}
        found = {r["found"] for r in frame_records(s.warehouse.query(s.account, sql, params))}
    missing = [v for v in distinct if v not in found]
    failing = sum(1 for v in values if v is not None and v not in found)
    if not missing:
        return Outcome(c, True, "every value passes", observed=0)
    shown = ", ".join(repr(v) for v in missing[:5])
    message = f"{plural(failing, 'row')} without a match in {c.to_table}.{target}, e.g. {shown}"
    return Outcome(c, False, message, failing, failing, missing[:5])


def _previous_count(s: Scope, c: Check) -> float | None:
    """The count this check recorded in the last other run of this flow and step."""
    table = s.results_table
    if table is None or not s.warehouse.exists(s.account, table):
        return None
    sql = (
        f"SELECT observed FROM {table} WHERE flow_id = @flow AND step_id = @step "
        "AND check_name = @name AND run_id <> @run AND observed IS NOT NULL "
        "ORDER BY checked_at DESC LIMIT 1"
    )
    params = {"flow": s.flow_id, "step": s.step_id, "name": c.label(), "run": s.run_id}
    rows = frame_records(s.warehouse.query(s.account, sql, params))
    return float(rows[0]["observed"]) if rows else None


def row_count_change(s: Scope, c: Check) -> Outcome:
    """The row count moved by at most the allowed % since the last run."""
    n = count_rows(s.relation)
    before = _previous_count(s, c)
    if before is None:
        return Outcome(c, True, f"{n} rows; no earlier run to compare with", observed=n)
    change = (n - before) / before * 100 if before else (0.0 if n == 0 else float("inf"))
    too_low = c.max_decrease_pct is not None and -change > c.max_decrease_pct
    too_high = c.max_increase_pct is not None and change > c.max_increase_pct
    text = f"{n} rows, {before:g} in the last run ({change:+.1f}%)"
    if too_low or too_high:
        limit = c.max_decrease_pct if too_low else c.max_increase_pct
        text += f": more than the {limit:g}% allowed"
    return Outcome(c, not (too_low or too_high), text, observed=n)


CHECKS: dict[str, CheckFn] = {
    "row_count": row_count,
    "not_null": not_null,
    "unique": unique,
    "accepted_values": accepted_values,
    "range": value_range,
    "freshness": freshness,
    "relationship": relationship,
    "row_count_change": row_count_change,
}
