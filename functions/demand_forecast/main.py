"""Cloud Function `demand_forecast`: runs `ms-demand-forecast` steps.

Demand forecasts with model selection by backtest and prediction intervals.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-demand-forecast` step message and publish its callback."""
    handle_step_event(event, "ms-demand-forecast")
