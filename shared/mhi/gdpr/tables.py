"""The erasure port over the warehouse: an account's tables that may hold guest rows, their
text columns, and select / delete by a condition. DuckDB here (through the Warehouse port),
BigQuery in `mhi.gdpr.bigquery`.

Layers `kpi` and `forecast` are left out: they hold aggregates, no row of them is one guest's.
Schemas are matched to the account by the `<account>_<layer>` rule; a schema that belongs to
another known account with a longer name (`hotel` vs `hotel_b`) is never the account's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mhi.adapters.local.duckdb_warehouse import dataset_name

if TYPE_CHECKING:
    import pandas as pd

    from mhi.ports import Warehouse

AGGREGATE_LAYERS = ("kpi", "forecast")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class TextTable:
    """A table (`<layer>.<name>`) and its text columns."""

    table: str
    columns: tuple[str, ...]


class GuestTables(Protocol):
    """Find and delete rows in an account's warehouse tables (the erasure port)."""

    dialect: str

    def text_tables(self, account: str) -> list[TextTable]:
        """Return the account's tables outside the aggregate layers, with their text columns."""
        ...

    def quote(self, column: str) -> str:
        """Return a column name quoted for this dialect."""
        ...

    def select(
        self, account: str, table: str, where: str, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        """Return the rows of `table` that meet `where` (`@name` parameters)."""
        ...

    def delete(self, account: str, table: str, where: str, params: Mapping[str, Any]) -> int:
        """Delete the rows of `table` that meet `where`; return how many went."""
        ...


def account_layers(schemas: Iterable[str], account: str, accounts: Iterable[str]) -> set[str]:
    """Return the layers of `account` among schema / dataset names, aggregates left out."""
    prefix = dataset_name(account, "")
    longer = [
        dataset_name(a, "")
        for a in accounts
        if a != account and len(dataset_name(a, "")) > len(prefix)
    ]
    layers = set()
    for schema in schemas:
        if not schema.startswith(prefix) or any(schema.startswith(p) for p in longer):
            continue
        layer = schema[len(prefix) :]
        if layer and _IDENT.match(layer) and layer not in AGGREGATE_LAYERS:
            layers.add(layer)
    return layers


def ordered(tables: Sequence[TextTable]) -> list[TextTable]:
    """Return tables in a stable order: layer then name."""
    return sorted(tables, key=lambda t: t.table)


class DuckDbGuestTables:
    """`GuestTables` on the DuckDB warehouse file, through the Warehouse port."""

    dialect = "duckdb"

    def __init__(self, warehouse: Warehouse, accounts: Iterable[str] = ()) -> None:
        self.warehouse = warehouse
        self.accounts = tuple(accounts)

    def text_tables(self, account: str) -> list[TextTable]:
        """Return the account's tables outside the aggregate layers, with their text columns."""
        prefix = dataset_name(account, "")
        frame = self.warehouse.query(
            account,
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns WHERE starts_with(table_schema, @prefix) "
            "ORDER BY table_schema, table_name, ordinal_position",
            {"prefix": prefix},
        )
        if frame.empty:
            return []
        layers = account_layers(set(frame["table_schema"]), account, self.accounts)
        columns: dict[str, list[str]] = {}
        for schema, table, column, kind in frame.itertuples(index=False, name=None):
            layer = schema[len(prefix) :]
            if layer in layers and _IDENT.match(table):
                names = columns.setdefault(f"{layer}.{table}", [])
                if str(kind).upper() == "VARCHAR":
                    names.append(column)
        return ordered([TextTable(t, tuple(c)) for t, c in columns.items()])

    def quote(self, column: str) -> str:
        """Return a column name quoted for DuckDB."""
        return '"' + column.replace('"', '""') + '"'

    def select(
        self, account: str, table: str, where: str, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        """Return the rows of `table` that meet `where`."""
        return self.warehouse.query(account, f"SELECT * FROM {table} WHERE {where}", params)

    def delete(self, account: str, table: str, where: str, params: Mapping[str, Any]) -> int:
        """Delete the rows of `table` that meet `where`; return how many went."""
        count = f"SELECT count(*) AS n FROM {table} WHERE {where}"
        found = int(self.warehouse.query(account, count, params)["n"].iloc[0])
        if found:
            self.warehouse.query(account, f"DELETE FROM {table} WHERE {where}", params)
        return found
