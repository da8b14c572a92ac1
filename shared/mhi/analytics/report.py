"""The KPI report: one HTML page (mail body and run artifact) a revenue manager reads at 07:00.

Headline figures per hotel for the last period the data wholly covers, each beside the same
period last year with the change coloured (green better, red worse; for cancellation and no-show
rates lower is better), a small table per hotel, and the charts inline as PNG data URIs. Rates
change in percentage points, everything else in percent. Every value from the data is escaped.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from mhi.analytics.labels import (
    format_value,
    grain_adverb,
    is_partial,
    metric_name,
    metric_unit,
    period_label,
)

if TYPE_CHECKING:
    from mhi.analytics.kpi_spec import KpiSpec
    from mhi.steps.sdk import StepContext

LOWER_IS_BETTER = frozenset(
    {"cancellation_rate", "no_show_rate", "cancellations", "no_shows", "unrated_rooms"}
)
HEADLINE = ("occupancy", "adr", "revpar", "room_revenue", "trevpar", "goppar")
# KPIs beyond rooms shown when the KPI step also wrote its USALI table (`usali: true`)
USALI_FIGURES = (
    "total_revenue",
    "food_and_beverage_revenue",
    "trevpar",
    "gop",
    "goppar",
    "cost_per_occupied_room",
)
_GREEN, _RED, _GREY = "#1a7f37", "#cf222e", "#6e7781"


@dataclass(frozen=True)
class Figure:
    """One figure of the report: this period, the same period last year, the change."""

    metric: str
    value: float | None
    last_year: float | None

    def change(self) -> float | None:
        """Return the change: points (as a fraction) for rates, else relative; None if unknown."""
        if self.value is None or self.last_year is None:
            return None
        if metric_unit(self.metric) == "percent":
            return self.value - self.last_year
        return None if self.last_year == 0 else self.value / self.last_year - 1

    def change_text(self) -> str:
        """Return the change as text: '+2.1 pts' for rates, '+5.3 %' otherwise, '–' if none."""
        c = self.change()
        if c is None:
            return "–"
        if metric_unit(self.metric) == "percent":
            return f"{c * 100:+.1f} pts"
        return f"{c * 100:+.1f} %"

    def colour(self) -> str:
        """Return green when the change is good for the hotel, red when bad, grey when flat."""
        c = self.change()
        if c is None or abs(c) < 1e-9:
            return _GREY
        good = (c > 0) != (self.metric in LOWER_IS_BETTER)
        return _GREEN if good else _RED


@dataclass(frozen=True)
class HotelSection:
    """The figures of one hotel for its last complete period."""

    hotel: str
    period: pd.Timestamp
    figures: list[Figure]


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def latest_sections(
    table: pd.DataFrame,
    metrics: list[str],
    grain: str,
    complete: tuple[date | None, date | None],
) -> list[HotelSection]:
    """Return, per hotel, the figures of its last period wholly inside `complete`."""
    if table.empty:
        return []
    frame = table.assign(_p=pd.to_datetime(table["period"]))
    whole = frame[[not is_partial(p, grain, *complete) for p in frame["_p"]]]
    sections = []
    for hotel, rows in whole.groupby("hotel", observed=True, sort=True):
        last = rows.sort_values("_p").iloc[-1]
        figures = [
            Figure(m, _num(last.get(m)), _num(last.get(f"{m}_ly"))) for m in metrics if m in rows
        ]
        sections.append(HotelSection(str(hotel), last["_p"], figures))
    return sections


def _figure_cell(f: Figure, currency: str) -> str:
    e = html.escape
    value = format_value(f.metric, f.value, currency)
    return (
        "<td style='padding:8px 16px 8px 0;vertical-align:top'>"
        f"<div style='color:{_GREY};font-size:12px'>{e(metric_name(f.metric))}</div>"
        f"<div style='font-size:22px;font-weight:bold'>{e(value)}</div>"
        f"<div style='color:{f.colour()};font-size:13px'>{e(f.change_text())} "
        "vs last year</div></td>"
    )


def _hotel_table(s: HotelSection, grain: str, currency: str) -> str:
    e = html.escape
    head = (
        f"<tr><th align='left'>KPI</th><th align='right'>{e(period_label(s.period, grain))}</th>"
        "<th align='right'>Same period last year</th><th align='right'>Change</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{e(metric_name(f.metric))}</td>"
        f"<td align='right'>{e(format_value(f.metric, f.value, currency))}</td>"
        f"<td align='right'>{e(format_value(f.metric, f.last_year, currency))}</td>"
        f"<td align='right' style='color:{f.colour()}'>{e(f.change_text())}</td></tr>"
        for f in s.figures
    )
    return (
        f"<h3 style='margin:20px 0 6px'>{e(s.hotel)}</h3>"
        "<table cellpadding='4' style='border-collapse:collapse;font-size:14px;min-width:520px'>"
        f"{head}{rows}</table>"
    )


def report_html(
    sections: list[HotelSection],
    charts: list[tuple[str, bytes]],
    *,
    grain: str,
    complete: tuple[date | None, date | None],
    currency: str,
    title: str,
) -> str:
    """Return the report page: headline per hotel, a table per hotel, the charts inline."""
    e = html.escape
    first, last = complete
    span = f"{first:%d %b %Y} to {last:%d %b %Y}" if first and last else "the data"
    note = (
        f"Figures of the last {e(grain)} each hotel's data wholly covers ({e(span)}); "
        "partial periods are hatched in the charts and left out of the figures."
    )
    headline = "".join(
        f"<h2 style='margin:18px 0 4px;font-size:17px'>{e(s.hotel)} · "
        f"{e(period_label(s.period, grain))}</h2><table><tr>"
        + "".join(_figure_cell(f, currency) for f in s.figures if f.metric in HEADLINE)
        + "</tr></table>"
        for s in sections
    )
    tables = "".join(_hotel_table(s, grain, currency) for s in sections)
    images = "".join(
        f"<div style='margin:16px 0'><img alt='{e(alt)}' style='max-width:100%' "
        f"src='data:image/png;base64,{base64.b64encode(data).decode()}'></div>"
        for alt, data in charts
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title></head>"
        "<body style='font-family:Helvetica,Arial,sans-serif;color:#1f2328;max-width:920px;"
        "margin:24px auto;padding:0 16px'>"
        f"<h1 style='font-size:22px;margin-bottom:4px'>{e(title)}</h1>"
        f"<p style='color:{_GREY};margin-top:0'>{note}</p>{headline}"
        f"<h2 style='font-size:17px;margin-top:28px'>Per hotel</h2>{tables}"
        f"<h2 style='font-size:17px;margin-top:28px'>Trends</h2>{images}</body></html>"
    )


def report_charts(
    table: pd.DataFrame,
    metrics: list[str],
    grain: str,
    complete: tuple[date | None, date | None],
    currency: str,
) -> list[tuple[str, bytes]]:
    """Draw the report's charts: trends of the headline metrics, year to date when it adds up."""
    from mhi.analytics.charts import kpi_trend_figure, png, year_to_date_figure

    out = []
    for metric in [m for m in metrics if m in HEADLINE][:3]:
        fig = kpi_trend_figure(table, metric, grain, currency=currency, complete=complete)
        if fig is not None:
            out.append((f"{metric_name(metric)} by {grain}", png(fig)))
    additive = [m for m in ("room_revenue", "rooms_sold") if m in metrics]
    if grain == "month" and additive and complete[1] is not None:
        try:
            span = (complete[0], complete[1])
            fig = year_to_date_figure(table, additive[0], span, currency=currency)
        except ValueError:
            return out
        out.append((f"{metric_name(additive[0])}, year to date", png(fig)))
    return out


def _with_usali(
    ctx: StepContext, frame: pd.DataFrame, metrics: list[str], table: str
) -> tuple[pd.DataFrame, list[str]]:
    """Add the USALI figures (and their last-year values) beside the room KPIs."""
    beyond = ctx.services.warehouse.read(ctx.account, table)
    extra = [m for m in USALI_FIGURES if m in beyond.columns and m not in metrics]
    cols = [c for m in extra for c in (m, f"{m}_ly") if c in beyond.columns]
    beyond = beyond[["period", "hotel", *cols]].assign(
        period=pd.to_datetime(beyond["period"]), hotel=beyond["hotel"].astype(str)
    )
    frame = frame.assign(period=pd.to_datetime(frame["period"]), hotel=frame["hotel"].astype(str))
    return frame.merge(beyond, on=["period", "hotel"], how="left"), metrics + extra


def write_report(
    ctx: StepContext,
    table: str,
    spec: KpiSpec,
    complete: tuple[date | None, date | None],
    currency: str,
    usali: str | None = None,
) -> dict[str, Any]:
    """Build the report from a hotel-level KPI table (and its USALI table, when named) and write
    it to the run's artifacts."""
    from mhi.analytics.kpi_warehouse import read_hotel_rows

    metrics = list(spec.metrics)
    columns = [m + s for m in metrics for s in ("", "_ly") if m + s in spec.output_columns()]
    frame = read_hotel_rows(
        ctx.services.warehouse, ctx.account, table, ["period", "hotel", *columns]
    )
    if usali is not None:
        frame, metrics = _with_usali(ctx, frame, metrics, usali)
    sections = latest_sections(frame, metrics, spec.grain, complete)
    charts = report_charts(frame, metrics, spec.grain, complete, currency)
    title = f"Hotel KPI report, {grain_adverb(spec.grain)}: {ctx.flow_id}"
    page = report_html(
        sections, charts, grain=spec.grain, complete=complete, currency=currency, title=title
    )
    key = f"reports/{ctx.account}/{ctx.flow_id}/{ctx.run_id}/{ctx.step_id}/kpi-report.html"
    uri = ctx.services.blobs.write_bytes(key, page.encode(), "text/html; charset=utf-8")
    return {"report": uri, "report_key": key, "report_hotels": [s.hotel for s in sections]}
