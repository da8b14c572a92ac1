"""Warehouse on BigQuery: one dataset per account and layer (`<account>_<layer>`, '-' -> '_').

Writes are load jobs from DataFrames (pyarrow), or query jobs with a destination table for
`materialize` (the rows stay in BigQuery); `merge` fills a staging table, adds the columns the
target lacks, then runs one DELETE + INSERT script in a transaction. Queries take `@name`
parameters; `layer.table` names resolve to the account's datasets. google.api_core errors
become the product's errors here.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mhi.adapters.gcp.api_errors import TRANSIENT_API_ERRORS
from mhi.adapters.gcp.clients import project_id
from mhi.adapters.local.duckdb_warehouse import (
    LAYERS,
    _check_frame,
    _check_mode,
    dataset_name,
    qualify_sql,
    split_table,
)
from mhi.config import Settings
from mhi.errors import AuthError, PermanentError, UpstreamUnavailableError

if TYPE_CHECKING:
    import pandas as pd
    from google.cloud import bigquery

    from mhi.ports import WriteMode

logger = logging.getLogger(__name__)

STAGING_TTL_HOURS = 1
# Column types of a staging table's schema (legacy names) as DDL spells them.
_DDL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


@contextmanager
def translated(op: str) -> Iterator[None]:
    """Turn google.api_core exceptions into OrchestratorErrors (retryable when transient)."""
    try:
        yield
    except (gexc.Unauthorized, gexc.Forbidden) as e:
        raise AuthError(f"BigQuery {op}: access denied ({_short(e)})") from e
    except gexc.NotFound as e:
        raise PermanentError(f"BigQuery {op}: not found ({_short(e)})") from e
    except TRANSIENT_API_ERRORS as e:
        raise UpstreamUnavailableError(f"BigQuery {op}: unavailable ({_short(e)})") from e
    except gexc.GoogleAPICallError as e:
        raise PermanentError(f"BigQuery {op}: {_short(e)}") from e


def _short(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return str(text).splitlines()[0][:300]


def _param(name: str, value: Any) -> Any:
    from google.cloud import bigquery

    kinds = [(bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (datetime, "TIMESTAMP")]
    kinds += [(date, "DATE"), (str, "STRING")]
    if isinstance(value, list | tuple):
        first = value[0] if value else ""
        kind = next((k for t, k in kinds if isinstance(first, t)), "STRING")
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    kind = next((k for t, k in kinds if isinstance(value, t)), None)
    if kind is None:
        raise PermanentError(f"query parameter @{name}: unsupported type {type(value).__name__}")
    return bigquery.ScalarQueryParameter(name, kind, value)


class BigQueryWarehouse:
    """`Warehouse` on BigQuery datasets `<account>_<layer>` of one project."""

    dialect = "bigquery"

    def __init__(self, client: bigquery.Client, project: str, location: str | None = None) -> None:
        self.client = client
        self.project = project
        self.location = location
        self._datasets: set[str] = set()
        self._layers: set[str] = set()
        self._lock = threading.Lock()

    def session(self) -> AbstractContextManager[None]:
        """The client and its connections are shared already: nothing to hold."""
        return nullcontext()

    def table_id(self, account: str, table: str) -> str:
        """Return `project.dataset.table` for an account's `<layer>.<name>`."""
        layer, name = split_table(table)
        # Layers beyond the standard four (a modeling step's target_schema, e.g. the seed's
        # `analytics`) become resolvable in queries once a table of theirs has been named.
        self._layers.add(layer.lower())
        return f"{self.project}.{dataset_name(account, layer)}.{name}"

    def _ensure_dataset(self, account: str, layer: str) -> None:
        from google.cloud import bigquery

        ds = f"{self.project}.{dataset_name(account, layer)}"
        with self._lock:
            if ds in self._datasets:
                return
        dataset = bigquery.Dataset(ds)
        if self.location:
            dataset.location = self.location
        with translated(f"create dataset {ds}"):
            self.client.create_dataset(dataset, exists_ok=True)
        with self._lock:
            self._datasets.add(ds)

    def write(
        self,
        account: str,
        table: str,
        frame: pd.DataFrame,
        *,
        mode: WriteMode = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Load `frame` into `table` (replace, append, or merge on `keys`); return its rows."""
        from google.cloud import bigquery

        _check_frame(table, frame, mode, keys)
        layer, _ = split_table(table)
        self._ensure_dataset(account, layer)
        target = self.table_id(account, table)
        if mode == "merge" and self.exists(account, table):
            self._merge(target, frame, keys)
        else:
            disposition = "WRITE_APPEND" if mode != "replace" else "WRITE_TRUNCATE"
            config = bigquery.LoadJobConfig(
                write_disposition=disposition,
                schema_update_options=(
                    [bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION]
                    if disposition == "WRITE_APPEND"
                    else None
                ),
            )
            self._load(target, frame, config)
        logger.info("bigquery %s %s: %d rows", target, mode, len(frame))
        return len(frame)

    def _load(self, target: str, frame: pd.DataFrame, config: bigquery.LoadJobConfig) -> None:
        with translated(f"load {target}"):
            job = self.client.load_table_from_dataframe(frame, target, job_config=config)
            job.result()

    def _merge(self, target: str, frame: pd.DataFrame, keys: Sequence[str]) -> None:
        from google.cloud import bigquery

        stage = _stage_name(target)
        self._load(stage, frame, bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE"))
        self._merge_stage(target, stage, list(frame.columns), keys)

    def _merge_stage(
        self, target: str, stage: str, columns: Sequence[str], keys: Sequence[str]
    ) -> None:
        """Delete the target's rows whose keys the stage holds, insert the stage, drop it."""
        try:
            cols = ", ".join(f"`{c}`" for c in columns)
            match = " AND ".join(f"s.`{k}` IS NOT DISTINCT FROM t.`{k}`" for k in keys)
            script = (
                "BEGIN TRANSACTION;\n"
                f"DELETE FROM `{target}` AS t WHERE EXISTS "
                f"(SELECT 1 FROM `{stage}` AS s WHERE {match});\n"
                f"INSERT INTO `{target}` ({cols}) SELECT {cols} FROM `{stage}`;\n"
                "COMMIT TRANSACTION;"
            )
            with translated(f"merge into {target}"):
                self.client.query(script).result()
        finally:
            with translated(f"drop {stage}"):
                self.client.delete_table(stage, not_found_ok=True)

    def read(self, account: str, table: str) -> pd.DataFrame:
        """Return the whole table."""
        target = self.table_id(account, table)
        with translated(f"read {target}"):
            return self.client.list_rows(target).to_dataframe()

    def query(
        self, account: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run a query with `@name` parameters; `layer.table` names resolve to the account's."""
        from google.cloud import bigquery

        text = self._qualify(account, sql)
        config = bigquery.QueryJobConfig(
            query_parameters=[_param(k, v) for k, v in (params or {}).items()]
        )
        with translated("query"):
            return self.client.query(text, job_config=config).result().to_dataframe()

    def materialize(
        self,
        account: str,
        table: str,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        mode: WriteMode = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Write a query's result to `table` with a query job (the rows stay in BigQuery);
        modes as for `write`. Return the rows written."""
        _check_mode(table, mode, keys)
        layer, _ = split_table(table)
        self._ensure_dataset(account, layer)
        target = self.table_id(account, table)
        text = self._qualify(account, sql)
        if mode == "merge" and self.exists(account, table):
            stage = _stage_name(target)
            rows = self._query_into(stage, text, params, "WRITE_TRUNCATE")
            with translated(f"get {stage}"):
                fields = self.client.get_table(stage).schema
            self._add_columns(target, fields)
            self._merge_stage(target, stage, [f.name for f in fields], keys)
        else:
            disposition = "WRITE_APPEND" if mode != "replace" else "WRITE_TRUNCATE"
            rows = self._query_into(target, text, params, disposition)
        logger.info("bigquery %s %s from a query: %d rows", target, mode, rows)
        return rows

    def _query_into(
        self, target: str, sql: str, params: Mapping[str, Any] | None, disposition: str
    ) -> int:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            destination=target,
            write_disposition=disposition,
            query_parameters=[_param(k, v) for k, v in (params or {}).items()],
            schema_update_options=(
                [bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION]
                if disposition == "WRITE_APPEND"
                else None
            ),
        )
        with translated(f"query into {target}"):
            return int(self.client.query(sql, job_config=config).result().total_rows or 0)

    def _add_columns(self, target: str, fields: Sequence[bigquery.SchemaField]) -> None:
        """Add to `target` the stage's columns it lacks (DDL cannot run inside the merge's
        transaction)."""
        with translated(f"get {target}"):
            have = {f.name for f in self.client.get_table(target).schema}
        new = [f for f in fields if f.name not in have]
        if not new:
            return
        adds = ", ".join(
            f"ADD COLUMN IF NOT EXISTS `{f.name}` {_DDL_TYPES.get(f.field_type, f.field_type)}"
            for f in new
        )
        with translated(f"alter {target}"):
            self.client.query(f"ALTER TABLE `{target}` {adds}").result()

    def _qualify(self, account: str, sql: str) -> str:
        return qualify_sql(
            sql,
            sorted(set(LAYERS) | self._layers),
            lambda layer, name: f"`{self.project}.{dataset_name(account, layer)}.{name}`",
        )

    def dry_run(self, account: str, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Validate a query without running it; return the bytes it would process (what
        on-demand pricing bills). Errors in the SQL raise as they would when it runs."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            dry_run=True,
            use_query_cache=False,
            query_parameters=[_param(k, v) for k, v in (params or {}).items()],
        )
        with translated("dry run"):
            job = self.client.query(self._qualify(account, sql), job_config=config)
        return int(job.total_bytes_processed or 0)

    def exists(self, account: str, table: str) -> bool:
        """Return whether the table exists."""
        target = self.table_id(account, table)
        with translated(f"get {target}"):
            try:
                self.client.get_table(target)
            except gexc.NotFound:
                return False
        return True


def _stage_name(target: str) -> str:
    return f"{target}__stage_{uuid.uuid4().hex[:12]}"


def from_settings(settings: Settings) -> BigQueryWarehouse:
    """Build the warehouse on the project of `_M_PROJECT_ID` (location: MHI_BQ_LOCATION)."""
    from google.cloud import bigquery

    project = project_id(settings)
    return BigQueryWarehouse(
        bigquery.Client(project=project), project, settings.extra.get("MHI_BQ_LOCATION")
    )
