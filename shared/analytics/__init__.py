"""Analytics engines: canonical hotel model, KPIs and demand forecasts (pure pandas/statsmodels).

Step kinds live in `shared.analytics.steps`; the command line in `shared.cli.commands.analytics`.
"""

from __future__ import annotations

from shared.analytics.kpi import KpiResult, KpiSpec, compute_kpis, headline
from shared.analytics.metrics import METRICS
from shared.analytics.modeling import (
    ModelResult,
    inventory_for,
    model_reservations,
    room_inventory,
    stay_nights,
)
from shared.analytics.sources import SOURCES, source_mapping, stage

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
