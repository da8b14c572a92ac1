"""Cloud Function `qlik_app_reload`: runs `ms-qlik-app-reload` steps.

Reload Qlik apps and follow each reload to its end.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-qlik-app-reload` step message and publish its callback."""
    handle_step_event(event, "ms-qlik-app-reload")
