"""Cloud Function `data_modeling`: runs `ms-data-modeling` steps.

Map raw records onto the canonical hotel model, with a validation report.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-data-modeling` step message and publish its callback."""
    handle_step_event(event, "ms-data-modeling")
