"""Cloud Function `file_import`: runs `ms-file-import` steps.

Load a CSV / CSV.GZ file into the warehouse raw layer.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-file-import` step message and publish its callback."""
    handle_step_event(event, "ms-file-import")
