"""The checks of `ms-data-quality`, each one or two SQL queries over a `Relation`.

Counting happens where the rows are (the warehouse, or the in-memory DuckDB of records): only
counts and a few sample values come back. Every value a check compares with is a bound
parameter. A check's outcome is `pass`, or `fail` / `warn` by its severity, with a sentence that
says what was found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from mhi.generic.quality_config import Check
from mhi.generic.relations import Relation, frame_records
from mhi.ports import Warehouse

SAMPLE = 5  # failing values shown per check


@dataclass
class Outcome:
    """What one check found."""

    check: Check
    ok: bool
    message: str
    observed: float | None = None
    failing_rows: int = 0
    sample: list[Any] = field(default_factory=list)

    @property
    def status(self) -> str:
        """`pass`, or `fail` / `warn` by the check's severity."""
        if self.ok:
            return "pass"
        return "fail" if self.check.severity == "error" else "warn"


@dataclass
class Scope:
    """What a check may need beside its rows: the warehouse (relationships, earlier results),
    the run's ids and the time."""

    relation: Relation
    warehouse: Warehouse
    account: str
    flow_id: str
    step_id: str
    run_id: str
    now: datetime
    results_table: str | None


def _one(relation: Relation, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    rows = frame_records(relation.query(sql, params))
    return rows[0] if rows else {}


def _int(value: Any) -> int:
    return int(value or 0)


def plural(n: int, word: str) -> str:
    """Return `1 row` / `2 rows`."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"[{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def count_rows(relation: Relation) -> int:
    """Return the number of rows."""
    return _int(
        _one(relation, f"SELECT COUNT(*) AS row_total FROM {relation.source}").get("row_total")
    )


def row_count(s: Scope, c: Check) -> Outcome:
    """The number of rows is within [min, max]."""
    n = count_rows(s.relation)
    ok = (c.min is None or n >= c.min) and (c.max is None or n <= c.max)
    verdict = "" if ok else f", expected {_bounds(c.min, c.max)}"
    return Outcome(c, ok, f"{n} rows{verdict}", observed=n)


def not_null(s: Scope, c: Check) -> Outcome:
    """None of the columns holds a null."""
    q = s.relation.dialect.quote
    counts = ", ".join(
        f"SUM(CASE WHEN {q(col)} IS NULL THEN 1 ELSE 0 END) AS {q(col)}" for col in c.columns
    )
    row = _one(s.relation, f"SELECT {counts} FROM {s.relation.source}")
    nulls = {col: _int(row.get(col)) for col in c.columns}
    bad = {col: n for col, n in nulls.items() if n}
    if not bad:
        return Outcome(c, True, "no nulls", observed=0)
    text = ", ".join(f"{col}: {n}" for col, n in bad.items())
    total = sum(bad.values())
    return Outcome(c, False, f"nulls in {text}", observed=total, failing_rows=total)


def unique(s: Scope, c: Check) -> Outcome:
    """No two rows share the key (all key columns equal; null counts as a value)."""
    q = s.relation.dialect.quote
    key = ", ".join(q(col) for col in c.columns)
    groups = (
        f"SELECT {key}, COUNT(*) AS _n FROM {s.relation.source} GROUP BY {key} HAVING COUNT(*) > 1"
    )
    row = _one(
        s.relation, f"SELECT COUNT(*) AS dup_keys, SUM(_n) AS dup_rows FROM ({groups}) AS _d"
    )
    keys = _int(row.get("dup_keys"))
    if not keys:
        return Outcome(c, True, "every key is unique", observed=0)
    sample_sql = f"{groups} ORDER BY _n DESC, {key} LIMIT {SAMPLE}"
    sample = frame_records(s.relation.query(sample_sql))
    shown = "; ".join(
        ", ".join(f"{col}={r[col]!r}" for col in c.columns) + f" x{r['_n']}" for r in sample
    )
    rows = _int(row.get("dup_rows"))
    return Outcome(
        c,
        False,
        f"{plural(keys, 'duplicate key')} in {plural(rows, 'row')}, e.g. {shown}",
        keys,
        rows,
        sample,
    )


def bad_values(s: Scope, c: Check, where: str, params: Mapping[str, Any], what: str) -> Outcome:
    """Count the rows (alias `_s`) matching `where`, `what` they are; show their most frequent
    values of `column`."""
    assert c.column is not None
    col = "_s." + s.relation.dialect.quote(c.column)
    sql = (
        f"SELECT {col} AS bad_value, COUNT(*) AS bad_n, SUM(COUNT(*)) OVER () AS bad_total "
        f"FROM {s.relation.source} AS _s WHERE {where} GROUP BY {col} "
        f"ORDER BY bad_n DESC LIMIT {SAMPLE}"
    )
    sample = frame_records(s.relation.query(sql, params))
    total = _int(sample[0]["bad_total"]) if sample else 0
    values = [r["bad_value"] for r in sample]
    if not total:
        return Outcome(c, True, "every value passes", observed=0)
    shown = ", ".join(f"{r['bad_value']!r} x{_int(r['bad_n'])}" for r in sample)
    message = f"{plural(total, 'row')} {what}, e.g. {shown}"
    return Outcome(c, False, message, total, total, values)


def accepted_values(s: Scope, c: Check) -> Outcome:
    """Every non-null value of the column is one of `values`."""
    assert c.column is not None
    col = "_s." + s.relation.dialect.quote(c.column)
    allowed = [v for v in c.values if v is not None]
    params = {f"v{i}": v for i, v in enumerate(allowed)}
    holes = ", ".join(f"@v{i}" for i in range(len(allowed)))
    where = f"{col} IS NOT NULL" + (f" AND {col} NOT IN ({holes})" if allowed else "")
    return bad_values(s, c, where, params, "with another value")


def value_range(s: Scope, c: Check) -> Outcome:
    """Every non-null value of the column is within [min, max]."""
    assert c.column is not None
    col = "_s." + s.relation.dialect.quote(c.column)
    tests, params = [], {}
    if c.min is not None:
        tests.append(f"{col} < @low")
        params["low"] = c.min
    if c.max is not None:
        tests.append(f"{col} > @high")
        params["high"] = c.max
    return bad_values(s, c, " OR ".join(tests), params, f"outside {_bounds(c.min, c.max)}")


def _as_utc(value: Any) -> datetime | None:
    """A column's newest value (timestamp, date or ISO text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def freshness(s: Scope, c: Check) -> Outcome:
    """The column's newest value is at most `max_age_hours` old (naive times count as UTC)."""
    assert c.column is not None and c.max_age_hours is not None
    col = s.relation.dialect.quote(c.column)
    sql = f"SELECT MAX({col}) AS latest_value FROM {s.relation.source}"
    raw = _one(s.relation, sql).get("latest_value")
    latest = _as_utc(raw)
    if latest is None:
        what = "no value" if raw is None else f"{raw!r}, not a date or time"
        return Outcome(c, False, f"newest value: {what}")
    age = (s.now - latest).total_seconds() / 3600
    ok = age <= c.max_age_hours
    limit = "" if ok else f", more than {c.max_age_hours:g} h"
    return Outcome(c, ok, f"newest {latest.isoformat()}, {age:.1f} h old{limit}", round(age, 3))


CheckFn = Callable[[Scope, Check], Outcome]
