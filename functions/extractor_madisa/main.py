"""Cloud Function `extractor_madisa`: runs `ms-extractor-madisa` steps.

Madisa POS: tickets and ticket lines.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-madisa` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-madisa")
