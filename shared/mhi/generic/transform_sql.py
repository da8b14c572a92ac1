"""Compiling an `ms-transform` config to one SQL statement, in the warehouse's dialect.

Expressions are the flow's own language (`mhi.model.expr`), parsed into its tree and written as
SQL here, never evaluated by Python's `eval`: `row.<column>` becomes a quoted column, every
literal and every value of `params`, `steps`, `run` or `item` becomes a bound parameter (`@p0`),
so no value is ever pasted into the text. Comparisons follow the flow's two-valued logic: `==`
is `IS NOT DISTINCT FROM` (null equals null), and an ordering with a null is false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mhi.analytics.sql_dialect import Dialect
from mhi.errors import StepExecutionError
from mhi.generic.transform_config import (
    ROW,
    ColumnSpec,
    TransformConfig,
    parse_aggregate,
    parse_expression,
)
from mhi.model import expr
from mhi.model.expr import Path, _Bool, _Cmp, _List, _Lit, _Not  # the parser's tree

_TYPES = {
    "duckdb": {
        "string": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    },
    "bigquery": {
        "string": "STRING",
        "int": "INT64",
        "float": "FLOAT64",
        "bool": "BOOL",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    },
}
_SAFE_CAST = {"duckdb": "TRY_CAST", "bigquery": "SAFE_CAST"}
_NORMALISE = {
    "trim": "TRIM({})",
    "lower": "LOWER({})",
    "upper": "UPPER({})",
    "empty_as_null": "NULLIF({}, '')",
}
_ORDERING = ("<", "<=", ">", ">=")


@dataclass
class Bound:
    """The parameters of a generated statement: each value gets a name `p<n>`."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        """Return the placeholder of a new parameter holding `value`."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"@{name}"


@dataclass
class ExpressionSql:
    """Writes expression trees as SQL over one row source."""

    dialect: Dialect
    bound: Bound
    context: Mapping[str, Any]  # params, steps, run, item: resolved and bound
    columns: Sequence[str] | None = None  # the source's columns, when known (records)

    def condition(self, node: Any) -> str:
        """Return SQL that is true or false (never null) for each row."""
        if isinstance(node, _Bool):
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.condition(o) for o in node.operands) + ")"
        if isinstance(node, _Not):
            return f"(NOT {self.condition(node.operand)})"
        if isinstance(node, _Cmp):
            return self._compare(node)
        if isinstance(node, Path) and node.parts[0] == ROW:
            return f"COALESCE({self._column(node)}, FALSE)"
        value = self._constant(node)
        if isinstance(value, bool) or value is None:
            return "TRUE" if value else "FALSE"
        raise expr.ExpressionError(
            f"{value!r} is not a condition: compare it (==, <, in, ...) or use true/false"
        )

    def value(self, node: Any) -> str:
        """Return SQL for a value (a column, a bound constant, or a condition's truth)."""
        if isinstance(node, _Bool | _Not | _Cmp):
            return self.condition(node)
        if isinstance(node, Path) and node.parts[0] == ROW:
            return self._column(node)
        return self._literal(self._constant(node))

    def _literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float | str):
            return self.bound.bind(value)
        raise expr.ExpressionError(
            f"{type(value).__name__} value {value!r} cannot be compared with a row's column"
        )

    def _constant(self, node: Any) -> Any:
        if isinstance(node, _Lit):
            return node.value
        if isinstance(node, Path):
            return expr.resolve(node, dict(self.context))
        if isinstance(node, _List):
            raise expr.ExpressionError("a list is only allowed on the right of in / not in")
        raise expr.ExpressionError("unsupported expression")

    def _column(self, path: Path) -> str:
        name = str(path.parts[1])
        if self.columns is not None and name not in self.columns:
            known = ", ".join(self.columns) or "none"
            raise expr.ExpressionError(f"{path}: no column {name!r} (columns: {known})")
        return self.dialect.quote(name)

    def _compare(self, node: _Cmp) -> str:
        if node.op in ("in", "not in"):
            found = self._contains(node.left, node.right)
            return found if node.op == "in" else f"(NOT {found})"
        left, right = self.value(node.left), self.value(node.right)
        if node.op == "==":
            return f"({left} IS NOT DISTINCT FROM {right})"
        if node.op == "!=":
            return f"({left} IS DISTINCT FROM {right})"
        if node.op in _ORDERING:
            return f"COALESCE({left} {node.op} {right}, FALSE)"
        raise expr.ExpressionError(f"unknown operator {node.op!r}")

    def _contains(self, needle: Any, haystack: Any) -> str:
        """`x in [..]` / `x in params.list` is membership; `x in row.text` is a substring."""
        left = self.value(needle)
        if isinstance(haystack, Path) and haystack.parts[0] == ROW:
            return f"COALESCE(STRPOS({self._column(haystack)}, {left}) > 0, FALSE)"
        if isinstance(haystack, _List):
            items = [self._constant(i) for i in haystack.items]
        else:
            value = self._constant(haystack)
            if isinstance(value, str):
                return f"COALESCE(STRPOS({self.bound.bind(value)}, {left}) > 0, FALSE)"
            if not isinstance(value, list):
                raise expr.ExpressionError(f"in needs a list or a text, not {value!r}")
            items = value
        return self._membership(left, items)

    def _membership(self, left: str, items: list[Any]) -> str:
        values = [self._literal(v) for v in items if v is not None]
        tests = [f"{left} IN ({', '.join(values)})"] if values else []
        if len(values) < len(items):
            tests.append(f"{left} IS NULL")
        if not tests:
            return "FALSE"
        return "COALESCE(" + " OR ".join(tests) + ", FALSE)"


def expression_sql(
    text: str, compiler: ExpressionSql, what: str, *, as_condition: bool = True
) -> str:
    """Compile one expression of the config; errors name the option and the expression."""
    try:
        node = parse_expression(text)
        return compiler.condition(node) if as_condition else compiler.value(node)
    except expr.ExpressionError as e:
        raise StepExecutionError(f"{what} {text!r}: {e}") from None


def cast_sql(value: str, kind: str, dialect: Dialect, lenient: bool) -> str:
    """Return `value` cast to one of the config's types (null on failure when lenient)."""
    function = _SAFE_CAST[dialect.name] if lenient else "CAST"
    return f"{function}({value} AS {_TYPES[dialect.name][kind]})"


def column_sql(name: str, spec: ColumnSpec, compiler: ExpressionSql, lenient: bool) -> str:
    """Return one select item: the mapped, normalised, cast and defaulted column."""
    d = compiler.dialect
    if spec.expr is not None:
        value = expression_sql(spec.expr, compiler, f"columns.{name}.expr")
    else:
        source = spec.from_ or name
        value = d.quote(source)
        if compiler.columns is not None and source not in compiler.columns:
            known = ", ".join(compiler.columns) or "none"
            raise StepExecutionError(
                f"columns.{name}: no source column {source!r} (columns: {known})"
            )
    for step in spec.normalise:
        value = _NORMALISE[step].format(value)
    if spec.cast is not None:
        value = cast_sql(value, spec.cast, d, lenient)
    if spec.default is not None:
        value = f"COALESCE({value}, {compiler.bound.bind(spec.default)})"
    return f"{value} AS {d.quote(name)}"


def aggregate_sql(name: str, text: str, dialect: Dialect) -> str:
    """Return one aggregate select item, e.g. `SUM("revenue") AS "revenue"`."""
    fn, column = parse_aggregate(text)
    if column == "*":
        return f"COUNT(*) AS {dialect.quote(name)}"
    arg = dialect.quote(column)
    call = f"COUNT(DISTINCT {arg})" if fn == "count_distinct" else f"{fn.upper()}({arg})"
    return f"{call} AS {dialect.quote(name)}"


def _mapped(config: TransformConfig, source: str, compiler: ExpressionSql) -> str:
    lenient = config.on_cast_error == "null"
    if config.columns is None:
        select = "*"
    else:
        select = ", ".join(column_sql(n, s, compiler, lenient) for n, s in config.columns.items())
    where = ""
    if config.filter is not None:
        where = f" WHERE {expression_sql(config.filter, compiler, 'filter')}"
    return f"SELECT {select} FROM {source} AS _s{where}"


def _finish(config: TransformConfig, dialect: Dialect, cap: int | None) -> str:
    parts = []
    if config.order_by:
        items = [
            dialect.quote(o[1:]) + " DESC" if o.startswith("-") else dialect.quote(o)
            for o in config.order_by
        ]
        parts.append("ORDER BY " + ", ".join(items))
    limits = [n for n in (config.limit, cap) if n is not None]
    if limits:
        parts.append(f"LIMIT {int(min(limits))}")
    return (" " + " ".join(parts)) if parts else ""


def transform_sql(
    config: TransformConfig, source: str, compiler: ExpressionSql, cap: int | None = None
) -> str:
    """Return the statement computing the transform's result from `source` (a FROM item),
    at most `cap` rows besides the config's own limit."""
    d = compiler.dialect
    mapped = _mapped(config, source, compiler)
    distinct = "DISTINCT " if config.distinct else ""
    if not (config.aggregates or config.group_by):
        if distinct:
            mapped = f"SELECT DISTINCT * FROM ({mapped}) AS _m"
        return mapped + _finish(config, d, cap)
    groups = [d.quote(g) for g in config.group_by]
    items = groups + [aggregate_sql(n, t, d) for n, t in config.aggregates.items()]
    group = f" GROUP BY {', '.join(groups)}" if groups else ""
    select = f"SELECT {distinct}{', '.join(items)} FROM ({mapped}) AS _m{group}"
    return select + _finish(config, d, cap)
