"""Cloud Function `extractor_holded`: runs `ms-extractor-holded` steps.

Holded: invoices, contacts, products.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-holded` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-holded")
