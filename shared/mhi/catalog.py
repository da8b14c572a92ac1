"""The step catalog: every step type the product knows, where its handler lives, which function
runs it. Adding a step type is one entry here (plus its `functions/<name>/main.py`).

Handlers are referenced as "module:ATTRIBUTE" strings and imported only when needed, so the
controller (which validates flows against this catalog) never imports pandas or statsmodels.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mhi.steps.sdk import StepKind


@dataclass(frozen=True)
class StepType:
    """One step type: its topic name, its handler and the Cloud Function that runs it."""

    type: str
    target: str  # "module:ATTRIBUTE" of a StepKind
    function: str  # folder under functions/
    summary: str


_EXTRACTORS = {
    "axional": "Axional ERP: ledger entries, invoices, accounts",
    "avalon": "Avalon PMS: reservations, availability, rates, folios",
    "reviewpro": "ReviewPro: reviews and review scores",
    "sharepoint365": "SharePoint (Microsoft Graph): list items and files",
    "businesscentral": "Business Central: ledger entries, invoices, customers",
    "holded": "Holded: invoices, contacts, products",
    "madisa": "Madisa POS: tickets and ticket lines",
    "fourvenues": "FourVenues: events and tickets",
    "ulysescloud": "Ulyses Cloud PMS: reservations, availability, rates",
}

CATALOG: tuple[StepType, ...] = (
    *(
        StepType(
            f"ms-extractor-{system}",
            f"mhi.connectors.systems.{system}:KIND",
            f"extractor_{system}",
            summary,
        )
        for system, summary in _EXTRACTORS.items()
    ),
    StepType(
        "ms-file-import",
        "mhi.analytics.steps:FILE_IMPORT",
        "file_import",
        "Load a CSV / CSV.GZ file into the warehouse raw layer",
    ),
    StepType(
        "ms-data-modeling",
        "mhi.analytics.steps:DATA_MODELING",
        "data_modeling",
        "Map raw records onto the canonical hotel model, with a validation report",
    ),
    StepType(
        "ms-kpi-engine",
        "mhi.analytics.steps:KPI_ENGINE",
        "kpi_engine",
        "Hotel KPIs (occupancy, ADR, RevPAR, ...) by period, hotel and segment",
    ),
    StepType(
        "ms-demand-forecast",
        "mhi.analytics.steps:DEMAND_FORECAST",
        "demand_forecast",
        "Demand forecasts with model selection by backtest and prediction intervals",
    ),
    StepType(
        "ms-qlik-app-reload",
        "mhi.qlik.steps:APP_RELOAD",
        "qlik_app_reload",
        "Reload Qlik apps and follow each reload to its end",
    ),
    StepType(
        "ms-qlik-automation",
        "mhi.qlik.steps:AUTOMATION",
        "qlik_automation",
        "Run a Qlik automation with inputs and capture its result",
    ),
    StepType(
        "ms-notifications",
        "mhi.notify.steps:NOTIFICATIONS",
        "notifications",
        "Email (Mailgun), Slack, signed webhooks and a local outbox",
    ),
    StepType(
        "ms-echo",
        "mhi.steps.builtin:ECHO",
        "echo",
        "Return its (rendered) config as output: for debugging templates and wiring",
    ),
)

BY_TYPE: dict[str, StepType] = {s.type: s for s in CATALOG}


def step_types() -> frozenset[str]:
    """Return every known step type."""
    return frozenset(BY_TYPE)


@cache
def load_kind(step_type: str) -> StepKind:
    """Import and return the handler of a step type.

    Raises:
        KeyError: the step type is not in the catalog.
    """
    entry = BY_TYPE[step_type]
    module, _, attr = entry.target.partition(":")
    kind: StepKind = getattr(importlib.import_module(module), attr)
    return kind
