"""Analytics engines: canonical hotel model, KPIs and demand forecasts (pure pandas/statsmodels).

Step kinds live in `mhi.analytics.steps`; the command line in `mhi.cli.commands.analytics`.
Importing this package is light (config models in `mhi.analytics.configs` are read by the
controller and `mhi validate`); the engines below load pandas on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "KpiResult": "mhi.analytics.kpi",
    "KpiSpec": "mhi.analytics.kpi_spec",
    "compute_kpis": "mhi.analytics.kpi",
    "headline": "mhi.analytics.kpi",
    "METRICS": "mhi.analytics.metrics",
    "ModelResult": "mhi.analytics.modeling",
    "inventory_for": "mhi.analytics.modeling",
    "model_reservations": "mhi.analytics.modeling",
    "room_inventory": "mhi.analytics.modeling",
    "stay_nights": "mhi.analytics.modeling",
    "SOURCES": "mhi.analytics.sources",
    "source_mapping": "mhi.analytics.sources",
    "stage": "mhi.analytics.sources",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the engine that defines `name` on first use (keeps `import mhi.analytics` light)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
