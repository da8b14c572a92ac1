"""Cloud Function `extractor_avalon`: runs `ms-extractor-avalon` steps.

Avalon PMS: reservations, availability, rates, folios.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-avalon` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-avalon")
