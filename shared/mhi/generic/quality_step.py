"""Step kind `ms-data-quality`: declarative checks on a table or on a step's rows.

Every check runs (one failing does not hide the next); the results are merged into
`results_table` (one row per run, step and check: a retried attempt replaces its own rows), and
the step's output carries them with a readable summary, which the run notification shows. A
failed check of severity `error` then fails the step with that summary; `warn` only reports.
"""

from __future__ import annotations

import json
from typing import Any

from mhi.errors import OrchestratorError, StepExecutionError
from mhi.generic.quality_checks import Outcome, Scope
from mhi.generic.quality_config import QualityConfig
from mhi.generic.quality_links import CHECKS
from mhi.generic.relations import RecordsRelation, Relation, TableRelation
from mhi.steps.sdk import StepContext, StepKind

RESULT_KEYS = ["run_id", "step_id", "check_name"]
_MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def _run_checks(ctx: StepContext, config: QualityConfig, relation: Relation) -> list[Outcome]:
    scope = Scope(
        relation=relation,
        warehouse=ctx.services.warehouse,
        account=ctx.account,
        flow_id=ctx.flow_id,
        step_id=ctx.step_id,
        run_id=ctx.run_id,
        now=ctx.services.clock.now(),
        results_table=config.results_table,
    )
    outcomes = []
    for check in config.checks:
        try:
            outcomes.append(CHECKS[check.check](scope, check))
        except OrchestratorError as e:
            if e.retryable:
                raise
            raise StepExecutionError(f"check {check.label()} on {relation.label}: {e}") from e
    return outcomes


def _record(ctx: StepContext, config: QualityConfig, label: str, outcomes: list[Outcome]) -> int:
    """Merge this attempt's results into the results table; return the rows written."""
    import pandas as pd

    if config.results_table is None:
        return 0
    now = pd.Timestamp(ctx.services.clock.now()).tz_convert("UTC").tz_localize(None)
    frame = pd.DataFrame(
        {
            "run_id": ctx.run_id,
            "flow_id": ctx.flow_id,
            "step_id": ctx.step_id,
            "attempt": ctx.attempt,
            "checked_at": now,
            "source": label,
            "check_name": [o.check.label() for o in outcomes],
            "check_type": [o.check.check for o in outcomes],
            "severity": [o.check.severity for o in outcomes],
            "status": [o.status for o in outcomes],
            "observed": pd.array([o.observed for o in outcomes], dtype="Float64"),
            "failing_rows": pd.array([o.failing_rows for o in outcomes], dtype="Int64"),
            "message": [o.message for o in outcomes],
            "sample": [json.dumps(o.sample, default=str) for o in outcomes],
        }
    )
    return ctx.services.warehouse.write(
        ctx.account, config.results_table, frame, mode="merge", keys=RESULT_KEYS
    )


def summary(label: str, outcomes: list[Outcome]) -> str:
    """One line of counts, then one line per check (failures first)."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "warn", "fail")}
    head = (
        f"{label}: {len(outcomes)} checks, {counts['pass']} passed, "
        f"{counts['warn']} warned, {counts['fail']} failed"
    )
    order = {"fail": 0, "warn": 1, "pass": 2}
    lines = [
        f"{_MARK[o.status]} {o.check.label()}: {o.message}"
        for o in sorted(outcomes, key=lambda o: order[o.status])
    ]
    return "\n".join([head, *lines])


def _report(
    ctx: StepContext, config: QualityConfig, relation: Relation, outcomes: list[Outcome]
) -> dict[str, Any]:
    written = _record(ctx, config, relation.label, outcomes)
    text = summary(relation.label, outcomes)
    failed = [o for o in outcomes if o.status == "fail"]
    if failed:
        lines = "; ".join(f"{o.check.label()}: {o.message}" for o in failed)
        raise StepExecutionError(
            f"{len(failed)} of {len(outcomes)} data quality checks failed on "
            f"{relation.label}: {lines}"
        )
    ctx.log.info("data quality: %s", text.splitlines()[0])
    return {
        "source": relation.label,
        "checks": len(outcomes),
        "passed": sum(o.status == "pass" for o in outcomes),
        "warned": sum(o.status == "warn" for o in outcomes),
        "failed": 0,
        "summary": text,
        "results": [
            {
                "check": o.check.label(),
                "type": o.check.check,
                "severity": o.check.severity,
                "status": o.status,
                "message": o.message,
                "observed": o.observed,
            }
            for o in outcomes
        ],
        "results_table": config.results_table,
        "results_rows": written,
    }


def _quality(ctx: StepContext, config: QualityConfig) -> dict[str, Any]:
    if config.source is not None:
        relation = TableRelation(ctx.services.warehouse, ctx.account, config.source).require()
        return _report(ctx, config, relation, _run_checks(ctx, config, relation))
    assert config.records is not None  # the config model requires one of them
    used = [col for c in config.checks for col in [*c.columns, c.column] if col]
    with RecordsRelation(config.records, expected=used) as records:
        return _report(ctx, config, records, _run_checks(ctx, config, records))


DATA_QUALITY: StepKind[QualityConfig] = StepKind(
    "ms-data-quality",
    QualityConfig,
    _quality,
    "Declarative data quality checks on a table or a step's rows, with a results table",
)
