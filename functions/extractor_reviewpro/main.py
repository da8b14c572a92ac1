"""Cloud Function `extractor_reviewpro`: runs `ms-extractor-reviewpro` steps.

ReviewPro: reviews and review scores.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-reviewpro` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-reviewpro")
