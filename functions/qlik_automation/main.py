"""Cloud Function `qlik_automation`: runs `ms-qlik-automation` steps.

Run a Qlik automation with inputs and capture its result.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-qlik-automation` step message and publish its callback."""
    handle_step_event(event, "ms-qlik-automation")
