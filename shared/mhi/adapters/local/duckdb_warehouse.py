"""Warehouse on one DuckDB file (the embedded default): one schema per account and layer.

Table `model.reservations` of account `hotel-fergus` is `hotel_fergus_model.reservations`, the
same `<account>_<layer>` naming the BigQuery adapter uses for datasets. A connection is opened
per operation and closed at once, under a process-wide lock: several threads share the file,
and another process (a CLI command after a flow run) can open it as soon as we are done.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mhi.config import Settings
from mhi.constants import SAFE_ID_RE
from mhi.errors import PermanentError, RetryableError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from mhi.ports import WriteMode

logger = logging.getLogger(__name__)

T = TypeVar("T")

LAYERS = ("raw", "model", "kpi", "forecast")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# `@name` outside string literals, quoted names and comments (`'a@b.com'` stays as written).
_PARAM_RE = re.compile(
    r"('(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|--[^\n]*)|(?<![@\w])@([A-Za-z_][A-Za-z0-9_]*)"
)
# `layer.table` outside string literals and quoted identifiers.
_REF_RE = re.compile(r"('(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`)|\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b")
LOCK_WAIT_SECONDS = 10.0


def split_table(table: str) -> tuple[str, str]:
    """Split `<layer>.<name>` into its parts, rejecting anything that is not two identifiers."""
    layer, sep, name = table.partition(".")
    if not sep or not _NAME_RE.match(layer) or not _NAME_RE.match(name):
        raise PermanentError(
            f"invalid table name {table!r}: expected '<layer>.<name>' with letters, digits and "
            f"'_' (layers: {', '.join(LAYERS)})"
        )
    return layer, name


def dataset_name(account: str, layer: str) -> str:
    """Return the schema / dataset of an account's layer: `<account>_<layer>`, '-' -> '_'."""
    if not SAFE_ID_RE.match(account):
        raise PermanentError(f"invalid account name {account!r}")
    return f"{account}_{layer}".replace("-", "_").lower()


def qualify_sql(sql: str, layers: Sequence[str], qualify: Callable[[str, str], str]) -> str:
    """Rewrite `layer.table` references (outside quotes) with `qualify(layer, table)`."""
    known = {layer.lower() for layer in layers}

    def _sub(m: re.Match[str]) -> str:
        if m.group(1) is not None or m.group(2).lower() not in known:
            return m.group(0)
        return qualify(m.group(2).lower(), m.group(3))

    return _REF_RE.sub(_sub, sql)


class DuckDbWarehouse:
    """`Warehouse` on a DuckDB file; `merge` deletes rows whose keys are in the frame, then
    inserts the frame (in one transaction); columns new to a table are added."""

    dialect = "duckdb"

    def __init__(
        self,
        path: str | Path,
        *,
        lock_wait: float = LOCK_WAIT_SECONDS,
        memory_limit: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._held: duckdb.DuckDBPyConnection | None = None  # inside `session`
        self._lock_wait = lock_wait
        # DuckDB spills to disk beyond this ("512MB"); None: its default, 80 % of the RAM.
        self._config = {"memory_limit": memory_limit} if memory_limit else {}

    @contextmanager
    def session(self) -> Iterator[None]:
        """Hold the file open for the operations inside (each runs on a cursor of it): opening
        the file costs about as much as a small query. Other threads and processes wait until
        the end, so keep a session to a few queries."""
        with self._lock, self._connect() as con:
            if self._held is not None:  # nested: the outer session's connection
                yield
                return
            self._held = con
            try:
                yield
            finally:
                self._held = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        import duckdb

        with self._lock:
            if self._held is not None:  # this thread's session (the lock is reentrant)
                cursor = self._held.cursor()  # the open database, a fresh connection state
                try:
                    yield cursor
                finally:
                    cursor.close()
                return
            deadline = time.monotonic() + self._lock_wait
            while True:
                try:
                    con = duckdb.connect(str(self.path), config=self._config)
                    break
                except duckdb.IOException as e:  # another process holds the file
                    if time.monotonic() > deadline:
                        raise RetryableError(f"warehouse {self.path} is busy: {e}") from e
                    time.sleep(0.05)
            try:
                yield con
            finally:
                con.close()

    def _run(self, what: str, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        import duckdb

        with self._connect() as con:
            try:
                return fn(con)
            except duckdb.Error as e:
                first = str(e).splitlines()[0][:500]
                raise PermanentError(f"{what}: {first}") from e

    def _ident(self, account: str, table: str) -> str:
        layer, name = split_table(table)
        return f'"{dataset_name(account, layer)}"."{name}"'

    def write(
        self,
        account: str,
        table: str,
        frame: pd.DataFrame,
        *,
        mode: WriteMode = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Write `frame` to `table` (replace, append, or merge on `keys`); return its rows."""
        _check_frame(table, frame, mode, keys)
        layer, _ = split_table(table)
        target = self._ident(account, table)
        schema = dataset_name(account, layer)

        def _write(con: duckdb.DuckDBPyConnection) -> int:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.register("_frame", frame)
            try:
                if mode == "replace" or not _exists(con, schema, table):
                    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _frame")
                else:
                    _upsert(con, target, schema, table, "_frame", keys if mode == "merge" else ())
            finally:
                con.unregister("_frame")
            return len(frame)

        rows = self._run(f"write {table} ({mode})", _write)
        logger.info("warehouse %s.%s %s: %d rows", account, table, mode, rows)
        return rows

    def read(self, account: str, table: str) -> pd.DataFrame:
        """Return the whole table.

        Raises:
            PermanentError: the table does not exist.
        """
        target = self._ident(account, table)
        if not self.exists(account, table):
            raise PermanentError(f"table {table} does not exist for account {account}")
        return self._run(f"read {table}", lambda con: _frame(con.sql(f"SELECT * FROM {target}")))

    def query(
        self, account: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run a query with `@name` parameters; `layer.table` names resolve to the account's."""

        def _query(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
            text = _resolve(con, account, sql)
            relation = con.sql(text, params=dict(params) if params else None)
            if relation is None:  # a statement without a result (DELETE, CREATE, ...)
                import pandas as pd

                return pd.DataFrame()
            return _frame(relation)

        return self._run("query", _query)

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
        """Write a query's result to `table` in the file (replace, append, or merge on `keys`,
        as `write` does); return the rows written."""
        _check_mode(table, mode, keys)
        layer, _ = split_table(table)
        target = self._ident(account, table)
        schema = dataset_name(account, layer)

        def _materialize(con: duckdb.DuckDBPyConnection) -> int:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            text = _resolve(con, account, sql)
            values = dict(params) if params else None
            if mode == "replace" or not _exists(con, schema, table):
                con.execute(f"CREATE OR REPLACE TABLE {target} AS {text}", values)
                return _count(con, target)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _result AS {text}", values)
            try:
                _check_keys(con, table, "_result", keys if mode == "merge" else ())
                _upsert(con, target, schema, table, "_result", keys if mode == "merge" else ())
                return _count(con, "_result")
            finally:
                con.execute("DROP TABLE IF EXISTS _result")

        rows = self._run(f"materialize {table} ({mode})", _materialize)
        logger.info("warehouse %s.%s %s from a query: %d rows", account, table, mode, rows)
        return rows

    def exists(self, account: str, table: str) -> bool:
        """Return whether the table exists."""
        layer, _ = split_table(table)
        schema = dataset_name(account, layer)
        if not self.path.exists():
            return False
        return self._run(f"exists {table}", lambda con: _exists(con, schema, table))


def _frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """Fetch a result through Arrow (DuckDB's own pandas path trips pandas 3 deprecations);
    integer columns with NULLs become nullable Int64 rather than float, DATE columns
    datetime64 (as the frames written here hold dates)."""
    import pandas as pd
    import pyarrow as pa

    table = relation.to_arrow_table()
    ints = {pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32()}
    frame = table.to_pandas(
        types_mapper=lambda t: pd.Int64Dtype() if t in ints else None, date_as_object=False
    )
    for field in table.schema:
        if field.type in ints and table.column(field.name).null_count == 0:
            frame[field.name] = frame[field.name].astype("int64")
        elif pa.types.is_date(field.type):
            frame[field.name] = frame[field.name].astype("datetime64[us]")
    return frame


def _resolve(con: duckdb.DuckDBPyConnection, account: str, sql: str) -> str:
    """Qualify `layer.table` names with the account's schemas; `@name` becomes `$name`."""
    layers = sorted(set(LAYERS) | _account_layers(con, account))
    text = qualify_sql(sql, layers, lambda lay, name: f'"{dataset_name(account, lay)}"."{name}"')
    return _PARAM_RE.sub(lambda m: m.group(1) or f"${m.group(2)}", text)


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0


def _check_mode(table: str, mode: str, keys: Sequence[str]) -> None:
    if mode not in ("replace", "merge", "append"):
        raise PermanentError(f"write {table}: unknown mode {mode!r} (replace, merge, append)")
    if mode == "merge" and not keys:
        raise PermanentError(f"write {table}: merge needs keys (got none)")


def _check_keys(
    con: duckdb.DuckDBPyConnection, table: str, relation: str, keys: Sequence[str]
) -> None:
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    missing = [k for k in keys if k not in have]
    if missing:
        raise PermanentError(
            f"write {table}: merge keys {missing} are not columns of the query's result"
        )


def _check_frame(table: str, frame: pd.DataFrame, mode: str, keys: Sequence[str]) -> None:
    if mode not in ("replace", "merge", "append"):
        raise PermanentError(f"write {table}: unknown mode {mode!r} (replace, merge, append)")
    if len(frame.columns) == 0:
        raise PermanentError(f"write {table}: the frame has no columns")
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise PermanentError(f"write {table}: duplicate columns {dup}")
    if mode == "merge":
        missing = [k for k in keys if k not in frame.columns]
        if not keys or missing:
            raise PermanentError(
                f"write {table}: merge needs keys that are columns of the frame "
                f"(keys {list(keys)}, missing {missing})"
            )


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    _, name = split_table(table)
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def _account_layers(con: duckdb.DuckDBPyConnection, account: str) -> set[str]:
    prefix = dataset_name(account, "")
    rows = con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
    return {r[0][len(prefix) :] for r in rows if r[0].startswith(prefix) and r[0] != prefix}


def _upsert(
    con: duckdb.DuckDBPyConnection,
    target: str,
    schema: str,
    table: str,
    source: str,
    keys: Sequence[str],
) -> None:
    """Add the source's new columns to `target`, delete rows whose keys it holds, insert it."""
    _, name = split_table(table)
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    con.execute("BEGIN TRANSACTION")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        new = [r[0] for r in described if r[0] not in have]
        if new:
            types = {r[0]: r[1] for r in described}
            for col in new:
                con.execute(f'ALTER TABLE {target} ADD COLUMN "{col}" {types[col]}')
        if keys:
            match = " AND ".join(f'f."{k}" IS NOT DISTINCT FROM t."{k}"' for k in keys)
            found = f"SELECT 1 FROM {source} AS f WHERE {match}"
            con.execute(f"DELETE FROM {target} AS t WHERE EXISTS ({found})")
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {source}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def from_settings(settings: Settings) -> DuckDbWarehouse:
    """Build the warehouse on `$MHI_HOME/warehouse.duckdb` (memory: MHI_DUCKDB_MEMORY_LIMIT)."""
    limit = settings.extra.get("MHI_DUCKDB_MEMORY_LIMIT")
    return DuckDbWarehouse(Path(settings.home) / "warehouse.duckdb", memory_limit=limit)
