"""The analytics step kinds: thin handlers over the pure engines and the Warehouse port.

ms-file-import      CSV / CSV.GZ -> raw.<table>
ms-data-modeling    raw reservations -> model tables + validation report
ms-kpi-engine       model tables -> kpi.<grain>_by_<dimensions>, computed in the warehouse
ms-demand-forecast  model tables -> forecast tables + chosen models + charts
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from mhi.analytics import store
from mhi.analytics.configs import (
    FileImportConfig,
    ForecastConfig,
    KpiConfig,
    ModelingConfig,
)
from mhi.analytics.fact_sources import MAPPINGS as FACT_MAPPINGS
from mhi.analytics.kpi_spec import KpiSpec
from mhi.analytics.modeling import inventory_for, model_reservations, stay_nights
from mhi.analytics.personal import protect_guests, read_guest_key
from mhi.analytics.reviews import model_reviews
from mhi.analytics.sources import source_mapping, stage, stage_availability
from mhi.errors import StepExecutionError
from mhi.steps.sdk import StepContext, StepKind

_COLUMN_RE = re.compile(r"[^0-9A-Za-z_]+")


def _file_import(ctx: StepContext, config: FileImportConfig) -> dict[str, Any]:
    data = store.read_source(config.path, ctx.services.blobs)
    frame = store.read_csv_bytes(
        data,
        config.path,
        sep=config.sep,
        encoding=config.encoding,
        keep_default_na=config.keep_default_na,
        na_values=config.na_values,
    )
    renamed = {c: _COLUMN_RE.sub("_", str(c)).strip("_").lower() or "column" for c in frame.columns}
    frame = frame.rename(columns=renamed)
    frame.insert(0, "_row", range(1, len(frame) + 1))
    frame["_source_file"] = config.path
    frame["_landed_at"] = pd.Timestamp(datetime.now(UTC))
    frame["_run_id"] = ctx.run_id
    table = f"raw.{config.table}"
    rows = ctx.services.warehouse.write(ctx.account, table, frame, mode="replace")
    ctx.log.info("imported %d rows from %s into %s", rows, config.path, table)
    changed = {k: v for k, v in renamed.items() if k != v}
    out: dict[str, Any] = {"table": table, "rows": rows, "columns": len(frame.columns) - 4}
    if changed:
        out["renamed_columns"] = dict(list(changed.items())[:50])
    return out


def _data_modeling(ctx: StepContext, config: ModelingConfig) -> dict[str, Any]:
    if config.source in FACT_MAPPINGS:
        return _model_facts(ctx, config)
    wh, account = ctx.services.warehouse, ctx.account
    mapping = source_mapping(config.source)
    raw_table = config.table or mapping.reservations_table
    hint = f"load it first (ms-extractor-{config.source} or ms-file-import)"
    raw = store.read_table(wh, account, raw_table, hint)
    staged = stage(mapping, raw)
    if config.date is not None:
        staged = _changed_on(staged, config.date)
    staged = protect_guests(raw, staged, config.guest_identity, lambda: _guest_key(ctx))
    result = model_reservations(
        staged,
        source=config.source,
        currency=config.currency,
        fx_rates=config.fx_rates,
        rate_outlier_factor=config.rate_outlier_factor,
    )
    nights = stay_nights(result.reservations)
    inventory = _inventory(ctx, config, result.reservations, mapping.availability_table)
    rows = store.write_model(
        wh, account, config.target_schema, result, nights, inventory, config.date
    )
    names = store.table_names(config.target_schema)
    reviews = model_reviews(wh, account, config.reviews_table)
    if reviews is not None:
        rows["reviews"] = wh.write(account, names["reviews"], reviews)
    rejected = result.rejected_by_reason()
    ctx.log.info(
        "modelled %d reservations, rejected %d", len(result.reservations), sum(rejected.values())
    )
    return {
        "source": config.source,
        "schema": config.target_schema,
        "mode": "incremental" if config.date else "full",
        "date": config.date,
        "tables": {k: names[k] for k in rows} | {"validation_report": names["validation_report"]},
        "rows": len(result.reservations),
        "row_counts": rows,
        "rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
        "revenue_excluded": len(result.excluded),
        "revenue_excluded_by_reason": result.excluded_by_reason(),
        "notes": result.notes[:20],
    }


def _model_facts(ctx: StepContext, config: ModelingConfig) -> dict[str, Any]:
    """Model a revenue or cost source (POS, events, invoices) with its validation report."""
    from mhi.analytics.fact_sources import fact_mapping
    from mhi.analytics.facts import model_facts

    wh, account, mapping = ctx.services.warehouse, ctx.account, fact_mapping(config.source)
    raw_table = config.table or mapping.raw_table
    hint = f"load it first (ms-extractor-{mapping.name.split('_')[0]})"
    raw = store.read_table(wh, account, raw_table, hint)
    result = model_facts(mapping, raw, config.currency, config.fx_rates)
    schema = config.target_schema
    tables = {mapping.target: f"{schema}.{mapping.target}"}
    tables["validation_report"] = f"{schema}.validation_report_{mapping.name}"
    # Several sources share a table (invoices from each ERP). The raw table is modelled whole,
    # so this source's rows are replaced: a record since cancelled, voided or deleted leaves
    # the model instead of lingering (the other sources' rows stay).
    target = tables[mapping.target]
    if not result.rows.empty:
        wh.write(account, target, result.rows, mode="merge", keys=["source"])
    elif wh.exists(account, target):
        wh.query(account, f"DELETE FROM {target} WHERE source = @source", {"source": mapping.name})
    wh.write(account, tables["validation_report"], result.rejected)
    ctx.log.info(
        "modelled %d %s rows, rejected %d", len(result.rows), mapping.name, len(result.rejected)
    )
    return {
        "source": config.source,
        "schema": schema,
        "mode": "full",
        "tables": tables,
        "rows": len(result.rows),
        "rejected": len(result.rejected),
        "rejected_by_reason": result.rejected_by_reason(),
        "currency": config.currency.upper(),
        **_fact_totals(result.rows),
    }


def _fact_totals(rows: pd.DataFrame) -> dict[str, Any]:
    """Return net revenue, a ledger's totals per kind, the mean score or the last change."""
    if "kind" in rows.columns:
        totals = rows.groupby("kind")["amount_reporting"].sum().round(2)
        return {"totals": {str(k): float(v) for k, v in totals.items()}}
    if "net_revenue_reporting" in rows.columns:
        return {"net_revenue": round(float(rows["net_revenue_reporting"].sum()), 2)}
    if "score" in rows.columns:
        mean = rows["score"].mean()
        return {"mean_score": None if pd.isna(mean) else round(float(mean), 3)}
    last = rows["modified_at"].max() if "modified_at" in rows.columns else None
    return {"last_modified": None if last is None or pd.isna(last) else f"{last:%Y-%m-%d}"}


def _guest_key(ctx: StepContext) -> bytes:
    return read_guest_key(ctx.secret, ctx.account)


def _changed_on(staged: pd.DataFrame, day: Any) -> pd.DataFrame:
    if "updated_at" not in staged.columns:
        raise StepExecutionError("incremental modeling needs an updated_at / status date column")
    when = pd.to_datetime(staged["updated_at"], errors="coerce", utc=True, format="ISO8601")
    # Rows whose change date does not parse stay in, so validation reports them.
    return staged[when.isna() | (when.dt.date == day)]


def _inventory(
    ctx: StepContext, config: ModelingConfig, res: pd.DataFrame, availability: str | None
) -> pd.DataFrame:
    wh = ctx.services.warehouse
    if config.rooms or not availability or not wh.exists(ctx.account, availability):
        return inventory_for(res, config.rooms)
    staged = stage_availability(wh.read(ctx.account, availability), availability)
    staged = staged.assign(
        hotel=staged["hotel"].astype("string"),
        date=pd.to_datetime(staged["date"], errors="coerce").astype("datetime64[us]"),
        rooms_available=pd.to_numeric(staged["rooms_available"], errors="coerce"),
    )
    bad = staged["date"].isna() | staged["rooms_available"].isna()
    if bad.any():
        raise StepExecutionError(
            f"{availability}: {int(bad.sum())} rows without a usable date or room count"
        )
    return staged.astype({"rooms_available": "int64"})


def _kpi_engine(ctx: StepContext, config: KpiConfig) -> dict[str, Any]:
    """Send each grain's KPI query to the warehouse, which writes the table where the data is."""
    from mhi.analytics.kpi import headline
    from mhi.analytics.kpi_warehouse import materialize_kpis, plan_kpis, read_last_periods

    wh, account = ctx.services.warehouse, ctx.account
    schema = store.model_schema(config.model_schema, ctx.upstream)
    tables, total, warnings, summary, charts = [], 0, [], [], []
    report: tuple[str, KpiSpec, Any] | None = None
    mode = "merge" if (config.start or config.end) else "replace"
    dims = "_".join(config.dimensions) or "all"
    for grain in config.grains():
        spec = _spec(config, grain)
        table = f"kpi.{grain}_by_{dims}"
        with wh.session():  # the checks and the queries with the warehouse opened once
            plan = plan_kpis(wh, account, schema, spec, config.rooms)
            total += materialize_kpis(wh, account, plan, table, mode=mode)
            tables.append(table)
            if config.pace_curve_days is not None:
                pace = f"kpi.pace_{grain}_by_{dims}"
                total += materialize_kpis(wh, account, plan, pace, mode=mode, pace=True)
                tables.append(pace)
        warnings += [w for w in plan.warnings if w not in warnings]
        if list(config.dimensions) == ["hotel"]:
            last = read_last_periods(wh, account, table, plan)
            summary = headline(last, spec, pd.Timestamp(plan.last_arrival)) or summary
            complete = (plan.ctx.first, plan.last_arrival)
            if config.charts and grain != "all":
                charts += _kpi_charts(ctx, table, spec, complete)
            if grain != "all" and (report is None or grain == "month"):
                report = (table, spec, complete)
    ctx.log.info("kpis in %s: %d rows in %s", wh.dialect, total, ", ".join(tables))
    out = {
        "schema": schema,
        "tables": tables,
        "rows": total,
        "headline": summary,
        "warnings": warnings,
        "charts": charts,
    }
    if config.usali:
        for grain in [g for g in config.grains() if g != "all"]:
            tables += _usali(ctx, config, schema, grain, f"kpi.{grain}_by_{dims}")
    if config.report:
        out.update(_report(ctx, config, report))
    return out


def _usali(ctx: StepContext, config: KpiConfig, schema: str, grain: str, rooms: str) -> list[str]:
    """Write the KPIs beyond rooms of one grain (and review KPIs when there are scores)."""
    from mhi.analytics.kpi_usali import review_kpis, usali_kpis

    wh, account = ctx.services.warehouse, ctx.account

    def table(name: str) -> pd.DataFrame | None:
        full = f"{schema}.{name}"
        return wh.read(account, full) if wh.exists(account, full) else None

    events, dates = table("event_tickets"), table("events")
    if events is not None and dates is not None:
        events = events.merge(dates[["event_id", "event_date"]], on="event_id", how="left")
    frame = usali_kpis(
        wh.read(account, rooms),
        grain,
        pos=table("pos_tickets"),
        events=events,
        ledger=table("ledger"),
        hotel_of=config.hotel_of,
        departments=config.departments,
    )
    written = [f"kpi.{grain}_usali_by_hotel"]
    wh.write(account, written[0], frame)
    reviews = table("review_scores")
    if reviews is not None and not reviews.empty:
        written.append(f"kpi.{grain}_reviews_by_hotel_source")
        wh.write(account, written[1], review_kpis(reviews, grain))
    return written


def _report(
    ctx: StepContext, config: KpiConfig, found: tuple[str, KpiSpec, Any] | None
) -> dict[str, Any]:
    from mhi.analytics.report import write_report

    if found is None:
        raise StepExecutionError(
            "report needs dimensions [hotel] and a grain other than all "
            f"(got dimensions {list(config.dimensions)}, grain {config.grain})"
        )
    table, spec, complete = found
    usali = f"kpi.{spec.grain}_usali_by_hotel" if config.usali else None
    return write_report(ctx, table, spec, complete, config.currency.upper(), usali)


def _spec(config: KpiConfig, grain: str) -> KpiSpec:
    return KpiSpec(
        metrics=config.metrics,
        grain=grain,
        dimensions=config.dimensions,
        start=config.start,
        end=config.end,
        comparisons=config.comparisons,
        include_complimentary=config.include_complimentary,
        as_of=config.as_of,
        pickup_days=config.pickup_days,
        on_missing_inventory=config.on_missing_inventory,
        pace_curve_days=config.pace_curve_days,
    )


def _kpi_charts(
    ctx: StepContext, table: str, spec: KpiSpec, complete: tuple[date | None, date | None]
) -> list[str]:
    from mhi.analytics.charts import kpi_trend_png
    from mhi.analytics.kpi_warehouse import read_hotel_rows

    metrics = list(spec.metrics)[:6]
    columns = [m + s for m in metrics for s in ("", "_ly") if m + s in spec.output_columns()]
    frame = read_hotel_rows(
        ctx.services.warehouse, ctx.account, table, ["period", "hotel", *columns]
    )
    uris = []
    for metric in metrics:
        png = kpi_trend_png(frame, metric, spec.grain, complete=complete)
        if png is None:
            continue
        folder = f"charts/{ctx.account}/{ctx.flow_id}/{ctx.run_id}/{table.replace('.', '/')}"
        key = f"{folder}/{metric}.png"
        uris.append(ctx.services.blobs.write_bytes(key, png, "image/png"))
    return uris


def _demand_forecast(ctx: StepContext, config: ForecastConfig) -> dict[str, Any]:
    from mhi.analytics.forecast_step import run_forecast

    return run_forecast(ctx, config)


FILE_IMPORT: StepKind[FileImportConfig] = StepKind(
    "ms-file-import", FileImportConfig, _file_import, "Load a CSV / CSV.GZ into raw.<table>"
)
DATA_MODELING: StepKind[ModelingConfig] = StepKind(
    "ms-data-modeling",
    ModelingConfig,
    _data_modeling,
    "Map raw reservations onto the canonical hotel model, with a validation report",
)
KPI_ENGINE: StepKind[KpiConfig] = StepKind(
    "ms-kpi-engine", KpiConfig, _kpi_engine, "Hotel KPIs by period, hotel and segment"
)
DEMAND_FORECAST: StepKind[ForecastConfig] = StepKind(
    "ms-demand-forecast",
    ForecastConfig,
    _demand_forecast,
    "Demand forecasts per hotel with model selection by backtest and prediction intervals",
)
