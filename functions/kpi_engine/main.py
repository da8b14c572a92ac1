"""Cloud Function `kpi_engine`: runs `ms-kpi-engine` steps.

Hotel KPIs (occupancy, ADR, RevPAR, ...) by period, hotel and segment.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-kpi-engine` step message and publish its callback."""
    handle_step_event(event, "ms-kpi-engine")
