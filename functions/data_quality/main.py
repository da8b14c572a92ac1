"""Cloud Function `data_quality`: runs `ms-data-quality` steps.

Declarative data quality checks on a table or a step's rows, with a results table.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-data-quality` step message and publish its callback."""
    handle_step_event(event, "ms-data-quality")
