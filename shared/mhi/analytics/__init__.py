"""Analytics engines: canonical hotel model, KPIs and demand forecasts (pure pandas/statsmodels).

Step kinds live in `mhi.analytics.steps`; the command line in `mhi.cli.commands.analytics`.
"""

from __future__ import annotations

from mhi.analytics.kpi import KpiResult, KpiSpec, compute_kpis, headline
from mhi.analytics.metrics import METRICS
from mhi.analytics.modeling import (
    ModelResult,
    inventory_for,
    model_reservations,
    room_inventory,
    stay_nights,
)
from mhi.analytics.sources import SOURCES, source_mapping, stage

__all__ = [
    "METRICS",
    "SOURCES",
    "KpiResult",
    "KpiSpec",
    "ModelResult",
    "compute_kpis",
    "headline",
    "inventory_for",
    "model_reservations",
    "room_inventory",
    "source_mapping",
    "stage",
    "stay_nights",
]
