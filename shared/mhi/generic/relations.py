"""Where a generic step's rows come from: a warehouse table, or a step's output (records).

Both answer the same SQL, so a check or a transform is written once: a table is queried where it
lives (DuckDB locally, BigQuery in production: the rows never leave the warehouse); records, a
small list of JSON objects an upstream step returned, are loaded into an in-memory DuckDB and
queried there, in DuckDB's dialect. Results come back as rows of plain JSON values.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from mhi.analytics.sql_dialect import Dialect, dialect
from mhi.errors import PermanentError, StepExecutionError
from mhi.generic.common import COLUMN_RE
from mhi.generic.sql_text import to_dollar

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mhi.ports import Warehouse

RECORDS = "_records"  # the name records are queried by


class Relation(Protocol):
    """Rows a step reads: what to write after FROM, in which dialect, and how to query it."""

    dialect: Dialect
    label: str  # for messages: the table's name, or "records (12 rows)"
    source: str  # the FROM item

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a query over the rows (`@name` parameters bound); return its result."""
        ...


class TableRelation:
    """A table of the account's warehouse, queried in place."""

    def __init__(self, warehouse: Warehouse, account: str, table: str) -> None:
        self.warehouse, self.account, self.source = warehouse, account, table
        self.dialect = dialect(warehouse.dialect)
        self.label = table

    def require(self) -> TableRelation:
        """Return self once the table is known to exist (a clear error otherwise)."""
        if not self.warehouse.exists(self.account, self.source):
            raise StepExecutionError(
                f"table {self.source} does not exist in the {self.warehouse.dialect} warehouse "
                f"of account {self.account}"
            )
        return self

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run the query in the warehouse."""
        return self.warehouse.query(self.account, sql, params)


class RecordsRelation:
    """A small list of JSON objects in an in-memory DuckDB (one connection per relation)."""

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        label: str = "records",
        expected: Sequence[str] = (),
    ) -> None:
        """`expected`: the columns a step reads; no records still have them (all null)."""
        import duckdb

        self.records = records
        self.columns = _columns(records) or list(dict.fromkeys(expected))
        self.table = records_table(records, self.columns)
        self.dialect = dialect("duckdb")
        self.source = RECORDS
        self.label = f"{label} ({len(records)} rows)"
        self._con = duckdb.connect(":memory:")
        self._con.register(RECORDS, self.table)

    def close(self) -> None:
        """Close the in-memory database."""
        self._con.close()

    def __enter__(self) -> RecordsRelation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run the query in the in-memory DuckDB."""
        import duckdb

        try:
            relation = self._con.sql(to_dollar(sql), params=dict(params) if params else None)
        except duckdb.Error as e:
            raise PermanentError(f"query over {self.label}: {first_line(e)}") from e
        if relation is None:
            import pandas as pd

            return pd.DataFrame()
        return arrow_frame(relation.to_arrow_table())


def first_line(error: BaseException, limit: int = 500) -> str:
    """Return the first line of an error's text, cut to `limit` characters."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:limit]


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of every record, in order of first appearance, each a valid column name."""
    names: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise StepExecutionError(f"records[{i}] is {type(record).__name__}, not an object")
        names.update(dict.fromkeys(record))
    bad = [n for n in names if not isinstance(n, str) or not COLUMN_RE.match(n)]
    if bad:
        raise StepExecutionError(
            f"records have keys that are not column names: {', '.join(map(repr, bad[:5]))} "
            "(letters, digits and '_')"
        )
    return list(names)


def records_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Build an Arrow table of records (a missing key is null; types inferred per column)."""
    import pyarrow as pa

    if not columns:  # DuckDB cannot hold a table without columns: one that is never read
        return pa.table({"_no_columns": pa.array([], pa.int8())})
    if not records:  # null-typed columns compare and cast like any type
        return pa.table({name: pa.array([], pa.null()) for name in columns})
    data = {}
    for name in columns:
        try:
            data[name] = pa.array([r.get(name) for r in records])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise StepExecutionError(
                f"records: column {name!r} mixes value types ({first_line(e, 200)})"
            ) from e
    return pa.table(data)


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """Convert an Arrow result to pandas; integer columns keep their type when they hold nulls."""
    import pandas as pd
    import pyarrow as pa

    return table.to_pandas(
        types_mapper=lambda t: pd.Int64Dtype() if pa.types.is_integer(t) else None,
        date_as_object=False,
    )


def _scalar(value: Any) -> Any:
    """Numpy scalars and arrays as Python values; NaN and infinities as None."""
    import numpy as np

    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def json_value(value: Any) -> Any:
    """Turn one value of a result (numpy, pandas, Decimal, dates, NaN) into plain JSON."""
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return None
    value = _scalar(value)
    if value is None or isinstance(value, int | float | str | bool):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):  # pandas Timestamps are datetimes
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a result's rows as JSON objects (column order kept)."""
    columns = [str(c) for c in frame.columns]
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
