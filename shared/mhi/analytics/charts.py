"""PNG charts a revenue manager reads (matplotlib Figure API, Agg backend, imported lazily).

Every chart has a title and axis labels in words, the unit on the value axis (percent for rates,
the currency for amounts, thousands separators, never an offset such as "1e6"), and marks the
periods the data does not wholly cover (hatched, labelled "partial") so that a month with half its
bookings does not read as a collapse. Tests inspect the Figure objects (`*_figure`).
"""

from __future__ import annotations

import io
import threading
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from mhi.analytics.labels import (
    GRAIN_WORDS,
    axis_label,
    freq_grain,
    grain_adverb,
    is_partial,
    metric_name,
    metric_unit,
    period_end,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# pyplot keeps global state; the Figure API below avoids it, the lock guards the font cache.
_lock = threading.Lock()
PARTIAL_LABEL = "partial period (incomplete data)"
_ADDITIVE = ("count", "nights", "currency")


def _figure() -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(9, 4.2), dpi=100, layout="constrained")


def png(fig: Figure) -> bytes:
    """Render a figure as PNG bytes."""
    buf = io.BytesIO()
    with _lock:
        fig.savefig(buf, format="png")
    return buf.getvalue()


def _value_axis(ax: Axes, metric: str, currency: str) -> None:
    """Label the value axis with its unit and format its ticks (percent, thousands, no offset)."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    ax.set_ylabel(axis_label(metric, currency))
    if metric_unit(metric) == "percent":
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def _date_axis(ax: Axes, grain: str) -> None:
    from matplotlib.dates import AutoDateLocator, DateFormatter

    ax.set_xlabel(GRAIN_WORDS.get(grain, grain.capitalize()))
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=8))  # type: ignore[no-untyped-call]
    fmt = {"year": "%Y", "month": "%b %Y"}.get(grain, "%d %b %Y")
    ax.xaxis.set_major_formatter(DateFormatter(fmt))  # type: ignore[no-untyped-call]


def _mark_partial(ax: Axes, spans: list[pd.Timestamp], grain: str) -> None:
    """Hatch the periods the data does not wholly cover, one legend entry for all of them."""
    for i, start in enumerate(spans):
        end = period_end(start, grain) + pd.Timedelta(days=1)
        ax.axvspan(
            start,
            end,
            facecolor="none",
            edgecolor="grey",
            hatch="//",
            alpha=0.5,
            label=PARTIAL_LABEL if i == 0 else None,
        )


def kpi_trend_figure(
    table: pd.DataFrame,
    metric: str,
    grain: str,
    *,
    currency: str = "EUR",
    complete: tuple[date | None, date | None] = (None, None),
) -> Figure | None:
    """Draw a metric per hotel over time, last year dashed, partial periods hatched.

    `complete` is the (first, last) day the data wholly covers; periods reaching outside it are
    marked partial. Returns None when there is nothing to draw.
    """
    if metric not in table.columns or "hotel" not in table.columns or table[metric].isna().all():
        return None
    fig = _figure()
    ax = fig.add_subplot()
    partial: set[pd.Timestamp] = set()
    for hotel, rows in table.groupby("hotel", observed=True):
        cols = [c for c in (metric, f"{metric}_ly") if c in rows]
        rows = rows.groupby(pd.to_datetime(rows["period"]))[cols].sum(min_count=1).sort_index()
        flags = [is_partial(p, grain, *complete) for p in rows.index]
        partial |= {p for p, f in zip(rows.index, flags, strict=True) if f}
        mask = pd.Series(flags, index=rows.index)
        whole = rows[metric].where(~mask)
        (line,) = ax.plot(rows.index, whole, marker="o", ms=3, label=str(hotel))
        if mask.any():  # partial periods: hollow markers joined by a dotted line, never solid
            near = mask | mask.shift(1, fill_value=False) | mask.shift(-1, fill_value=False)
            colour = line.get_color()
            ax.plot(rows.index, rows[metric].where(near), ":", color=colour)
            ax.plot(rows.index, rows[metric].where(mask), "o", mfc="white", color=colour, ms=6)
        if f"{metric}_ly" in rows.columns and rows[f"{metric}_ly"].notna().any():
            ax.plot(
                rows.index,
                rows[f"{metric}_ly"],
                linestyle="--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{hotel}, same period last year",
            )
    _mark_partial(ax, sorted(partial), grain)
    ax.set_title(f"{metric_name(metric)} by {grain} and hotel")
    _value_axis(ax, metric, currency)
    _date_axis(ax, grain)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3)
    return fig


def kpi_trend_png(
    table: pd.DataFrame,
    metric: str,
    grain: str,
    *,
    currency: str = "EUR",
    complete: tuple[date | None, date | None] = (None, None),
) -> bytes | None:
    """Return `kpi_trend_figure` as PNG bytes (None when there is nothing to draw)."""
    fig = kpi_trend_figure(table, metric, grain, currency=currency, complete=complete)
    return None if fig is None else png(fig)


def year_to_date(
    monthly: pd.DataFrame, metric: str, last_day: date, first_day: date | None = None
) -> pd.DataFrame:
    """Sum an additive metric per hotel and year over the same months as the last year's to date.

    Only whole months up to `last_day` count; each earlier year gets the same months, so 2017
    Jan–Aug is compared with 2016 Jan–Aug; a year whose months start before `first_day` (the
    data's first day) is left out. Raises ValueError for a metric that does not add up.
    """
    if metric_unit(metric) not in _ADDITIVE:
        raise ValueError(f"{metric} is a ratio: a year-to-date sum of it means nothing")
    periods = pd.to_datetime(monthly["period"])
    end = pd.Timestamp(last_day)
    whole = periods.map(lambda p: period_end(p, "month") <= end)
    last_month = periods[whole].max()
    if pd.isna(last_month):
        raise ValueError(f"no whole month of data up to {last_day}")
    keep = whole & (periods.dt.month <= last_month.month)
    if first_day is not None:  # a year counts only when its 1 January is inside the data
        whole_year = periods.dt.year.map(lambda y: date(int(y), 1, 1) >= first_day)
        keep &= whole_year.astype(bool)
    if not keep.any():
        raise ValueError(f"no year whose months Jan–{last_month:%b} are all in the data")
    frame = monthly[keep].assign(year=periods[keep].dt.year)
    out = frame.groupby(["hotel", "year"], observed=True)[metric].sum(min_count=1).reset_index()
    out.attrs["months"] = f"Jan–{last_month:%b}"
    return out


def year_to_date_figure(
    monthly: pd.DataFrame,
    metric: str,
    complete: tuple[date | None, date],
    *,
    currency: str = "EUR",
) -> Figure:
    """Draw year to date against the same months of earlier years, one bar group per hotel."""
    ytd = year_to_date(monthly, metric, complete[1], complete[0])
    months = ytd.attrs["months"]
    wide = ytd.pivot(index="hotel", columns="year", values=metric)
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / max(len(wide.columns), 1)
    for i, year in enumerate(wide.columns):
        xs = [j + i * width for j in range(len(wide.index))]
        ax.bar(xs, wide[year], width=width, label=f"{year} ({months})")
    ax.set_xticks([j + width * (len(wide.columns) - 1) / 2 for j in range(len(wide.index))])
    ax.set_xticklabels([str(h) for h in wide.index])
    ax.set_title(f"{metric_name(metric)}, year to date ({months}) against the same months before")
    ax.set_xlabel("Hotel")
    _value_axis(ax, metric, currency)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return fig


def forecast_figure(
    history: pd.DataFrame, forecast: pd.DataFrame, series_id: str, levels: list[float]
) -> Figure:
    """Draw history, forecast with its intervals, and anomalies (red dots) of one series."""
    hotel, measure, freq = [*str(series_id).split("|"), "", "", ""][:3]
    grain = freq_grain(freq or "D")
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(history["date"], history["actual"], color="black", lw=1, label="actual")
    ax.plot(forecast["date"], forecast["forecast"], color="tab:blue", label="forecast")
    for level in sorted(levels, reverse=True):
        tag = _level_tag(level)
        if f"lower_{tag}" in forecast.columns:
            ax.fill_between(
                forecast["date"],
                forecast[f"lower_{tag}"],
                forecast[f"upper_{tag}"],
                color="tab:blue",
                alpha=0.15,
                label=f"{tag.replace('_', '.')}% interval",
            )
    flagged = history[history.get("anomaly", pd.Series(False, index=history.index)).astype(bool)]
    if not flagged.empty:
        ax.scatter(flagged["date"], flagged["actual"], color="red", s=12, label="anomaly")
    model = forecast["model"].iloc[0] if "model" in forecast.columns else "model"
    what = metric_name(measure) if measure else str(series_id)
    place = f" at {hotel}" if hotel else ""
    ax.set_title(f"{what}{place}: {grain_adverb(grain)} history and forecast ({model})")
    _value_axis(ax, measure or "count", "EUR")
    _date_axis(ax, grain)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def forecast_png(
    history: pd.DataFrame, forecast: pd.DataFrame, series_id: str, levels: list[float]
) -> bytes:
    """Return `forecast_figure` as PNG bytes."""
    return png(forecast_figure(history, forecast, series_id, levels))


def _level_tag(level: Any) -> str:
    return f"{float(level):g}".replace(".", "_")
