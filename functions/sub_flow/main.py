"""Cloud Function `sub_flow`: runs `ms-sub-flow` steps.

Run another stored flow as a child run, wait for it and return its outputs.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-sub-flow` step message and publish its callback."""
    handle_step_event(event, "ms-sub-flow")
