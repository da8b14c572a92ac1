"""The few SQL forms DuckDB and BigQuery spell differently: dates, series, medians, literals.

Everything else the KPI compiler writes (joins, CASE, COALESCE, NULLIF, SUM, COUNT, window
sums) is the same text in both. Table names stay `<layer>.<name>`: the warehouse adapters
resolve them to the account's schema or dataset. References: DuckDB's SQL reference
(date_trunc, range, median) and BigQuery's GoogleSQL reference (DATE_TRUNC with ISOWEEK,
DATE_ADD, DATE_DIFF, GENERATE_ARRAY, PERCENTILE_CONT, which BigQuery only has as a window).
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

_UNITS = {"day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}


class Dialect:
    """Base: the forms both engines share; subclasses override what differs."""

    name: ClassVar[str] = ""
    median_is_aggregate: ClassVar[bool] = True

    def quote(self, ident: str) -> str:
        """Return a quoted identifier."""
        return f'"{ident}"'

    def string(self, value: str) -> str:
        """Return a string literal (standard SQL: a quote is doubled)."""
        return "'" + value.replace("'", "''") + "'"

    def date(self, day: date) -> str:
        """Return a DATE literal."""
        return f"DATE '{day.isoformat()}'"

    def as_date(self, expr: str) -> str:
        """Return `expr` (a DATE, DATETIME or TIMESTAMP column) as a DATE."""
        return f"CAST({expr} AS DATE)"

    def as_int(self, expr: str) -> str:
        """Return `expr` as a 64-bit integer."""
        return f"CAST({expr} AS BIGINT)"

    def as_float(self, expr: str) -> str:
        """Return `expr` as a double."""
        return f"CAST({expr} AS DOUBLE)"

    def trunc(self, expr: str, grain: str) -> str:
        """Return the first day (a DATE) of `expr`'s day/week/month/year (weeks: Monday)."""
        if grain == "day":
            return expr
        return f"CAST(date_trunc('{grain}', {expr}) AS DATE)"

    def add_days(self, expr: str, days: int | str) -> str:
        """Return the DATE `expr` moved by `days` (an int or an integer expression)."""
        return f"({expr} + CAST({days} AS INTEGER))"

    def add_months(self, expr: str, months: int) -> str:
        """Return the DATE `expr` moved by whole months."""
        return f"CAST({expr} + INTERVAL ({months}) MONTH AS DATE)"

    def days_between(self, start: str, end: str) -> str:
        """Return whole days from `start` to `end` (end − start)."""
        return f"date_diff('day', {start}, {end})"

    def int_range(self, count: str) -> str:
        """Return an array expression of the integers 0 .. count − 1."""
        return f"range(CAST({count} AS BIGINT))"

    def unnest(self, array: str, alias: str) -> str:
        """Return a FROM item that unnests `array` into column `alias`."""
        return f"UNNEST({array}) AS _{alias}({alias})"

    def median(self, expr: str) -> str:
        """Return the median aggregate (continuous: the mean of the two middle values)."""
        return f"median({expr})"

    def median_window(self, expr: str, partition: list[str]) -> str:
        """Return the median as a window over `partition` (for engines without the aggregate)."""
        return f"quantile_cont({expr}, 0.5) OVER (PARTITION BY {', '.join(partition)})"


class DuckDbDialect(Dialect):
    """DuckDB (the embedded warehouse)."""

    name: ClassVar[str] = "duckdb"


class BigQueryDialect(Dialect):
    """BigQuery GoogleSQL."""

    name: ClassVar[str] = "bigquery"
    median_is_aggregate: ClassVar[bool] = False

    def quote(self, ident: str) -> str:
        """Return a quoted identifier."""
        return f"`{ident}`"

    def string(self, value: str) -> str:
        """Return a string literal (GoogleSQL: backslash escapes)."""
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"

    def as_int(self, expr: str) -> str:
        """Return `expr` as INT64."""
        return f"CAST({expr} AS INT64)"

    def as_float(self, expr: str) -> str:
        """Return `expr` as FLOAT64."""
        return f"CAST({expr} AS FLOAT64)"

    def trunc(self, expr: str, grain: str) -> str:
        """Return the first day of `expr`'s period; ISOWEEK weeks start on Monday."""
        if grain == "day":
            return expr
        unit = "ISOWEEK" if grain == "week" else _UNITS[grain]
        return f"DATE_TRUNC({expr}, {unit})"

    def add_days(self, expr: str, days: int | str) -> str:
        """Return the DATE `expr` moved by `days`."""
        return f"DATE_ADD({expr}, INTERVAL {days} DAY)"

    def add_months(self, expr: str, months: int) -> str:
        """Return the DATE `expr` moved by whole months."""
        return f"DATE_ADD({expr}, INTERVAL {months} MONTH)"

    def days_between(self, start: str, end: str) -> str:
        """Return whole days from `start` to `end`."""
        return f"DATE_DIFF({end}, {start}, DAY)"

    def int_range(self, count: str) -> str:
        """Return an array of the integers 0 .. count − 1 (empty when count is 0)."""
        return f"GENERATE_ARRAY(0, {count} - 1)"

    def unnest(self, array: str, alias: str) -> str:
        """Return a FROM item that unnests `array` into column `alias`."""
        return f"UNNEST({array}) AS {alias}"

    def median(self, expr: str) -> str:
        """BigQuery has no exact median aggregate: the compiler uses `median_window`."""
        raise NotImplementedError("BigQuery computes the median as a window")

    def median_window(self, expr: str, partition: list[str]) -> str:
        """Return PERCENTILE_CONT(expr, 0.5) over `partition` (NULLs ignored)."""
        return f"PERCENTILE_CONT({expr}, 0.5) OVER (PARTITION BY {', '.join(partition)})"


DIALECTS: dict[str, Dialect] = {"duckdb": DuckDbDialect(), "bigquery": BigQueryDialect()}


def dialect(name: str) -> Dialect:
    """Return the dialect called `name` (duckdb or bigquery)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}: use {', '.join(DIALECTS)}") from None
