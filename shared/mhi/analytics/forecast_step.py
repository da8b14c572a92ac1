"""Demand series from the canonical model, and the ms-demand-forecast step around the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from mhi.analytics import store
from mhi.analytics.forecast import forecast_many
from mhi.analytics.modeling import inventory_for
from mhi.errors import StepConfigError, StepExecutionError

if TYPE_CHECKING:
    from mhi.analytics.configs import ForecastConfig
    from mhi.steps.sdk import StepContext

FREQ_NAMES = {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly", "Y": "yearly"}
_RESAMPLE = {"D": "D", "W": "W-MON", "M": "MS", "Q": "QS", "Y": "YS"}


def history_end(res: pd.DataFrame) -> pd.Timestamp:
    """The last day whose demand is known: the earlier of the last arrival and the last booking
    (stay nights after it belong to bookings not made yet)."""
    return min(res["arrival_date"].max(), res["booking_date"].max())


def daily_demand(
    res: pd.DataFrame, nights: pd.DataFrame, inventory: pd.DataFrame, measure: str
) -> pd.DataFrame:
    """Return a wide frame (date × hotel) of one daily demand measure."""
    if measure == "arrivals":
        stayed = res[~res["is_cancelled"]]
        wide = stayed.groupby(["arrival_date", "hotel"], observed=True).size().unstack()
    elif measure == "room_revenue":
        wide = nights.groupby(["stay_date", "hotel"], observed=True)["room_revenue"].sum()
        wide = wide.unstack()
    else:
        wide = nights.groupby(["stay_date", "hotel"], observed=True).size().unstack()
    wide.index = pd.DatetimeIndex(wide.index).rename("date")
    if measure == "occupancy":
        missing = sorted(set(wide.columns) - set(inventory["hotel"].unique()))
        if missing:
            raise StepConfigError(
                f"occupancy forecasts need rooms for {missing}: set rooms in the config"
            )
        rooms = inventory.pivot_table(index="date", columns="hotel", values="rooms_available")
        wide = wide.reindex(rooms.index).fillna(0) / rooms[wide.columns]
    return wide


def demand_series(
    res: pd.DataFrame,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
    measure: str,
    freq: str,
    end: pd.Timestamp,
) -> dict[str, pd.Series]:
    """Return one regular series per hotel, complete periods only, up to `end`."""
    wide = daily_demand(res, nights, inventory, measure)
    start = wide.index.min()
    days = pd.date_range(start, end, freq="D")
    wide = wide.reindex(days).fillna(0.0)  # no booking on a day is zero demand
    if freq != "D":
        if measure == "occupancy":
            wide = wide.resample(_RESAMPLE[freq]).mean()
        else:
            wide = wide.resample(_RESAMPLE[freq]).sum()
        nxt = wide.index + pd.tseries.frequencies.to_offset(_RESAMPLE[freq])
        wide = wide[nxt - pd.Timedelta(days=1) <= end]  # drop the partial last period
    return {f"{hotel}|{measure}|{freq}": wide[hotel].astype(float) for hotel in wide.columns}


def run_forecast(ctx: StepContext, config: ForecastConfig) -> dict[str, Any]:
    """Forecast each configured measure and frequency per hotel; write tables and charts."""
    wh, account = ctx.services.warehouse, ctx.account
    schema = store.model_schema(config.model_schema, ctx.upstream)
    res, nights, inventory = store.read_model(wh, account, schema)
    if res.empty:
        raise StepExecutionError(f"{schema}.reservations is empty: nothing to forecast")
    if config.rooms is not None:
        inventory = inventory_for(res, config.rooms)
    end = pd.Timestamp(config.history_end) if config.history_end else history_end(res)
    tables, summary, charts, rows = [], [], [], 0
    for spec in config.series:
        series = demand_series(res, nights, inventory, spec.measure, spec.freq, end)
        fc, models, hist = forecast_many(
            series,
            horizon=spec.horizon,
            freq=spec.freq,
            levels=config.levels,
            model=config.model,
            season_length=config.season_length,
            folds=config.backtest_folds,
        )
        base = f"forecast.{spec.measure}_{FREQ_NAMES[spec.freq]}"
        rows += wh.write(account, base, fc)
        wh.write(account, f"{base}_models", models)
        wh.write(account, f"{base}_history", hist)
        tables += [base, f"{base}_models", f"{base}_history"]
        summary += models[["series_id", "model", "mase"]].round(4).to_dict("records")
        if config.charts:
            charts += _charts(ctx, base, fc, hist, config.levels)
    return {
        "schema": schema,
        "history_end": end.date(),
        "tables": tables,
        "rows": rows,
        "models": summary[:100],
        "charts": charts[:100],
    }


def _charts(
    ctx: StepContext, base: str, fc: pd.DataFrame, hist: pd.DataFrame, levels: list[float]
) -> list[str]:
    from mhi.analytics.charts import forecast_png

    uris = []
    for sid, rows in fc.groupby("series_id", sort=True):
        history = hist[hist["series_id"] == sid].tail(365)
        png = forecast_png(history, rows, str(sid), levels)
        safe = "".join(ch if ch.isalnum() else "_" for ch in str(sid))
        key = f"charts/{ctx.account}/{ctx.flow_id}/{ctx.run_id}/{base.replace('.', '/')}/{safe}.png"
        uris.append(ctx.services.blobs.write_bytes(key, png, "image/png"))
    return uris
