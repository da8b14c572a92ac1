"""Cloud Function `sql`: runs `ms-sql` steps.

Run a parameterised SQL statement in the warehouse, into a table or as output.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-sql` step message and publish its callback."""
    handle_step_event(event, "ms-sql")
