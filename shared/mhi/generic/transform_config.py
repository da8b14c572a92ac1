"""Config of `ms-transform`: a declarative map / filter / aggregate / normalise (light module).

```json
{"source": "kpi.monthly_revenue", "filter": "row.revenue > 0",
 "columns": {"hotel_name": "hotel", "period": {"from": "month"},
             "revenue_eur": {"from": "revenue", "cast": "float"},
             "is_resort": {"expr": "row.hotel == 'Resort Hotel'"}},
 "group_by": ["hotel_name"], "aggregates": {"revenue_eur": "sum(revenue_eur)"}}
```
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mhi.generic.common import (
    MAX_RESULT_ROWS,
    GenericConfig,
    Scalar,
    check_column,
    check_columns,
    check_table,
    check_write,
    one_source,
)
from mhi.model import expr

# The names a transform expression may start with: the row, plus the flow's own.
ROW = "row"
ROOTS = (ROW, *expr.ROOTS)
Cast = Literal["string", "int", "float", "bool", "date", "timestamp"]
Normalise = Literal["trim", "lower", "upper", "empty_as_null"]
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")
_AGGREGATE_RE = re.compile(r"^\s*(" + "|".join(AGGREGATES) + r")\s*\(\s*(\*|[A-Za-z_]\w*)\s*\)\s*$")


def parse_expression(text: str) -> Any:
    """Parse a transform expression (paths start with row, params, steps, item or run)."""
    node = expr.parse(text, ROOTS)
    for path in expr.references(node):
        if path.parts[0] == ROW and (len(path.parts) != 2 or not isinstance(path.parts[1], str)):
            raise expr.ExpressionError(f"{path}: a row reference is row.<column>")
    return node


def parse_aggregate(text: str) -> tuple[str, str]:
    """Split `sum(revenue)` into (function, column); `count(*)` counts rows."""
    m = _AGGREGATE_RE.match(text)
    if not m:
        raise ValueError(
            f"aggregate {text!r} must be <function>(<column>) with a function of "
            f"{', '.join(AGGREGATES)}, e.g. sum(revenue) or count(*)"
        )
    fn, column = m.group(1), m.group(2)
    if column == "*" and fn != "count":
        raise ValueError(f"aggregate {text!r}: only count takes *")
    return fn, column


def _expression(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        parse_expression(value)
    except expr.ExpressionError as e:
        raise ValueError(f"{what} {value!r}: {e}") from None
    return value


class ColumnSpec(GenericConfig):
    """One output column: a source column (renamed, normalised, cast) or a computed condition."""

    from_: str | None = Field(
        default=None,
        alias="from",
        description="the source column (default: the output column's own name)",
    )
    expr: str | None = Field(
        default=None,
        description="instead of from: a condition in the flow's expression language, true or "
        "false per row (row.<column>, params, steps, run; ==, <, in, and, or, not)",
    )
    normalise: list[Normalise] = Field(
        default_factory=list,
        description="text clean-ups applied in order before the cast: trim, lower, upper, "
        "empty_as_null",
    )
    cast: Cast | None = Field(default=None, description="convert the value to this type")
    default: Scalar = Field(default=None, description="the value for nulls (after the cast)")

    _check_expr = field_validator("expr")(lambda v: _expression(v, "expr"))

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return None if value is None else check_column(value, "from")

    @model_validator(mode="after")
    def _one_input(self) -> ColumnSpec:
        if self.expr is not None and self.from_ is not None:
            raise ValueError("set from or expr, not both")
        return self


def _column_spec(value: Any) -> Any:
    """Accept `"period": "month"` as a shorthand for `{"from": "month"}`."""
    return {"from": value} if isinstance(value, str) else value


class TransformConfig(GenericConfig):
    """Filter, map, normalise and aggregate the rows of a table or of a step's output; write
    the result to a table or return it as the step's output."""

    source: str | None = Field(
        default=None, description="the table to read (<layer>.<name>), queried in the warehouse"
    )
    records: list[dict[str, Any]] | None = Field(
        default=None,
        description="instead of source: rows given inline or by a template of an upstream "
        "output, e.g. {{ steps.monthly.output.records }}",
    )
    filter: str | None = Field(
        default=None,
        description="keep the rows for which this condition holds, e.g. row.is_canceled == 0 "
        "and row.hotel in params.hotels (comparisons with a null are false)",
    )
    columns: dict[str, ColumnSpec] | None = Field(
        default=None,
        description="output columns in order, by name: a source column name, or an object "
        "(from, expr, normalise, cast, default); absent: every source column as is",
    )
    on_cast_error: Literal["fail", "null"] = Field(
        default="fail",
        description="a value that does not convert: fail the step, or make it null",
    )
    group_by: list[str] = Field(
        default_factory=list, description="aggregate: the output columns to group by"
    )
    aggregates: dict[str, str] = Field(
        default_factory=dict,
        description="aggregate: output name -> function(column) over the output columns, of "
        f"{', '.join(AGGREGATES)} (count(*) counts rows)",
    )
    distinct: bool = Field(default=False, description="drop duplicate result rows")
    order_by: list[str] = Field(
        default_factory=list, description="result columns to sort by; '-name' sorts descending"
    )
    limit: int | None = Field(default=None, ge=1, description="keep at most this many rows")
    table: str | None = Field(
        default=None,
        description="write the result to this table (<layer>.<name>); absent: return it as "
        "output (records)",
    )
    mode: Literal["replace", "append", "merge"] = Field(
        default="replace", description="how the result is written to table (as ms-sql)"
    )
    keys: list[str] = Field(default_factory=list, description="merge: the columns of a row's key")
    max_rows: int = Field(
        default=1000,
        ge=1,
        le=MAX_RESULT_ROWS,
        description="without table: the most rows the output may hold (more is an error)",
    )

    _check_filter = field_validator("filter")(lambda v: _expression(v, "filter"))

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _column_spec(v) for k, v in value.items()}
        return value

    @field_validator("source", "table")
    @classmethod
    def _tables(cls, value: str | None) -> str | None:
        return None if value is None else check_table(value)

    @field_validator("group_by", "keys")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return check_columns(value)

    @field_validator("aggregates")
    @classmethod
    def _aggregates(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            check_column(name, "aggregate name")
            parse_aggregate(text)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TransformConfig:
        one_source(self.source, self.records)
        check_write(self.table, self.mode, self.keys)
        if self.columns is not None:
            for name in self.columns:
                check_column(name, "column")
        _check_grouping(self)
        _check_order(self)
        return self

    def output_columns(self) -> list[str] | None:
        """The result's columns when the config names them all (None: the source's)."""
        if self.aggregates or self.group_by:
            return [*self.group_by, *self.aggregates]
        return None if self.columns is None else list(self.columns)


def _check_grouping(config: TransformConfig) -> None:
    if config.group_by and not config.aggregates:
        raise ValueError("group_by needs aggregates (or use distinct for unique rows)")
    clash = sorted(set(config.group_by) & set(config.aggregates))
    if clash:
        raise ValueError(f"{', '.join(clash)} is both a group_by column and an aggregate")
    if config.columns is None:
        return
    known = set(config.columns)
    unknown = [c for c in config.group_by if c not in known]
    unknown += [
        col
        for text in config.aggregates.values()
        if (col := parse_aggregate(text)[1]) != "*" and col not in known
    ]
    if unknown:
        raise ValueError(
            f"{', '.join(dict.fromkeys(unknown))} not among the output columns "
            f"({', '.join(known)}): group and aggregate the columns you map"
        )


def _check_order(config: TransformConfig) -> None:
    names = config.output_columns()
    for item in config.order_by:
        name = check_column(item.removeprefix("-"), "order_by column")
        if names is not None and name not in names:
            raise ValueError(f"order_by {name!r} is not a result column ({', '.join(names)})")
