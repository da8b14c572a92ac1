"""The step catalog: every step type the product knows, where its handler and config model live,
which function runs it and which secrets it reads. Adding a step type is one entry here (plus its
`functions/<name>/main.py`).

Handlers and config models are referenced as "module:ATTRIBUTE" strings and imported only when
needed. A config model lives in a light module (no pandas, no Google client), so the controller
and `mhi validate` check every step config without importing any handler.

`secrets` is the one list of what a step type may read from its account's secrets: terraform
grants exactly these (`mhi package --tfvars`), and a deploy test scans the handlers' source so a
secret read that is not declared here fails the suite instead of silently losing its grant.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel

if TYPE_CHECKING:
    from mhi.steps.sdk import StepKind


@dataclass(frozen=True)
class StepType:
    """One step type: its topic name, handler, config model, Cloud Function and secrets."""

    type: str
    target: str  # "module:ATTRIBUTE" of a StepKind
    config: str  # "module:ATTRIBUTE" of its pydantic config model (a light module)
    function: str  # folder under functions/
    summary: str
    secrets: tuple[str, ...] = ()


def _extractor(system: str, config_class: str, summary: str, secrets: tuple[str, ...]) -> StepType:
    module = f"mhi.connectors.systems.{system}"
    return StepType(
        f"ms-extractor-{system}",
        f"{module}:KIND",
        f"{module}:{config_class}",
        f"extractor_{system}",
        summary,
        tuple(f"{system}-{name}" for name in secrets),
    )


# Systems without a public API host read their base URL and any of the generic auth schemes'
# secrets (API key, basic, OAuth2 client credentials): see `mhi.connectors.systems._generic`.
# Every extractor may read `<system>-base-url` (and OAuth ones `<system>-token-url`): the
# operator's override of where its API lives (`mhi.connectors.hosts`), never the flow's.
_GENERIC = ("api-key", "base-url", "client-id", "client-secret", "token-url")
_ENTRA = ("base-url", "client-id", "client-secret", "token-url")
_QLIK = (
    "qlik-api-key",
    "qlik-automation-token",
    "qlik-ca-cert",
    "qlik-client-cert",
    "qlik-client-key",
    "qlik-qrs-base-url",
)

# ms-http-request: `auth.credentials` names a prefix of the account's secrets (`http`, or
# `http-<name>`: declare those in terraform's `extra_secrets`); `<prefix>-hosts` lists the hosts
# they may be sent to (`mhi.generic.request_auth`).
_HTTP = tuple(
    f"http-{name}"
    for name in (
        "api-key",
        "bearer-token",
        "client-id",
        "client-secret",
        "hosts",
        "password",
        "token-url",
        "username",
    )
)

CATALOG: tuple[StepType, ...] = (
    _extractor(
        "axional", "AxionalConfig", "Axional ERP: ledger entries, invoices, accounts", _GENERIC
    ),
    _extractor(
        "avalon", "AvalonConfig", "Avalon PMS: reservations, availability, rates, folios", _GENERIC
    ),
    _extractor(
        "reviewpro",
        "ReviewProConfig",
        "ReviewPro: reviews and review scores",
        ("api-key", "api-secret", "base-url"),
    ),
    _extractor(
        "sharepoint365",
        "SharePointConfig",
        "SharePoint (Microsoft Graph): list items and files",
        _ENTRA,
    ),
    _extractor(
        "businesscentral",
        "BusinessCentralConfig",
        "Business Central: ledger entries, invoices, customers",
        _ENTRA,
    ),
    _extractor(
        "holded", "HoldedConfig", "Holded: invoices, contacts, products", ("api-key", "base-url")
    ),
    _extractor("madisa", "MadisaConfig", "Madisa POS: tickets and ticket lines", _GENERIC),
    _extractor(
        "fourvenues", "FourVenuesConfig", "FourVenues: events and tickets", ("api-key", "base-url")
    ),
    _extractor(
        "ulysescloud",
        "UlysesConfig",
        "Ulyses Cloud PMS: invoices (room stays, revenue, payments opt-in)",
        ("base-url", "password", "username"),
    ),
    StepType(
        "ms-file-import",
        "mhi.analytics.steps:FILE_IMPORT",
        "mhi.analytics.configs:FileImportConfig",
        "file_import",
        "Load a CSV / CSV.GZ file into the warehouse raw layer",
    ),
    StepType(
        "ms-data-modeling",
        "mhi.analytics.steps:DATA_MODELING",
        "mhi.analytics.configs:ModelingConfig",
        "data_modeling",
        "Map raw records onto the canonical hotel model, with a validation report",
        ("guest-hash-key",),  # guest identity is kept as a keyed hash (mhi.analytics.personal)
    ),
    StepType(
        "ms-kpi-engine",
        "mhi.analytics.steps:KPI_ENGINE",
        "mhi.analytics.configs:KpiConfig",
        "kpi_engine",
        "Hotel KPIs (occupancy, ADR, RevPAR, ...) by period, hotel and segment",
    ),
    StepType(
        "ms-demand-forecast",
        "mhi.analytics.steps:DEMAND_FORECAST",
        "mhi.analytics.configs:ForecastConfig",
        "demand_forecast",
        "Demand forecasts with model selection by backtest and prediction intervals",
    ),
    StepType(
        "ms-qlik-app-reload",
        "mhi.qlik.steps:APP_RELOAD",
        "mhi.qlik.config:AppReloadConfig",
        "qlik_app_reload",
        "Reload Qlik apps and follow each reload to its end",
        _QLIK,
    ),
    StepType(
        "ms-qlik-automation",
        "mhi.qlik.steps:AUTOMATION",
        "mhi.qlik.config:AutomationConfig",
        "qlik_automation",
        "Run a Qlik automation with inputs and capture its result",
        _QLIK,
    ),
    StepType(
        "ms-notifications",
        "mhi.notify.steps:NOTIFICATIONS",
        "mhi.notify.config:NotificationsConfig",
        "notifications",
        "Email (Mailgun), Slack, signed webhooks and a local outbox",
        ("mailgun-api-key", "mailgun-base-url", "slack-webhook-url", "webhook-secret"),
    ),
    StepType(
        "ms-http-request",
        "mhi.generic.request_step:HTTP_REQUEST",
        "mhi.generic.request_config:HttpRequestConfig",
        "http_request",
        "Call an HTTP API (auth from the account's secrets); the response becomes the output",
        _HTTP,
    ),
    StepType(
        "ms-sql",
        "mhi.generic.sql_step:SQL",
        "mhi.generic.sql_config:SqlConfig",
        "sql",
        "Run a parameterised SQL statement in the warehouse, into a table or as output",
    ),
    StepType(
        "ms-data-quality",
        "mhi.generic.quality_step:DATA_QUALITY",
        "mhi.generic.quality_config:QualityConfig",
        "data_quality",
        "Declarative data quality checks on a table or a step's rows; error checks fail the step",
    ),
    StepType(
        "ms-transform",
        "mhi.generic.transform_step:TRANSFORM",
        "mhi.generic.transform_config:TransformConfig",
        "transform",
        "Filter, map, cast, normalise and aggregate a table or a step's rows",
    ),
    StepType(
        "ms-sub-flow",
        "mhi.steps.subflow:SUB_FLOW",
        "mhi.steps.subflow:SubFlowConfig",
        "sub_flow",
        "Run another stored flow as a child run, wait for it and return its outputs",
    ),
    StepType(
        "ms-echo",
        "mhi.steps.builtin:ECHO",
        "mhi.steps.builtin:EchoConfig",
        "echo",
        "Return its (rendered) config as output: for debugging templates and wiring",
    ),
)

BY_TYPE: dict[str, StepType] = {s.type: s for s in CATALOG}


def step_types() -> frozenset[str]:
    """Return every known step type."""
    return frozenset(BY_TYPE)


def _load(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def load_kind(step_type: str) -> StepKind[BaseModel]:
    """Import and return the handler of a step type.

    Raises:
        KeyError: the step type is not in the catalog.
    """
    # The catalog's `target` names a StepKind: that is what a step type's module exports.
    return cast("StepKind[BaseModel]", _load(BY_TYPE[step_type].target))


@cache
def config_model(step_type: str) -> type[BaseModel]:
    """Import and return the config model of a step type (without importing its handler).

    Raises:
        KeyError: the step type is not in the catalog.
    """
    model = _load(BY_TYPE[step_type].config)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{BY_TYPE[step_type].config} is not a pydantic model")
    return model
