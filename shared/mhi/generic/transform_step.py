"""Step kind `ms-transform`: filter, map, normalise and aggregate rows without writing a model.

The config becomes one SQL statement (`transform_sql`). Over a table it runs in the warehouse
(written to `table` by the warehouse itself, or returned); over records (a step's output) it
runs in an in-memory DuckDB and the result is written to `table` or returned.
"""

from __future__ import annotations

from typing import Any

from mhi.errors import OrchestratorError, StepExecutionError
from mhi.generic.relations import RecordsRelation, TableRelation, frame_records
from mhi.generic.transform_config import TransformConfig
from mhi.generic.transform_sql import Bound, ExpressionSql, transform_sql
from mhi.steps.sdk import StepContext, StepKind


def expression_context(ctx: StepContext) -> dict[str, Any]:
    """What `params`, `steps`, `run` and `item` mean inside a transform expression."""
    return {
        "params": ctx.params,
        "steps": {step: {"output": out} for step, out in ctx.upstream.items()},
        "run": {"id": ctx.run_id, "flow_id": ctx.flow_id, "account": ctx.account},
        "item": ctx.item,
    }


def _failed(where: str, error: OrchestratorError) -> OrchestratorError:
    if error.retryable:
        return error
    return StepExecutionError(f"transform of {where} failed: {error}")


def _output(
    ctx: StepContext, config: TransformConfig, records: list[dict[str, Any]], source: str
) -> dict[str, Any]:
    if len(records) > config.max_rows:
        raise StepExecutionError(
            f"the transform of {source} gives {len(records)} rows, more "
            f"than max_rows={config.max_rows}: write it to a table (set table)"
        )
    columns = list(records[0]) if records else (config.output_columns() or [])
    return {"source": source, "rows": len(records), "columns": columns, "records": records}


def _over_table(ctx: StepContext, config: TransformConfig, table: str) -> dict[str, Any]:
    wh = ctx.services.warehouse
    relation = TableRelation(wh, ctx.account, table).require()
    bound = Bound()
    compiler = ExpressionSql(relation.dialect, bound, expression_context(ctx))
    # An output stops at max_rows + 1 rows, so "too many" is told without fetching them all.
    cap = None if config.table is not None else config.max_rows + 1
    sql = transform_sql(config, relation.source, compiler, cap)
    try:
        if config.table is None:
            return _output(ctx, config, frame_records(relation.query(sql, bound.values)), table)
        rows = wh.materialize(
            ctx.account, config.table, sql, bound.values, mode=config.mode, keys=config.keys
        )
    except OrchestratorError as e:
        raise _failed(table, e) from e
    ctx.log.info("transform: %d rows from %s to %s (%s)", rows, table, config.table, config.mode)
    return {"source": table, "table": config.table, "mode": config.mode, "rows": rows}


def _over_records(
    ctx: StepContext, config: TransformConfig, records: list[dict[str, Any]]
) -> dict[str, Any]:
    if not records:
        return _no_records(config)
    with RecordsRelation(records) as relation:
        bound = Bound()
        compiler = ExpressionSql(relation.dialect, bound, expression_context(ctx), relation.columns)
        sql = transform_sql(config, relation.source, compiler)
        try:
            frame = relation.query(sql, bound.values)
        except OrchestratorError as e:
            raise _failed(relation.label, e) from e
        if config.table is None:
            return _output(ctx, config, frame_records(frame), relation.label)
        rows = ctx.services.warehouse.write(
            ctx.account, config.table, frame, mode=config.mode, keys=config.keys
        )
    return {"source": relation.label, "table": config.table, "mode": config.mode, "rows": rows}


def _no_records(config: TransformConfig) -> dict[str, Any]:
    """No rows in, none out: nothing is written (there are no columns to write either)."""
    out: dict[str, Any] = {"source": "records (0 rows)", "rows": 0}
    if config.table is not None:
        return {**out, "table": config.table, "mode": config.mode, "note": "nothing written"}
    return {**out, "columns": config.output_columns() or [], "records": []}


def _transform(ctx: StepContext, config: TransformConfig) -> dict[str, Any]:
    if config.source is not None:
        return _over_table(ctx, config, config.source)
    assert config.records is not None  # the config model requires one of them
    return _over_records(ctx, config, config.records)


TRANSFORM: StepKind[TransformConfig] = StepKind(
    "ms-transform",
    TransformConfig,
    _transform,
    "Filter, map, cast, normalise and aggregate rows of a table or of a step's output",
)
