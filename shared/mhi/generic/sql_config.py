"""Config of `ms-sql`: one parameterised statement run in the warehouse (light module).

```json
{"sql_file": "monthly_revenue.sql", "params": {"from_year": 2016},
 "table": "kpi.monthly_revenue", "mode": "merge", "keys": ["hotel", "month"]}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mhi.generic.common import (
    MAX_RESULT_ROWS,
    GenericConfig,
    Scalar,
    check_columns,
    check_table,
    check_write,
)
from mhi.generic.sql_files import check_name
from mhi.generic.sql_text import SqlTextError, parameters, strip_statement

ParamValue = Scalar | list[Scalar]


class SqlConfig(GenericConfig):
    """Run one SQL statement in the account's warehouse; write its result to a table or return
    it as the step's output."""

    sql: str | None = Field(
        default=None,
        description="the statement, in the warehouse's SQL (DuckDB locally, BigQuery in "
        "production); tables are named <layer>.<name> (raw.hotel_bookings), values are @name "
        "parameters bound from params (a {{ }} template here would be pasted into the text: "
        "put templates in params)",
    )
    sql_file: str | None = Field(
        default=None,
        description="instead of sql: a file under flows/sql/ (e.g. monthly_revenue.sql); "
        "production reads it from the flows bucket's sql/ folder",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="values of the statement's @name parameters (templates allowed: "
        "{{ params.day }}); a list binds an array (x IN UNNEST(@list) on BigQuery); dates are "
        "strings: write CAST(@day AS DATE)",
    )
    table: str | None = Field(
        default=None,
        description="write the query's result to this table (<layer>.<name>) inside the "
        "warehouse; absent: return the result rows as output",
    )
    mode: Literal["replace", "append", "merge"] = Field(
        default="replace",
        description="how the result is written to table: replace it, append to it, or merge "
        "(rows whose keys match are replaced)",
    )
    keys: list[str] = Field(
        default_factory=list, description="merge: the columns that identify a row"
    )
    max_rows: int = Field(
        default=100,
        ge=1,
        le=MAX_RESULT_ROWS,
        description="without table: the most rows the output may hold (more is an error: "
        "write large results to a table)",
    )

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        return None if value is None else check_table(value)

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        return check_columns(value, "keys")

    @field_validator("sql_file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return strip_statement(value)
        except SqlTextError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _consistent(self) -> SqlConfig:
        if (self.sql is None) == (self.sql_file is None):
            raise ValueError("set exactly one of sql and sql_file")
        check_write(self.table, self.mode, self.keys)
        if self.sql is not None:
            check_params(self.sql, self.params)
        return self


def check_params(sql: str, params: dict[str, ParamValue]) -> None:
    """Every @parameter of the statement has a value and every value is used."""
    used = parameters(sql)
    missing = [p for p in used if p not in params]
    unused = [p for p in params if p not in used]
    if missing:
        raise ValueError(f"the statement uses @{', @'.join(missing)}: give them in params")
    if unused:
        raise ValueError(f"params {', '.join(unused)} are not used by the statement (no @name)")
