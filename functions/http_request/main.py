"""Cloud Function `http_request`: runs `ms-http-request` steps.

Call an HTTP API through the guarded outbound client; the response becomes the output.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-http-request` step message and publish its callback."""
    handle_step_event(event, "ms-http-request")
