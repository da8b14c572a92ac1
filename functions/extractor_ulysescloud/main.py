"""Cloud Function `extractor_ulysescloud`: runs `ms-extractor-ulysescloud` steps.

Ulyses Cloud PMS: reservations, availability, rates.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-ulysescloud` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-ulysescloud")
