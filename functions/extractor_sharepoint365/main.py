"""Cloud Function `extractor_sharepoint365`: runs `ms-extractor-sharepoint365` steps.

SharePoint (Microsoft Graph): list items and files.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-sharepoint365` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-sharepoint365")
