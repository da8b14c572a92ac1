"""Which erasure port serves a warehouse: DuckDB locally, BigQuery in production."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mhi.gdpr.guest import GdprError
from mhi.gdpr.tables import DuckDbGuestTables, GuestTables

if TYPE_CHECKING:
    from mhi.ports import Warehouse


def guest_tables(warehouse: Warehouse, accounts: Iterable[str] = ()) -> GuestTables:
    """Return the erasure port for a warehouse (by its dialect).

    Raises:
        GdprError: a warehouse of a dialect no erasure port knows.
    """
    if warehouse.dialect == "duckdb":
        return DuckDbGuestTables(warehouse, accounts)
    if warehouse.dialect == "bigquery":
        from mhi.gdpr.bigquery import BigQueryGuestTables  # Google's client: only when used

        client, project = getattr(warehouse, "client", None), getattr(warehouse, "project", None)
        if client is None or not isinstance(project, str):
            raise GdprError("the BigQuery warehouse has no client and project to erase with")
        return BigQueryGuestTables(client, project, accounts)
    raise GdprError(f"no erasure for a {warehouse.dialect!r} warehouse (duckdb, bigquery)")
