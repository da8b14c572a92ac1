"""Step kind `ms-sql`: one parameterised statement in the account's warehouse.

With `table`, the result is written there by the warehouse itself (`Warehouse.materialize`: the
rows never leave DuckDB or BigQuery). Without it, the statement's result comes back as the
step's output (`records`, at most `max_rows` of them); a statement that returns no rows (DDL,
DML) just runs. Parameters are bound by the warehouse, never pasted into the text.
"""

from __future__ import annotations

from typing import Any

from mhi.errors import OrchestratorError, StepExecutionError
from mhi.generic.relations import frame_records
from mhi.generic.sql_config import SqlConfig, check_params
from mhi.generic.sql_files import read_sql_file
from mhi.generic.sql_text import (
    SqlTextError,
    leading_keyword,
    returns_rows,
    strip_statement,
    with_limit,
)
from mhi.steps.sdk import StepContext, StepKind


def statement(ctx: StepContext, config: SqlConfig) -> str:
    """Return the statement to run: the config's, or its file's (checked like an inline one)."""
    if config.sql is not None:
        return config.sql
    assert config.sql_file is not None  # the config model requires one of them
    text = read_sql_file(ctx.services.settings, config.sql_file)
    try:
        sql = strip_statement(text)
        check_params(sql, config.params)
    except (SqlTextError, ValueError) as e:
        raise StepExecutionError(f"sql_file {config.sql_file}: {e}") from None
    return sql


def _what(config: SqlConfig) -> str:
    return f"sql_file {config.sql_file}" if config.sql_file else "the statement"


def _failed(ctx: StepContext, config: SqlConfig, error: OrchestratorError) -> OrchestratorError:
    """Name the step, the statement and the warehouse in a failure (retryable ones stay so)."""
    if error.retryable:
        return error
    dialect = ctx.services.warehouse.dialect
    return StepExecutionError(f"{_what(config)} failed in the {dialect} warehouse: {error}")


def _result(ctx: StepContext, config: SqlConfig, sql: str) -> dict[str, Any]:
    query = returns_rows(sql)
    # max_rows + 1: enough to tell "too many" without fetching every row.
    text = with_limit(sql, config.max_rows + 1) if query else sql
    try:
        frame = ctx.services.warehouse.query(ctx.account, text, config.params)
    except OrchestratorError as e:
        raise _failed(ctx, config, e) from e
    if not query:
        return {"statement": "executed", "rows": 0}
    if len(frame) > config.max_rows:
        raise StepExecutionError(
            f"{_what(config)} returned more than max_rows={config.max_rows} "
            "rows: write it to a table (set table) or aggregate it"
        )
    return {
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "records": frame_records(frame),
    }


def _run_sql(ctx: StepContext, config: SqlConfig) -> dict[str, Any]:
    sql = statement(ctx, config)
    if config.table is None:
        return _result(ctx, config, sql)
    if not returns_rows(sql):
        raise StepExecutionError(
            f"{_what(config)} is not a query (it starts with "
            f"{leading_keyword(sql).upper()}), so it has no result to write to {config.table}"
        )
    wh = ctx.services.warehouse
    try:
        rows = wh.materialize(
            ctx.account, config.table, sql, config.params, mode=config.mode, keys=config.keys
        )
    except OrchestratorError as e:
        raise _failed(ctx, config, e) from e
    ctx.log.info("sql: %d rows to %s (%s) in %s", rows, config.table, config.mode, wh.dialect)
    return {"table": config.table, "mode": config.mode, "rows": rows, "warehouse": wh.dialect}


SQL: StepKind[SqlConfig] = StepKind(
    "ms-sql",
    SqlConfig,
    _run_sql,
    "Run a parameterised SQL statement in the warehouse: to a table or as output",
)
