"""Config of `ms-data-quality`: declarative checks on a table or a step's output (light module).

```json
{"source": "kpi.monthly_revenue",
 "checks": [{"check": "row_count", "min": 1},
            {"check": "unique", "columns": ["hotel", "month"]},
            {"check": "not_null", "columns": ["hotel", "month", "revenue"]},
            {"check": "accepted_values", "column": "hotel",
             "values": ["City Hotel", "Resort Hotel"]},
            {"check": "range", "column": "revenue", "min": 0},
            {"check": "row_count_change", "max_decrease_pct": 10, "severity": "warn"}]}
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mhi.generic.common import GenericConfig, Scalar, check_column, check_columns, check_table

CheckType = Literal[
    "row_count",
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "freshness",
    "relationship",
    "row_count_change",
]
# Per check type: the options it needs (a tuple: any one of them) and the ones it may take.
_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "row_count": (("min", "max"),),
    "not_null": (("columns",),),
    "unique": (("columns",),),
    "accepted_values": (("column",), ("values",)),
    "range": (("column",), ("min", "max")),
    "freshness": (("column",), ("max_age_hours",)),
    "relationship": (("column",), ("to_table",)),
    "row_count_change": (("max_decrease_pct", "max_increase_pct"),),
}
_OPTIONS = (
    "column",
    "columns",
    "min",
    "max",
    "values",
    "max_age_hours",
    "to_table",
    "to_column",
    "max_decrease_pct",
    "max_increase_pct",
)
_MAY: dict[str, frozenset[str]] = {
    kind: frozenset(o for group in needs for o in group)
    | ({"to_column"} if kind == "relationship" else set())
    for kind, needs in _NEEDS.items()
}
DEFAULT_RESULTS_TABLE = "model.data_quality_results"


class Check(GenericConfig):
    """One check: what it tests, on which columns, with which bounds, and how much it matters."""

    check: CheckType = Field(
        description="row_count (min/max rows), not_null (columns), unique (columns: a key), "
        "accepted_values (column, values), range (column, min/max), freshness (column, "
        "max_age_hours), relationship (column, to_table, to_column), row_count_change "
        "(max_decrease_pct/max_increase_pct against the last run)"
    )
    name: str | None = Field(
        default=None,
        max_length=100,
        description="how results name it (default: check(columns), e.g. unique(hotel, month))",
    )
    severity: Literal["warn", "error"] = Field(
        default="error", description="error fails the step when the check fails; warn reports it"
    )
    column: str | None = Field(default=None, description="the column a one-column check tests")
    columns: list[str] = Field(
        default_factory=list, description="not_null: the columns; unique: the key's columns"
    )
    min: float | None = Field(default=None, description="row_count, range: the lowest allowed")
    max: float | None = Field(default=None, description="row_count, range: the highest allowed")
    values: list[Scalar] = Field(
        default_factory=list, description="accepted_values: every value allowed (nulls pass)"
    )
    max_age_hours: float | None = Field(
        default=None, gt=0, description="freshness: the newest value may be at most this old"
    )
    to_table: str | None = Field(
        default=None, description="relationship: the table every value must be found in"
    )
    to_column: str | None = Field(
        default=None, description="relationship: the column of to_table (default: column)"
    )
    max_decrease_pct: float | None = Field(
        default=None, ge=0, description="row_count_change: the largest drop allowed, in %"
    )
    max_increase_pct: float | None = Field(
        default=None, ge=0, description="row_count_change: the largest growth allowed, in %"
    )

    @field_validator("column", "to_column")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        return None if value is None else check_column(value)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        return check_columns(value)

    @field_validator("to_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        return None if value is None else check_table(value, "to_table")

    @model_validator(mode="after")
    def _options(self) -> Check:
        given = {o for o in _OPTIONS if getattr(self, o) not in (None, [])}
        for group in _NEEDS[self.check]:
            if not given & set(group):
                raise ValueError(f"check {self.check} needs {' or '.join(group)}")
        stray = sorted(given - _MAY[self.check])
        if stray:
            raise ValueError(f"check {self.check} does not take {', '.join(stray)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    def label(self) -> str:
        """The check's name in results: its own, or `check(columns)`."""
        if self.name:
            return self.name
        cols = self.columns or ([self.column] if self.column else [])
        return f"{self.check}({', '.join(cols)})" if cols else self.check


class QualityConfig(GenericConfig):
    """Run checks on a table or a step's rows; record the results in the warehouse and fail
    the step when a check of severity error fails."""

    source: str | None = Field(
        default=None, description="the table to check (<layer>.<name>), queried in the warehouse"
    )
    records: list[dict[str, Any]] | None = Field(
        default=None,
        description="instead of source: the rows of a step's output, by a template, e.g. "
        "{{ steps.monthly.output.records }}",
    )
    checks: list[Check] = Field(min_length=1, description="the checks, run in order")
    results_table: str | None = Field(
        default=DEFAULT_RESULTS_TABLE,
        description="the table every check's result is merged into (one row per run, step and "
        "check); null: none (row_count_change needs it: it reads the last run's count there)",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else check_table(value, "source")

    @field_validator("results_table")
    @classmethod
    def _results(cls, value: str | None) -> str | None:
        return None if value is None else check_table(value, "results_table")

    @model_validator(mode="after")
    def _consistent(self) -> QualityConfig:
        if (self.source is None) == (self.records is None):
            raise ValueError("set exactly one of source (a table) and records (a step's rows)")
        names = [c.label() for c in self.checks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"checks named {', '.join(dup)} more than once: give each a name")
        if self.results_table is None and any(c.check == "row_count_change" for c in self.checks):
            raise ValueError("row_count_change reads the last run's count in results_table: set it")
        return self
