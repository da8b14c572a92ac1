"""PNG charts (matplotlib, Agg backend, imported only when a chart is drawn)."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# pyplot keeps global state; the Figure API below avoids it, the lock guards the font cache.
_lock = threading.Lock()


def _figure() -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(9, 4), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def kpi_trend_png(table: pd.DataFrame, metric: str, grain: str) -> bytes | None:
    """Draw a metric per hotel over time, last year dashed; None when there is nothing to draw."""
    if metric not in table.columns or "hotel" not in table.columns or table[metric].isna().all():
        return None
    dims = [c for c in table.columns if c in ("hotel",)]
    with _lock:
        fig = _figure()
        ax = fig.add_subplot()
        for hotel, rows in table.groupby(dims[0], observed=True):
            rows = rows.groupby("period")[[c for c in (metric, f"{metric}_ly") if c in rows]].sum(
                min_count=1
            )
            (line,) = ax.plot(rows.index, rows[metric], label=str(hotel))
            if f"{metric}_ly" in rows.columns:
                ax.plot(
                    rows.index,
                    rows[f"{metric}_ly"],
                    linestyle="--",
                    color=line.get_color(),
                    alpha=0.6,
                    label=f"{hotel} (last year)",
                )
        ax.set_title(f"{metric} by {grain}")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        return _png(fig)


def forecast_png(
    history: pd.DataFrame, forecast: pd.DataFrame, series_id: str, levels: list[float]
) -> bytes:
    """Draw history, forecast with its intervals, and anomalies (red dots) of one series."""
    with _lock:
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
                    label=f"{tag}% interval",
                )
        flagged = history[history.get("anomaly", pd.Series(False, index=history.index))]
        if not flagged.empty:
            ax.scatter(flagged["date"], flagged["actual"], color="red", s=12, label="anomaly")
        model = forecast["model"].iloc[0] if "model" in forecast.columns else ""
        ax.set_title(f"{series_id} ({model})")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        return _png(fig)


def _level_tag(level: Any) -> str:
    return f"{float(level):g}".replace(".", "_")
