"""Qlik steps: app reloads (Qlik Cloud, Qlik Sense Enterprise QRS) and automations."""

from __future__ import annotations

from mhi.qlik.config import AppReloadConfig, AutomationConfig, QrsOptions
from mhi.qlik.jobs import QlikDeadlineError, QlikJobFailedError
from mhi.qlik.steps import APP_RELOAD, AUTOMATION, QlikOptions, make_app_reload, make_automation

__all__ = [
    "APP_RELOAD",
    "AUTOMATION",
    "AppReloadConfig",
    "AutomationConfig",
    "QlikDeadlineError",
    "QlikJobFailedError",
    "QlikOptions",
    "QrsOptions",
    "make_app_reload",
    "make_automation",
]
