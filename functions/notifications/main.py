"""Cloud Function `notifications`: runs `ms-notifications` steps.

Email (Mailgun), Slack, signed webhooks and a local outbox.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-notifications` step message and publish its callback."""
    handle_step_event(event, "ms-notifications")
