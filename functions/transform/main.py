"""Cloud Function `transform`: runs `ms-transform` steps.

Filter, map, cast, normalise and aggregate a table or a step's rows.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-transform` step message and publish its callback."""
    handle_step_event(event, "ms-transform")
