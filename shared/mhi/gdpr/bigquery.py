"""The erasure port on BigQuery: datasets `<account>_<layer>` of one project, listed with the
client; rows found with a parameterised query and deleted with one DML statement per table
(its affected-row count is what the report says)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mhi.adapters.gcp.bigquery_warehouse import _param, translated
from mhi.adapters.local.duckdb_warehouse import dataset_name
from mhi.gdpr.tables import TextTable, account_layers, ordered

if TYPE_CHECKING:
    import pandas as pd
    from google.cloud import bigquery

_TEXT_TYPES = ("STRING",)


class BigQueryGuestTables:
    """`GuestTables` on the BigQuery datasets of one project."""

    dialect = "bigquery"

    def __init__(self, client: bigquery.Client, project: str, accounts: Iterable[str] = ()) -> None:
        self.client = client
        self.project = project
        self.accounts = tuple(accounts)

    def text_tables(self, account: str) -> list[TextTable]:
        """Return the account's tables outside the aggregate layers, with their text columns."""
        with translated(f"list datasets of {self.project}"):
            datasets = [d.dataset_id for d in self.client.list_datasets(self.project)]
        layers = account_layers(datasets, account, self.accounts)
        found = []
        for layer in sorted(layers):
            dataset = f"{self.project}.{dataset_name(account, layer)}"
            with translated(f"list tables of {dataset}"):
                names = [t.table_id for t in self.client.list_tables(dataset)]
            for name in names:
                with translated(f"get {dataset}.{name}"):
                    schema = self.client.get_table(f"{dataset}.{name}").schema
                text = tuple(f.name for f in schema if f.field_type in _TEXT_TYPES)
                found.append(TextTable(f"{layer}.{name}", text))
        return ordered(found)

    def quote(self, column: str) -> str:
        """Return a column name quoted for BigQuery."""
        return "`" + column.replace("`", "\\`") + "`"

    def _target(self, account: str, table: str) -> str:
        layer, _, name = table.partition(".")
        return f"`{self.project}.{dataset_name(account, layer)}.{name}`"

    def _config(self, params: Mapping[str, Any]) -> bigquery.QueryJobConfig:
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(query_parameters=[_param(k, v) for k, v in params.items()])

    def select(
        self, account: str, table: str, where: str, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        """Return the rows of `table` that meet `where`."""
        sql = f"SELECT * FROM {self._target(account, table)} WHERE {where}"
        with translated(f"select from {table}"):
            return self.client.query(sql, job_config=self._config(params)).result().to_dataframe()

    def delete(self, account: str, table: str, where: str, params: Mapping[str, Any]) -> int:
        """Delete the rows of `table` that meet `where` (one DML job); return how many went."""
        sql = f"DELETE FROM {self._target(account, table)} WHERE {where}"
        with translated(f"delete from {table}"):
            job = self.client.query(sql, job_config=self._config(params))
            job.result()
        return int(job.num_dml_affected_rows or 0)
