"""Cloud Function `extractor_axional`: runs `ms-extractor-axional` steps.

Axional ERP: ledger entries, invoices, accounts.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-extractor-axional` step message and publish its callback."""
    handle_step_event(event, "ms-extractor-axional")
