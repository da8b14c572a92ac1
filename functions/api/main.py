"""Cloud Function `api`: the HTTP API of the operations plane (`/api/v1`, OpenAPI document at
`/api/v1/openapi.json`). HTTP-triggered; only IAM invokers get in."""

from __future__ import annotations

from typing import Any

import functions_framework

from mhi.api.function import handle_request


@functions_framework.http
def handle(request: Any) -> Any:
    """Answer one API request."""
    return handle_request(request)
