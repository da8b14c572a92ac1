"""What the generic steps' configs share: names of tables and columns, JSON scalars, the base
model. Light: imported by the config models the controller and `mhi validate` load."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

# `<layer>.<name>`: the warehouse resolves it to the account's schema (DuckDB) or dataset
# (BigQuery). Columns are plain identifiers, so every generated statement can quote them.
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\.[A-Za-z_][A-Za-z0-9_]{0,127}$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
WRITE_MODES = ("replace", "append", "merge")
MAX_RESULT_ROWS = 10_000

Scalar = str | int | float | bool | None


class GenericConfig(BaseModel):
    """Base of the generic steps' configs: unknown keys are errors (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid")


def check_table(value: str, what: str = "table") -> str:
    """Return a `<layer>.<name>` table name, or raise ValueError saying what is wrong."""
    if not TABLE_RE.match(value):
        raise ValueError(
            f"{what} {value!r} must be '<layer>.<name>' (letters, digits and '_'), "
            "e.g. kpi.monthly_revenue"
        )
    return value


def check_column(value: str, what: str = "column") -> str:
    """Return a column name, or raise ValueError saying what is wrong."""
    if not COLUMN_RE.match(value):
        raise ValueError(
            f"{what} {value!r} must be letters, digits and '_', not starting with a digit"
        )
    return value


def check_columns(values: list[str], what: str = "columns") -> list[str]:
    """Check every column name of a list and refuse duplicates."""
    for v in values:
        check_column(v, what)
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise ValueError(f"{what} lists {', '.join(dup)} more than once")
    return values


def check_write(table: str | None, mode: str, keys: list[str]) -> None:
    """Check a destination: merge needs keys, keys need merge, both need a table."""
    if table is None:
        if mode != "replace" or keys:
            raise ValueError("mode and keys apply to a destination: set table")
        return
    if mode == "merge" and not keys:
        raise ValueError("mode merge needs keys (the columns that identify a row)")
    if keys and mode != "merge":
        raise ValueError(f"keys apply to mode merge only (mode is {mode})")


def one_source(table: str | None, records: Any, what: str = "source") -> None:
    """Exactly one of a table and records must be given."""
    if (table is None) == (records is None):
        raise ValueError(f"set exactly one of {what} (a table) and records (a step's rows)")
